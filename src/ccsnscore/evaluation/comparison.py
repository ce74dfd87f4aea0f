"""Scorers side by side on one layer: the networks with Monte-Carlo dropout, the same networks with
dropout off, the tree baseline and SNID, each with its uncertainty.

A scored table holds, for every class ``c`` of the layer, ``c``/``c_std`` (MC dropout),
``eval_c`` (dropout off), ``tree_c`` (the tree baseline) and ``c_snid`` (SNID, where present).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ccsnscore.evaluation.metrics import binary_roc, layer_summary, wilson_interval
from ccsnscore.inference.decisions import decide

SCORERS = {
    "network (MC dropout)": ("", True),
    "network (dropout off)": ("eval_", False),
    "tree baseline": ("tree_", False),
}
"""Scorer name -> (column prefix, has an MC spread)."""


def bootstrap_macro_auc(
    true, scores: pd.DataFrame, classes: Sequence[str], n_boot: int = 200, seed: int = 0, level: float = 0.68
) -> tuple[float, float, float]:
    """Macro one-vs-rest ROC AUC of ``scores[c]`` and its bootstrap interval (resampling spectra)."""
    true = np.asarray(true, dtype=object)
    values = scores[list(classes)].to_numpy(float)

    def macro(index) -> float:
        aucs = [binary_roc(true[index] == c, values[index, k])[2] for k, c in enumerate(classes)]
        return float(np.nanmean(aucs)) if np.isfinite(aucs).any() else float("nan")

    rng = np.random.default_rng(seed)
    point = macro(np.arange(len(true)))
    samples = [macro(rng.integers(0, len(true), len(true))) for _ in range(n_boot)]
    lo, hi = np.nanpercentile(samples, [50 * (1 - level), 50 * (1 + level)])
    return point, float(lo), float(hi)


def scorer_row(true, scores: pd.DataFrame, classes: Sequence[str]) -> dict:
    """Accuracy, macro AUC (with 68% intervals), ambiguous and confident fractions, per-class recall."""
    summary = layer_summary(true, scores, classes)
    true = np.asarray(true, dtype=object)
    n_correct = round(summary["accuracy"] * summary["n"])
    lo, hi = wilson_interval(n_correct, summary["n"])
    auc, auc_lo, auc_hi = bootstrap_macro_auc(true, scores, classes)
    row = {
        "n": summary["n"],
        "accuracy": summary["accuracy"],
        "accuracy_lo": float(lo),
        "accuracy_hi": float(hi),
        "macro_auc": auc,
        "macro_auc_lo": auc_lo,
        "macro_auc_hi": auc_hi,
        "ambiguous_fraction": summary["ambiguous_fraction"],
        "confident_fraction": summary["confident_fraction"],
        "confident_accuracy": summary["confident_accuracy"],
    }
    decision = decide(scores, classes)["decision"].to_numpy(object)
    for c in classes:
        positives = true == c
        row[f"recall_{c}"] = float((decision[positives] == c).mean()) if positives.any() else float("nan")
    return row


def layer_comparison(rows: pd.DataFrame, layer: str, classes: Sequence[str]) -> pd.DataFrame:
    """One row per scorer present in ``rows`` (the spectra whose true class is in the layer)."""
    true = rows[f"true_{layer}"].to_numpy(object)
    out = {}
    for name, (prefix, has_spread) in SCORERS.items():
        columns = [f"{prefix}{c}" for c in classes]
        if not all(c in rows for c in columns):
            continue
        scores = pd.DataFrame({c: rows[f"{prefix}{c}"].to_numpy(float) for c in classes})
        for c in classes:
            scores[f"{c}_std"] = rows[f"{c}_std"].to_numpy(float) if has_spread else 0.0
        out[name] = scorer_row(true, scores, classes)
    snid = [f"{c}_snid" for c in classes]
    if all(c in rows for c in snid) and rows[snid].notna().all(axis=1).any():
        with_snid = rows[snid].notna().all(axis=1).to_numpy()
        scores = pd.DataFrame({c: rows.loc[with_snid, f"{c}_snid"].to_numpy(float) for c in classes})
        for c in classes:
            scores[f"{c}_std"] = 0.0
        out["SNID (header fractions)"] = scorer_row(true[with_snid], scores, classes)
    return pd.DataFrame(out).T.rename_axis("scorer")
