"""Decision rule (paper section 4), hierarchy routing and TNS criteria (section 6) on hand-made rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ccsnscore.decisions import (AMBIGUOUS, decide, decide_hierarchy, passes_confidence,
                                 tns_criterion, tns_reportable)


def table(**columns) -> pd.DataFrame:
    """Score table from ``cls=[(mean, std), ...]`` keyword lists."""
    data = {}
    for cls, pairs in columns.items():
        cls = cls.replace("_", "-")
        data[cls] = [m for m, _ in pairs]
        data[f"{cls}_std"] = [s for _, s in pairs]
    n = len(next(iter(data.values())))
    return pd.DataFrame({"name": [f"ZTF{i}" for i in range(n)], "specfilename": [f"s{i}" for i in range(n)],
                         **data})


def test_two_classes_clear_win_and_tie_within_uncertainties():
    scores = table(Hrich=[(0.90, 0.02), (0.55, 0.05), (0.10, 0.01), (0.50, 0.0)],
                   Hpoor=[(0.10, 0.02), (0.45, 0.06), (0.85, 0.03), (0.50, 0.0)])
    out = decide(scores, ["Hrich", "Hpoor"])
    assert out["decision"].tolist() == ["Hrich", AMBIGUOUS, "Hpoor", AMBIGUOUS]
    assert out["score"].tolist() == pytest.approx([0.90, 0.0, 0.85, 0.0])
    assert out["score_std"].tolist() == pytest.approx([0.02, 0.0, 0.03, 0.0])
    assert out["ambiguous"].tolist() == [False, True, False, True]
    assert out["name"].tolist() == scores["name"].tolist()
    assert out.index.equals(scores.index)


def test_margin_must_exceed_summed_std_strictly():
    # 0.75 - 0.25 = 0.5 exactly equals 0.25 + 0.25 (exact in binary): not more -> ambiguous.
    scores = table(Hrich=[(0.75, 0.25)], Hpoor=[(0.25, 0.25)])
    assert decide(scores, ["Hrich", "Hpoor"])["decision"].iloc[0] == AMBIGUOUS


def test_three_classes_clear_winner_and_overlapping_top_two():
    scores = table(II=[(0.80, 0.05), (0.60, 0.05), (0.05, 0.01)],
                   IIb_H=[(0.30, 0.05), (0.55, 0.05), (0.10, 0.01)],
                   IIn=[(0.10, 0.05), (0.05, 0.01), (0.70, 0.02)])
    out = decide(scores, ["II", "IIb-H", "IIn"])
    assert out["decision"].tolist() == ["II", AMBIGUOUS, "IIn"]
    assert out["score"].tolist() == pytest.approx([0.80, 0.0, 0.70])
    assert out["top_class"].tolist() == ["II", "II", "IIn"]
    # the third classifier does not matter: only top vs second is compared
    assert out["margin"].tolist() == pytest.approx([0.5, 0.05, 0.6])


def test_nan_scores_are_ambiguous_and_missing_columns_raise():
    scores = table(Hrich=[(np.nan, 0.01)], Hpoor=[(0.1, 0.01)])
    assert decide(scores, ["Hrich", "Hpoor"])["decision"].iloc[0] == AMBIGUOUS
    with pytest.raises(KeyError, match="Ic_std"):
        decide(scores.assign(Ic=0.5), ["Hrich", "Ic"])
    with pytest.raises(ValueError):
        decide(scores, ["Hrich"])


def hierarchy_table() -> pd.DataFrame:
    """Rows: Hrich->IIn, Hpoor->Ic-BL, ambiguous layer 1, Hrich with ambiguous layer 2a, Ia gate."""
    return table(
        Ia=[(0.05, 0.01), (0.05, 0.01), (0.05, 0.01), (0.05, 0.01), (0.95, 0.01)],
        nonIa=[(0.95, 0.01), (0.95, 0.01), (0.95, 0.01), (0.95, 0.01), (0.05, 0.01)],
        Hrich=[(0.90, 0.02), (0.10, 0.02), (0.52, 0.05), (0.85, 0.02), (0.60, 0.01)],
        Hpoor=[(0.10, 0.02), (0.90, 0.02), (0.48, 0.05), (0.15, 0.02), (0.40, 0.01)],
        II=[(0.10, 0.01), (0.90, 0.01), (0.90, 0.01), (0.50, 0.05), (0.90, 0.01)],
        IIb_H=[(0.10, 0.01), (0.10, 0.01), (0.10, 0.01), (0.45, 0.05), (0.10, 0.01)],
        IIn=[(0.80, 0.01), (0.10, 0.01), (0.10, 0.01), (0.10, 0.01), (0.10, 0.01)],
        Ib=[(0.90, 0.01), (0.10, 0.01), (0.90, 0.01), (0.90, 0.01), (0.90, 0.01)],
        Ic=[(0.10, 0.01), (0.30, 0.01), (0.10, 0.01), (0.10, 0.01), (0.10, 0.01)],
        Ic_BL=[(0.10, 0.01), (0.85, 0.01), (0.10, 0.01), (0.10, 0.01), (0.10, 0.01)])


def test_hierarchy_routes_layer1_to_its_sublayer():
    out = decide_hierarchy(hierarchy_table())
    assert out["decision"].tolist() == ["IIn", "Ic-BL", AMBIGUOUS, "Hrich", "Ia"]
    assert out["path"].tolist() == [
        "layer0:nonIa>layer1:Hrich>layer2a:IIn",
        "layer0:nonIa>layer1:Hpoor>layer2b:Ic-BL",
        "layer0:nonIa>layer1:ambiguous",
        "layer0:nonIa>layer1:Hrich>layer2a:ambiguous",
        "layer0:Ia",
    ]
    assert out["layer1_decision"].tolist() == ["Hrich", "Hpoor", AMBIGUOUS, "Hrich", ""]
    assert out["layer2"].tolist() == ["layer2a", "layer2b", "", "layer2a", ""]
    # ambiguous layer 1 -> layer 2 not run, even though the II classifier alone is confident
    assert out["layer2_decision"].iloc[2] == "" and np.isnan(out["layer2_score"].iloc[2])
    # final score is that of the deepest decided step
    assert out["score"].tolist() == pytest.approx([0.80, 0.85, 0.0, 0.85, 0.95])
    assert out["score_std"].tolist() == pytest.approx([0.01, 0.01, 0.0, 0.02, 0.01])


def test_hierarchy_without_layer0_columns_or_with_layer0_off():
    scores = hierarchy_table()
    no_layer0 = scores.drop(columns=["Ia", "Ia_std", "nonIa", "nonIa_std"])
    for out in (decide_hierarchy(no_layer0), decide_hierarchy(scores, layer0=[])):
        assert "layer0_decision" not in out.columns
        # the Ia-gated row now gets a CC type
        assert out["decision"].tolist() == ["IIn", "Ic-BL", AMBIGUOUS, "Hrich", "II"]
        assert out["path"].iloc[0] == "layer1:Hrich>layer2a:IIn"


def test_hierarchy_skips_layers_with_missing_columns():
    scores = hierarchy_table().drop(columns=["IIn_std"])
    out = decide_hierarchy(scores)
    assert out["decision"].tolist()[:2] == ["Hrich", "Ic-BL"]
    assert out["path"].iloc[0] == "layer0:nonIa>layer1:Hrich>layer2a:skipped(missing IIn_std)"
    no_layer1 = hierarchy_table().drop(columns=["Hpoor"])
    out = decide_hierarchy(no_layer1)
    assert out["decision"].tolist() == [AMBIGUOUS] * 4 + ["Ia"]
    assert out["path"].iloc[0] == "layer0:nonIa>layer1:skipped(missing Hpoor)"


def test_passes_confidence_is_strict_and_nan_safe():
    got = passes_confidence([0.81, 0.80, 0.90, np.nan, 0.99], [0.01, 0.01, 0.05, 0.01, np.nan])
    assert got.tolist() == [True, False, False, False, False]


@pytest.mark.parametrize("num_snid, score, std, expected", [
    (30, 0.801, 0.049, True), (30, 0.80, 0.01, False), (30, 0.99, 0.05, False),
    (29, 0.85, 0.01, False), (29, 0.901, 0.01, True), (20, 0.901, 0.01, True), (20, 0.90, 0.01, False),
    (19, 0.94, 0.01, False), (19, 0.951, 0.01, True), (0, 0.96, 0.01, True),
    (np.nan, 0.99, 0.001, False),
])
def test_tns_criteria_boundaries(num_snid, score, std, expected):
    assert bool(tns_reportable(score, std, num_snid)) is expected


def test_tns_vectorised_and_tiers():
    num_snid = np.array([45, 25, 3, np.nan])
    assert tns_criterion(num_snid).tolist() == [1, 2, 3, 0]
    got = tns_reportable(pd.Series([0.85, 0.85, 0.97, 0.97]), np.full(4, 0.01), num_snid)
    assert got.tolist() == [True, False, True, False]
