"""Evaluation metrics with ambiguous decisions (paper section 5, tables 3-4, figures 4-5).

Conventions used throughout (paper eq. 1 and the sentence after it). For class ``c`` among
``classes`` and the rows whose true class is in ``classes``:

- ``TP``: true ``c``, decided ``c``;
- ``FN``: true ``c``, decided anything else, *including ambiguous* (a positive that was called
  ambiguous is a miss);
- ``FP``: true not ``c``, decided ``c``;
- ``TN``: true not ``c``, decided anything else, *including ambiguous* (a negative called ambiguous
  is not a false positive).

Then ``precision = TP/(TP+FP)``, ``TPR = TP/(TP+FN)``, ``FPR = FP/(FP+TN)``,
``F1 = 2 precision TPR/(precision + TPR) = 2TP/(2TP+FP+FN)`` and the one-vs-rest
``accuracy = (TP+TN)/n``. The overall accuracy printed under the paper's confusion matrices is
:func:`overall_accuracy`: correct decisions over all rows, ambiguous rows counting as wrong.
Undefined ratios (zero denominator) are NaN. Uncertainties are Wilson score intervals at 68%
(``<metric>_lo``, ``<metric>_hi``: the interval bounds, not offsets). F1 is not a binomial
proportion, so it has no interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from ccsnscore.inference.decisions import (
    AMBIGUOUS,
    CONFIDENT_MAX_STD,
    CONFIDENT_MIN_SCORE,
    passes_confidence,
    tns_criterion,
    tns_reportable,
)

AMBI_COLUMN = "Ambi"
OTHER_COLUMN = "Other"
CONFIDENCE_LEVEL = 0.68
DEFAULT_PHASE_EDGES = (0.0, 10.0, 20.0, 50.0)
"""Phase bin edges in days from maximum: ``<=0, 0-10, 10-20, 20-50, >50`` (right-closed)."""


def wilson_interval(successes, trials, level: float = CONFIDENCE_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(lo, hi)`` of a binomial proportion
    (:func:`astropy.stats.binom_conf_interval`); NaN where ``trials == 0``."""
    from astropy.stats import binom_conf_interval

    k = np.atleast_1d(np.asarray(successes, dtype=float))
    n = np.atleast_1d(np.asarray(trials, dtype=float))
    k, n = np.broadcast_arrays(k, n)
    lo, hi = np.full(k.shape, np.nan), np.full(k.shape, np.nan)
    some = n > 0
    if some.any():
        lo[some], hi[some] = binom_conf_interval(
            k[some].astype(int), n[some].astype(int), confidence_level=level, interval="wilson"
        )
    if np.ndim(successes) == 0 and np.ndim(trials) == 0:
        return lo[0], hi[0]
    return lo, hi


