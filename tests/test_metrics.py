"""Metrics with ambiguous decisions against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    multilabel_confusion_matrix,
    precision_score,
    recall_score,
    roc_auc_score,
)

from ccsnscore.evaluation.metrics import (
    binary_roc,
    class_metrics,
    confidence_cut_summary,
    confusion_with_ambiguous,
    overall_accuracy,
    phase_bin_labels,
    recall_by_phase,
    roc_at_thresholds,
    tns_breakdown,
    wilson_interval,
)
from ccsnscore.inference.decisions import AMBIGUOUS

LAYER1 = ["Hrich", "Hpoor"]
LAYER2A = ["II", "IIb-H", "IIn"]


@pytest.fixture
def no_ambiguous():
    """60 layer-2a rows with random, never ambiguous, decisions."""
    rng = np.random.default_rng(3)
    true = rng.choice(LAYER2A, 60)
    decision = np.where(rng.random(60) < 0.6, true, rng.choice(LAYER2A, 60))
    return true, decision


def test_class_metrics_match_sklearn_without_ambiguous(no_ambiguous):
    true, decision = no_ambiguous
    got = class_metrics(true, decision, LAYER2A)
    kw = dict(labels=LAYER2A, average=None, zero_division=np.nan)
    np.testing.assert_allclose(got["precision"], precision_score(true, decision, **kw))
    np.testing.assert_allclose(got["TPR"], recall_score(true, decision, **kw))
    np.testing.assert_allclose(got["F1"], f1_score(true, decision, **kw))
    mcm = multilabel_confusion_matrix(true, decision, labels=LAYER2A)  # [[TN, FP], [FN, TP]]
    np.testing.assert_array_equal(got[["TN", "FP", "FN", "TP"]].to_numpy(), mcm.reshape(3, 4))
    tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
    np.testing.assert_allclose(got["FPR"], fp / (fp + tn))
    np.testing.assert_allclose(got["accuracy"], (mcm[:, 0, 0] + mcm[:, 1, 1]) / 60)
    cm = confusion_with_ambiguous(true, decision, LAYER2A)
    np.testing.assert_array_equal(cm[LAYER2A].to_numpy(), confusion_matrix(true, decision, labels=LAYER2A))
    assert cm["Ambi"].sum() == 0 and list(cm.columns) == LAYER2A + ["Ambi"]
    assert overall_accuracy(true, decision, LAYER2A)["accuracy"] == pytest.approx(np.mean(true == decision))
    # intervals bracket the value
    for m in ("precision", "TPR", "FPR", "accuracy"):
        assert (got[f"{m}_lo"] <= got[m]).all() and (got[m] <= got[f"{m}_hi"]).all()


def test_ambiguous_counts_as_fn_for_positives_and_tn_for_negatives():
    true = ["Hrich"] * 5 + ["Hpoor"] * 4 + ["Ia"]  # Ia is not a layer-1 class: ignored
    decision = ["Hrich", "Hrich", "Hrich", "ambiguous", "Hpoor"] + ["Hpoor", "Hpoor", "ambiguous", "Hrich"] + ["Hrich"]
    cm = confusion_with_ambiguous(true, decision, LAYER1)
    assert cm.to_dict("index") == {
        "Hrich": {"Hrich": 3, "Hpoor": 1, "Ambi": 1},
        "Hpoor": {"Hrich": 1, "Hpoor": 2, "Ambi": 1},
    }
    got = class_metrics(true, decision, LAYER1)
    # Hrich: TP 3, FN 2 (one Hpoor call + one ambiguous), FP 1, TN 3 (2 Hpoor + 1 ambiguous)
    assert got.loc["Hrich", ["TP", "FN", "FP", "TN", "n", "n_ambiguous"]].tolist() == [3, 2, 1, 3, 9, 1]
    assert got.loc["Hrich", "TPR"] == pytest.approx(3 / 5)
    assert got.loc["Hrich", "FPR"] == pytest.approx(1 / 4)
    assert got.loc["Hrich", "precision"] == pytest.approx(3 / 4)
    assert got.loc["Hrich", "F1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert got.loc["Hrich", "accuracy"] == pytest.approx(6 / 9)
    # Hpoor: TP 2, FN 2 (one Hrich + one ambiguous), FP 1, TN 4 (3 Hrich + 1 ambiguous)
    assert got.loc["Hpoor", ["TP", "FN", "FP", "TN"]].tolist() == [2, 2, 1, 4]
    assert got.loc["Hpoor", "TPR"] == pytest.approx(0.5)
    assert got.loc["Hpoor", "FPR"] == pytest.approx(1 / 5)
    acc = overall_accuracy(true, decision, LAYER1)
    assert (acc["n"], acc["n_correct"], acc["n_ambiguous"]) == (9, 5, 2)
    assert acc["accuracy"] == pytest.approx(5 / 9)


def test_other_decisions_get_their_own_column():
    cm = confusion_with_ambiguous(["Hrich", "Hpoor"], ["Ia", None], LAYER1)
    assert cm.loc["Hrich", "Other"] == 1 and cm.loc["Hpoor", "Ambi"] == 1


def test_wilson_interval_known_values():
    lo, hi = wilson_interval([0, 5, 10], [10, 10, 10], level=0.95)
    # Wilson 95% for 5/10: 0.2366 - 0.7634; 0/10: 0 - 0.2775
    np.testing.assert_allclose(lo, [0.0, 0.2366, 0.7225], atol=1e-4)
    np.testing.assert_allclose(hi, [0.2775, 0.7634, 1.0], atol=1e-4)
    assert np.isnan(wilson_interval(0, 0)[0])


def test_binary_roc_and_threshold_roc():
    y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
    s = np.array([0.9, 0.8, 0.3, 0.4, 0.2, 0.1, np.nan, 0.7])
    fpr, tpr, auc = binary_roc(y, s)
    keep = ~np.isnan(s)
    assert auc == pytest.approx(roc_auc_score(y[keep], s[keep]))
    assert fpr[0] == 0 and tpr[-1] == 1
    assert np.isnan(binary_roc([1, 1], [0.2, 0.3])[2])
    rlap = np.array([12.0, 5.0, -np.inf, 3.0, -np.inf, -np.inf, np.nan, 8.0])  # -inf: not an H-rich match
    fpr_t, tpr_t = roc_at_thresholds(y, rlap, [0, 4, 10])
    np.testing.assert_allclose(tpr_t, [2 / 4, 2 / 4, 1 / 4])
    np.testing.assert_allclose(fpr_t, [2 / 4, 1 / 4, 0])


def test_confidence_cut_summary():
    true = ["Hrich", "Hrich", "Hpoor", "Hpoor", "Hpoor"]
    decision = ["Hrich", "Hpoor", "Hpoor", "ambiguous", "Hrich"]
    score = [0.95, 0.85, 0.79, 0.0, 0.99]
    std = [0.01, 0.01, 0.01, 0.0, 0.08]
    cut = confidence_cut_summary(true, decision, score, std, LAYER1, min_score=0.8, max_std=0.05)
    assert (cut.n_total, cut.n_pass) == (5, 2)
    assert cut.pass_fraction == pytest.approx(0.4) and cut.accuracy == pytest.approx(0.5)
    assert cut.confusion.loc["Hrich"].tolist() == [1, 1, 0] and cut.confusion.loc["Hpoor"].sum() == 0


def test_phase_bins():
    got = phase_bin_labels([-3, 0, 0.5, 10, 10.5, 50, 51, np.nan])
    assert got.tolist() == ["<=0", "<=0", "0-10", "0-10", "10-20", "20-50", ">50", "unknown"]
    assert phase_bin_labels([10, 11], edges=(10,)).tolist() == ["<=10", ">10"]


def test_recall_by_phase_counts_each_class_in_each_bin():
    true = ["A", "A", "A", "B", "B", "A"]
    decision = ["A", "B", AMBIGUOUS, "B", "A", "A"]
    phase = [-10.0, -8.0, 5.0, 5.0, np.nan, 40.0]
    table = recall_by_phase(true, decision, phase, ["A", "B"], edges=(-5.0, 10.0))
    rows = {(r.true_class, r.phase_bin): (r.n, r.n_correct) for r in table.itertuples()}
    assert rows == {
        ("A", "<=-5"): (2, 1),
        ("A", "-5-10"): (1, 0),
        ("A", ">10"): (1, 1),
        ("B", "-5-10"): (1, 1),
        ("B", "unknown"): (1, 0),
    }
    assert table["recall"].tolist() == [0.5, 0.0, 1.0, 1.0, 0.0]
    assert (table["recall_lo"] <= table["recall"]).all() and (table["recall"] <= table["recall_hi"]).all()


def test_tns_breakdown_counts():
    table = pd.DataFrame(
        {
            "phase": [5, 5, 5, 15, 15, np.nan, 5],
            "num_snid": [40, 40, 40, 40, 25, 40, np.nan],
            "true": ["Hrich", "Hrich", "Hpoor", "Hrich", "Hrich", "Hpoor", "Hrich"],
            "decision": ["Hrich", "Hrich", "Hrich", "Hpoor", "Hrich", "Hpoor", "Hrich"],
            "score": [0.9, 0.7, 0.9, 0.9, 0.85, 0.9, 0.99],
            "score_std": [0.01] * 7,
        }
    )
    got = tns_breakdown(table, classes=LAYER1, phase_edges=(10,)).set_index(["criterion", "phase_bin", "true_class"])
    row = got.loc[(1, "<=10", "Hrich")]
    # two true Hrich at <=10 d in tier 1, one reportable and right; one Hpoor reported as Hrich
    assert row[["n", "n_reportable", "n_correct", "n_reported_as"]].tolist() == [2, 1, 1, 2]
    assert row["TPR"] == pytest.approx(1.0) and row["precision"] == pytest.approx(0.5)
    assert got.loc[(1, ">10", "Hrich"), "TPR"] == pytest.approx(0.0)
    assert got.loc[(2, ">10", "Hrich"), "n_reportable"] == 0  # 0.85 < 0.9 in tier 2
    assert got.loc[(0, "<=10", "Hrich"), "n_reportable"] == 0  # NaN numSNID never reportable
    assert got.loc[(1, "unknown", "Hpoor"), "n_correct"] == 1
    assert got.loc[("all", "<=10", "Hrich"), "n"] == 3
    assert list(got.index.get_level_values(0).unique()) == [1, 2, 0, "all"]


def test_snid_scores_from_sedm_header():
    from ccsnscore.evaluation.snid import parse_snid_header, snid_scores, snid_table

    header = {
        "SNIDMATCHTYPE": "Ic",
        "SNIDMATCHSUBTYPE": "broad",
        "SNIDMATCHRLAP": "8.97",
        "SNIDFRAC_IA": "0.5",
        "SNIDFRAC_IB": "0.1",
        "SNIDFRAC_IC": "0.3",
        "SNIDFRAC_II": "0.1",
        "SNIDFRAC_NOTSN": "0.0",
        "QUALITY": "1",
    }
    got = snid_scores(header)
    assert got["Hrich"] == pytest.approx(0.2) and got["Hpoor"] == pytest.approx(0.8)
    assert got["Hrich_frac"] == pytest.approx(0.1) and got["Hpoor_frac"] == pytest.approx(0.4)
    assert got["Ia"] == pytest.approx(0.5) and got["nonIa"] == pytest.approx(0.5)
    assert got["Hpoor_rlap"] == pytest.approx(8.97) and got["Ic-BL_rlap"] == pytest.approx(8.97)
    assert got["Hrich_rlap"] == -np.inf and got["Ic_rlap"] == -np.inf
    assert (got["match_layer1"], got["match_layer2"]) == ("Hpoor", "Ic-BL")
    # no CC match: both layer-1 scores 0; missing keys: NaN; no SNID at all: NaN and no match
    no_cc = snid_scores({**header, "SNIDFRAC_IB": "0", "SNIDFRAC_IC": "0", "SNIDFRAC_II": "0"})
    assert no_cc["Hrich"] == 0.0 and no_cc["Hpoor"] == 0.0
    assert np.isnan(snid_scores({"SNIDFRAC_II": "0.2"})["Hrich"])
    empty = parse_snid_header({"SNIDMATCHTYPE": "NONE", "SNIDMATCHRLAP": "n/a"})
    assert empty["match_type"] == "" and np.isnan(empty["match_rlap"]) and np.isnan(empty["frac_II"])
    table = snid_table([header, {}], index=["a", "b"])
    assert table.loc["a", "Hpoor"] == pytest.approx(0.8) and np.isnan(table.loc["b", "Hrich"])
