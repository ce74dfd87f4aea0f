"""Decision rule (paper section 4), hierarchy routing and TNS criteria (section 6) on hand-made rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ccsnscore.inference.decisions import (
    AMBIGUOUS,
    Hierarchy,
    decide,
    decide_hierarchy,
    passes_confidence,
    tns_criterion,
    tns_reportable,
)

HIERARCHY = Hierarchy("layer0", {"layer0": {"nonIa": "layer1"}, "layer1": {"Hrich": "layer2a", "Hpoor": "layer2b"}})
LAYERS = {
    "layer0": ["Ia", "nonIa"],
    "layer1": ["Hrich", "Hpoor"],
    "layer2a": ["II", "IIb-H", "IIn"],
    "layer2b": ["Ib", "Ic", "Ic-BL"],
}


def table(**columns) -> pd.DataFrame:
    """Score table from ``cls=[(mean, std), ...]`` keyword lists."""
    data = {}
    for cls, pairs in columns.items():
        cls = cls.replace("_", "-")
        data[cls] = [m for m, _ in pairs]
        data[f"{cls}_std"] = [s for _, s in pairs]
    n = len(next(iter(data.values())))
    return pd.DataFrame({"name": [f"ZTF{i}" for i in range(n)], "specfilename": [f"s{i}" for i in range(n)], **data})


def test_two_classes_clear_win_and_tie_within_uncertainties():
    scores = table(
        Hrich=[(0.90, 0.02), (0.55, 0.05), (0.10, 0.01), (0.50, 0.0)],
        Hpoor=[(0.10, 0.02), (0.45, 0.06), (0.85, 0.03), (0.50, 0.0)],
    )
    out = decide(scores, ["Hrich", "Hpoor"])
    assert out["decision"].tolist() == ["Hrich", AMBIGUOUS, "Hpoor", AMBIGUOUS]
    # ambiguous rows carry no score that a threshold could pass
    assert out["score"].tolist() == pytest.approx([0.90, np.nan, 0.85, np.nan], nan_ok=True)
    assert out["score_std"].tolist() == pytest.approx([0.02, np.nan, 0.03, np.nan], nan_ok=True)
    assert out["ambiguous"].tolist() == [False, True, False, True]
    assert out["name"].tolist() == scores["name"].tolist()
    assert out.index.equals(scores.index)


def test_margin_must_exceed_summed_std_strictly():
    # 0.75 - 0.25 = 0.5 exactly equals 0.25 + 0.25 (exact in binary): not more -> ambiguous.
    scores = table(Hrich=[(0.75, 0.25)], Hpoor=[(0.25, 0.25)])
    assert decide(scores, ["Hrich", "Hpoor"])["decision"].iloc[0] == AMBIGUOUS


def test_three_classes_clear_winner_and_overlapping_top_two():
    scores = table(
        II=[(0.80, 0.05), (0.60, 0.05), (0.05, 0.01)],
        IIb_H=[(0.30, 0.05), (0.55, 0.05), (0.10, 0.01)],
        IIn=[(0.10, 0.05), (0.05, 0.01), (0.70, 0.02)],
    )
    out = decide(scores, ["II", "IIb-H", "IIn"])
    assert out["decision"].tolist() == ["II", AMBIGUOUS, "IIn"]
    assert out["score"].tolist() == pytest.approx([0.80, np.nan, 0.70], nan_ok=True)
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
        Ic_BL=[(0.10, 0.01), (0.85, 0.01), (0.10, 0.01), (0.10, 0.01), (0.10, 0.01)],
    )


def test_hierarchy_routes_layer1_to_its_sublayer():
    out = decide_hierarchy(hierarchy_table(), LAYERS, HIERARCHY)
    # the final decision is the deepest decided class: the gate's when layer 1 is ambiguous
    assert out["decision"].tolist() == ["IIn", "Ic-BL", "nonIa", "Hrich", "Ia"]
    assert out["path"].tolist() == [
        "layer0:nonIa>layer1:Hrich>layer2a:IIn",
        "layer0:nonIa>layer1:Hpoor>layer2b:Ic-BL",
        "layer0:nonIa>layer1:ambiguous",
        "layer0:nonIa>layer1:Hrich>layer2a:ambiguous",
        "layer0:Ia",
    ]
    assert out["layer1_decision"].tolist() == ["Hrich", "Hpoor", AMBIGUOUS, "Hrich", ""]
    # a branch not taken is blank: no layer 2a decision or score for the H-poor row
    assert out["layer2a_decision"].tolist() == ["IIn", "", "", AMBIGUOUS, ""]
    assert out["layer2b_decision"].tolist() == ["", "Ic-BL", "", "", ""]
    # ambiguous layer 1 -> layer 2 not run, even though the II classifier alone is confident
    assert np.isnan(out["layer2a_score"].iloc[2]) and np.isnan(out["layer2b_score"].iloc[2])
    # final score is that of the deepest decided step
    assert out["score"].tolist() == pytest.approx([0.80, 0.85, 0.95, 0.85, 0.95])
    assert out["score_std"].tolist() == pytest.approx([0.01, 0.01, 0.01, 0.02, 0.01])


def test_ambiguous_gate_stops_the_row():
    scores = hierarchy_table()
    scores.loc[0, ["Ia", "nonIa"]] = [0.5, 0.5]
    out = decide_hierarchy(scores, LAYERS, HIERARCHY)
    assert out["decision"].iloc[0] == AMBIGUOUS and out["path"].iloc[0] == "layer0:ambiguous"
    assert out["layer1_decision"].iloc[0] == ""


def test_hierarchy_without_the_gate_starts_at_its_child():
    scores = hierarchy_table()
    no_layer0 = {k: v for k, v in LAYERS.items() if k != "layer0"}
    out = decide_hierarchy(scores.drop(columns=["Ia", "Ia_std", "nonIa", "nonIa_std"]), no_layer0, HIERARCHY)
    assert "layer0_decision" not in out.columns
    # the Ia-gated row now gets a CC type
    assert out["decision"].tolist() == ["IIn", "Ic-BL", AMBIGUOUS, "Hrich", "II"]
    assert out["path"].iloc[0] == "layer0:no models>layer1:Hrich>layer2a:IIn"


def test_hierarchy_skips_layers_with_missing_columns_or_models():
    scores = hierarchy_table().drop(columns=["IIn_std"])
    out = decide_hierarchy(scores, LAYERS, HIERARCHY)
    assert out["decision"].tolist()[:2] == ["Hrich", "Ic-BL"]
    assert out["path"].iloc[0] == "layer0:nonIa>layer1:Hrich>layer2a:skipped(missing IIn_std)"
    out = decide_hierarchy(hierarchy_table().drop(columns=["Hpoor"]), LAYERS, HIERARCHY)
    assert out["decision"].tolist() == ["nonIa"] * 4 + ["Ia"]
    assert out["path"].iloc[0] == "layer0:nonIa>layer1:skipped(missing Hpoor)"
    only_1 = {k: v for k, v in LAYERS.items() if k in ("layer0", "layer1")}
    out = decide_hierarchy(hierarchy_table(), only_1, HIERARCHY)
    assert out["decision"].tolist() == ["Hrich", "Hpoor", "nonIa", "Hrich", "Ia"]
    assert out["path"].iloc[0] == "layer0:nonIa>layer1:Hrich>layer2a:skipped(no models)"


def test_hierarchy_from_config_orders_layers():
    h = Hierarchy.from_config(
        {"root": "layer0", "routes": {"layer0": {"CC": "layer1"}, "layer1": {"Hrich": "layer2a", "Hpoor": "layer2b"}}}
    )
    assert h.layers() == ["layer0", "layer1", "layer2a", "layer2b"]
    assert Hierarchy.from_config(h.to_dict()) == h
    assert h.entry(["layer1", "layer2a"]) == ("layer1", ["layer0"])
    assert h.entry(["layer2a"]) == (None, ["layer0", "layer1"])


def test_passes_confidence_is_strict_and_nan_safe():
    got = passes_confidence([0.81, 0.80, 0.90, np.nan, 0.99], [0.01, 0.01, 0.05, 0.01, np.nan])
    assert got.tolist() == [True, False, False, False, False]


@pytest.mark.parametrize(
    "num_snid, score, std, expected",
    [
        (30, 0.801, 0.049, True),
        (30, 0.80, 0.01, False),
        (30, 0.99, 0.05, False),
        (29, 0.85, 0.01, False),
        (29, 0.901, 0.01, True),
        (20, 0.901, 0.01, True),
        (20, 0.90, 0.01, False),
        (19, 0.94, 0.01, False),
        (19, 0.951, 0.01, True),
        (0, 0.96, 0.01, True),
        (np.nan, 0.99, 0.001, False),
    ],
)
def test_tns_criteria_boundaries(num_snid, score, std, expected):
    assert bool(tns_reportable(score, std, num_snid)) is expected


def test_tns_vectorised_and_tiers():
    num_snid = np.array([45, 25, 3, np.nan])
    assert tns_criterion(num_snid).tolist() == [1, 2, 3, 0]
    got = tns_reportable(pd.Series([0.85, 0.85, 0.97, 0.97]), np.full(4, 0.01), num_snid)
    assert got.tolist() == [True, False, True, False]