def _ratio(num, den) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _labels(true, decision, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose true class is in ``classes``, as object arrays ``(true, decision)``."""
    true = pd.Series(np.asarray(true, dtype=object))
    decision = pd.Series(np.asarray(decision, dtype=object))
    if len(true) != len(decision):
        raise ValueError(f"true ({len(true)}) and decision ({len(decision)}) differ in length")
    keep = true.isin(list(classes)).to_numpy()
    return true.to_numpy()[keep], decision.fillna(AMBIGUOUS).to_numpy()[keep]


def confusion_with_ambiguous(true, decision, classes: Sequence[str]) -> pd.DataFrame:
    """Counts (figure 5a): rows are true classes, columns ``classes + ["Ambi"]``.

    Only rows whose true class is in ``classes`` are counted. Decisions ``"ambiguous"`` (or
    missing) go to ``Ambi``; if some decisions are neither a class nor ambiguous (e.g. ``"Ia"`` from
    layer 0 when scoring layer 1), an ``Other`` column is added so that every row is counted.
    """
    classes = list(classes)
    true, decision = _labels(true, decision, classes)
    column = np.where(
        np.isin(decision, classes), decision, np.where(decision == AMBIGUOUS, AMBI_COLUMN, OTHER_COLUMN)
    ).astype(object)
    columns = classes + [AMBI_COLUMN]
    if (column == OTHER_COLUMN).any():
        columns.append(OTHER_COLUMN)
    true_idx = pd.Index(classes).get_indexer(true)
    col_idx = pd.Index(columns).get_indexer(column)
    flat = np.bincount(true_idx * len(columns) + col_idx, minlength=len(classes) * len(columns))
    counts = pd.DataFrame(flat.reshape(len(classes), len(columns)), index=classes, columns=columns)
    counts.index.name, counts.columns.name = "true", "decision"
    return counts


def overall_accuracy(true, decision, classes: Sequence[str]) -> dict:
    """Correct decisions over rows with a true class in ``classes`` (ambiguous counts as wrong).

    Returns ``n``, ``n_correct``, ``n_ambiguous``, ``accuracy`` with ``accuracy_lo``/``_hi``, and
    ``ambiguous_fraction``.
    """
    true, decision = _labels(true, decision, classes)
    n, n_correct = len(true), int((true == decision).sum())
    lo, hi = wilson_interval(n_correct, n)
    n_ambiguous = int((decision == AMBIGUOUS).sum())
    return {
        "n": n,
        "n_correct": n_correct,
        "n_ambiguous": n_ambiguous,
        "accuracy": float(_ratio(n_correct, n)),
        "accuracy_lo": float(lo),
        "accuracy_hi": float(hi),
        "ambiguous_fraction": float(_ratio(n_ambiguous, n)),
    }


def class_metrics(true, decision, classes: Sequence[str]) -> pd.DataFrame:
    """One-vs-rest metrics per class (paper table 3), ambiguous as FN for TPR and TN for FPR.

    Index: ``classes``. Columns: ``n``, ``TP``, ``FP``, ``FN``, ``TN``, ``n_ambiguous`` (of the
    positives), ``F1``, ``precision``, ``TPR``, ``FPR``, ``accuracy`` and Wilson 68% bounds
    ``precision_lo``/``_hi``, ``TPR_lo``/``_hi``, ``FPR_lo``/``_hi``, ``accuracy_lo``/``_hi``.
    See the module docstring for the exact definitions.
    """
    classes = list(classes)
    true, decision = _labels(true, decision, classes)
    cls = np.asarray(classes, dtype=object)[:, None]  # (k, 1)
    positive, called = true[None, :] == cls, decision[None, :] == cls  # (k, n)
    tp = (positive & called).sum(axis=1)
    fn = (positive & ~called).sum(axis=1)
    fp = (~positive & called).sum(axis=1)
    tn = (~positive & ~called).sum(axis=1)
    n = np.full(len(classes), len(true))
    out = pd.DataFrame(
        {
            "n": n,
            "TP": tp,
            "FP": fp,
            "FN": fn,
            "TN": tn,
            "n_ambiguous": (positive & (decision == AMBIGUOUS)[None, :]).sum(axis=1),
        },
        index=pd.Index(classes, name="class"),
    )
    out["F1"] = _ratio(2 * tp, 2 * tp + fp + fn)
    for metric, k, trials in (
        ("precision", tp, tp + fp),
        ("TPR", tp, tp + fn),
        ("FPR", fp, fp + tn),
        ("accuracy", tp + tn, n),
    ):
        out[metric] = _ratio(k, trials)
        out[f"{metric}_lo"], out[f"{metric}_hi"] = wilson_interval(k, trials)
    return out


def binary_roc(y_true, score) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC of one binary classifier: ``(fpr, tpr, auc)`` via scikit-learn.

    ``y_true`` is 1/True for positives; rows with a NaN score or label are dropped. With only one
    class present the curve is undefined: empty arrays and ``auc = nan``.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    y_true = np.asarray(y_true, dtype=float)
    score = np.asarray(score, dtype=float)
    keep = np.isfinite(y_true) & np.isfinite(score)
    y_true, score = y_true[keep].astype(int), score[keep]
    if len(np.unique(y_true)) < 2:
        return np.array([]), np.array([]), float("nan")
    fpr, tpr, _ = roc_curve(y_true, score)
    return fpr, tpr, float(roc_auc_score(y_true, score))


def roc_at_thresholds(y_true, score, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` at given thresholds (positive where ``score >= threshold``), vectorised.

    For the SNID ROC of appendix A: ``score`` = rlap where SNID's type is the positive class (else
    -inf), thresholds ``np.arange(0, 26)``. Rows with a NaN label are dropped; NaN scores are
    never positive.
    """
    y_true = np.asarray(y_true, dtype=float)
    score = np.asarray(score, dtype=float)
    keep = np.isfinite(y_true)
    y_true, score = y_true[keep].astype(bool), score[keep]
    called = score[None, :] >= np.asarray(thresholds, dtype=float)[:, None]  # (t, n)
    tpr = _ratio((called & y_true).sum(axis=1), y_true.sum())
    fpr = _ratio((called & ~y_true).sum(axis=1), (~y_true).sum())
    return fpr, tpr


class CutSummary(NamedTuple):
    """Figure 5b: confusion matrix of the rows that pass a confidence cut."""

    confusion: pd.DataFrame
    n_total: int
    n_pass: int
    pass_fraction: float
    accuracy: float
    """Correct over passing rows."""


def confidence_cut_summary(
    true, decision, score, score_std, classes: Sequence[str], min_score=CONFIDENT_MIN_SCORE, max_std=CONFIDENT_MAX_STD
) -> CutSummary:
    """Keep rows with ``score > min_score`` and ``score_std < max_std``; confusion matrix and pass rate.

    Ambiguous rows have score 0 and never pass. Fractions are over rows with a true class in
    ``classes``. Thresholds may be arrays (e.g. stricter for bronze rows).
    """
    classes = list(classes)
    passed = passes_confidence(score, score_std, min_score=min_score, max_std=max_std)
    in_classes = pd.Series(np.asarray(true, dtype=object)).isin(classes).to_numpy()
    true_arr, dec_arr = np.asarray(true, dtype=object), np.asarray(decision, dtype=object)
    confusion = confusion_with_ambiguous(true_arr[passed], dec_arr[passed], classes)
    n_total, n_pass = int(in_classes.sum()), int((passed & in_classes).sum())
    n_correct = int(np.trace(confusion[classes].to_numpy()))
    return CutSummary(confusion, n_total, n_pass, float(_ratio(n_pass, n_total)), float(_ratio(n_correct, n_pass)))


def _phase_labels(edges: Sequence[float]) -> list[str]:
    fmt = [f"{float(e):g}" for e in edges]
    return [f"<={fmt[0]}"] + [f"{a}-{b}" for a, b in zip(fmt[:-1], fmt[1:])] + [f">{fmt[-1]}", "unknown"]


def phase_bin_labels(phase, edges: Sequence[float] = DEFAULT_PHASE_EDGES) -> np.ndarray:
    """Phase (days from maximum) to right-closed bin labels ``"<=0"``, ``"0-10"``, ..., ``">50"``;
    NaN -> ``"unknown"``. ``edges`` must increase."""
    phase = np.asarray(phase, dtype=float)
    labels = np.array(_phase_labels(edges), dtype=object)
    idx = np.searchsorted(np.asarray(edges, dtype=float), phase, side="left")  # phase <= edges[i] -> i
    return np.where(np.isnan(phase), "unknown", labels[np.minimum(idx, len(edges))]).astype(object)


def recall_by_phase(
    true, decision, phase, classes: Sequence[str], edges: Sequence[float] = DEFAULT_PHASE_EDGES
) -> pd.DataFrame:
    """Recall of each true class in each phase bin (:func:`phase_bin_labels`; ambiguous counts as
    wrong): one row per (``true_class``, ``phase_bin``) with spectra, with ``n``, ``n_correct``,
    ``recall`` and its Wilson 68% bounds ``recall_lo``/``recall_hi``."""
    true, decision = np.asarray(true, dtype=object), np.asarray(decision, dtype=object)
    bins = phase_bin_labels(phase, edges)
    rows = []
    for cls in classes:
        for label in _phase_labels(edges):
            chosen = (true == cls) & (bins == label)
            if chosen.any():
                rows.append(
                    {
                        "true_class": cls,
                        "phase_bin": label,
                        "n": int(chosen.sum()),
                        "n_correct": int((chosen & (decision == cls)).sum()),
                    }
                )
    table = pd.DataFrame(rows, columns=["true_class", "phase_bin", "n", "n_correct"])
    table["recall"] = _ratio(table["n_correct"], table["n"])
    table["recall_lo"], table["recall_hi"] = wilson_interval(table["n_correct"], table["n"])
    return table


def tns_breakdown(
    table: pd.DataFrame, classes: Sequence[str] | None = None, phase_edges: Sequence[float] = DEFAULT_PHASE_EDGES
) -> pd.DataFrame:
    """Table 4: TNS-reportable counts, TPR and precision by criterion tier, true class and phase bin.

    ``table`` has columns ``phase`` (days), ``num_snid``, ``true``, ``decision``, ``score``,
    ``score_std``. Tiers are those of :func:`ccsnscore.inference.decisions.tns_criterion` (1: numSNID >= 30,
    2: 20-29, 3: < 20, 0: numSNID unknown, never reportable), plus ``"all"``. Phase bins come from
    :func:`phase_bin_labels` (use ``phase_edges=(10,)`` for the paper's <=10 d / >10 d).

    One row per (``criterion``, ``phase_bin``, ``true_class``) with: ``n`` (spectra of that true
    class), ``n_reportable`` (of those, passing the criteria), ``n_correct`` (reportable and
    decided right), ``n_reported_as`` (reportable spectra of any true class decided as
    ``true_class``), ``TPR = n_correct/n_reportable`` and ``precision = n_correct/n_reported_as``
    as in table 4, each with Wilson 68% bounds, and ``reportable_fraction = n_reportable/n``.
    """
    classes = sorted(table["true"].dropna().unique()) if classes is None else list(classes)
    reportable = tns_reportable(table["score"], table["score_std"], table["num_snid"])
    tier = tns_criterion(table["num_snid"]).astype(object)
    phase_bin = phase_bin_labels(table["phase"], phase_edges)
    true = table["true"].to_numpy(dtype=object)
    decision = table["decision"].to_numpy(dtype=object)
    frames = []
    for cls in classes:
        frames.append(
            pd.DataFrame(
                {
                    "criterion": tier,
                    "phase_bin": phase_bin,
                    "true_class": cls,
                    "n": true == cls,
                    "n_reportable": reportable & (true == cls),
                    "n_correct": reportable & (true == cls) & (decision == cls),
                    "n_reported_as": reportable & (decision == cls) & np.isin(true, classes),
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    rows = pd.concat([rows, rows.assign(criterion="all")], ignore_index=True)
    counts = rows.groupby(["criterion", "phase_bin", "true_class"], sort=False).sum().astype(int)
    counts = counts[counts["n"] + counts["n_reported_as"] > 0].reset_index()
    counts["reportable_fraction"] = _ratio(counts["n_reportable"], counts["n"])
    for metric, den in (("TPR", "n_reportable"), ("precision", "n_reported_as")):
        counts[metric] = _ratio(counts["n_correct"], counts[den])
        counts[f"{metric}_lo"], counts[f"{metric}_hi"] = wilson_interval(counts["n_correct"], counts[den])
    rank = lambda col, values: counts[col].map({v: i for i, v in enumerate(values)})  # noqa: E731
    key = (
        rank("criterion", [1, 2, 3, 0, "all"]) * 10_000
        + rank("true_class", classes) * 100
        + rank("phase_bin", _phase_labels(phase_edges))
    )
    return counts.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def layer_summary(
    true,
    scores: pd.DataFrame,
    classes: Sequence[str],
    min_score: float = CONFIDENT_MIN_SCORE,
    max_std: float = CONFIDENT_MAX_STD,
) -> dict:
    """Headline figures of one layer from a score table (``<cls>`` and ``<cls>_std`` columns).

    Decides each row with :func:`ccsnscore.inference.decisions.decide` and returns ``n``, ``accuracy``
    (ambiguous counts as wrong), ``ambiguous_fraction``, ``auc_<cls>`` (one-vs-rest ROC AUC of each
    class's mean score), ``macro_auc``, ``confident_fraction`` (rows with ``score > min_score`` and
    ``score_std < max_std``) and ``confident_accuracy``. Rows whose true class is not in
    ``classes`` are left out. With all ``_std`` zero (eval mode) nothing is ambiguous but ties.
    """
    from ccsnscore.inference.decisions import decide

    classes = list(classes)
    true = np.asarray(true, dtype=object)
    keep = pd.Series(true).isin(classes).to_numpy()
    scores, true = scores.loc[keep], true[keep]
    decided = decide(scores, classes)
    summary = overall_accuracy(true, decided["decision"].to_numpy(), classes)
    aucs = {f"auc_{c}": binary_roc(true == c, scores[c].to_numpy())[2] for c in classes}
    cut = confidence_cut_summary(
        true,
        decided["decision"].to_numpy(),
        decided["score"].to_numpy(),
        decided["score_std"].to_numpy(),
        classes,
        min_score,
        max_std,
    )
    return {
        "n": summary["n"],
        "accuracy": summary["accuracy"],
        "ambiguous_fraction": summary["ambiguous_fraction"],
        **aucs,
        "macro_auc": float(np.nanmean(list(aucs.values()))) if aucs else float("nan"),
        "confident_fraction": cut.pass_fraction,
        "confident_accuracy": cut.accuracy,
    }
