"""Adaptive Monte-Carlo pass count (``--passes auto``): passes in blocks, stopped per spectrum once
its layer's decision can no longer change, and only the layers a spectrum reaches are run.

The criterion. After ``n`` passes a layer's classifiers have means ``m`` and spreads ``s`` for a
spectrum; the paper's rule decides the top class when ``t = (m_top - m_second) - (s_top + s_second)``
is positive, ``ambiguous`` otherwise. Each mean has a standard error ``s / sqrt(n)`` and each spread
about ``s / sqrt(2 n)``, so ``t`` has a standard error ``se_t = sqrt((s_top^2 + s_second^2) / n +
(s_top + s_second)^2 / (2 n))``. The spectrum stops when ``|t| > z * se_t`` (``z = 3`` by default:
a decision that 100 passes would reverse is then a three-sigma event), or at ``max_passes``. The
passes are the first ones of a fixed-pass run with the same seed (the same per-spectrum random
streams, drawn in blocks), so a spectrum that runs to ``max_passes`` gets exactly the fixed-pass
numbers, and nothing depends on the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from ccsnscore.inference.decisions import decide, decide_hierarchy
from ccsnscore.inference.mc_dropout import classifier_seed, member_moments, member_samples
from ccsnscore.inference.model_set import ModelSet

BLOCK_PASSES = 20
MAX_PASSES = 100
CONFIDENCE_Z = 3.0


def settled(samples: Mapping[str, np.ndarray | list[np.ndarray]], z: float = CONFIDENCE_Z) -> np.ndarray:
    """Which rows' decision is settled, from ``{class: (n_rows, n_passes)}`` probabilities (or, for
    a deep ensemble, a list of such arrays, one per member; :func:`member_moments`)."""
    parts = {c: v if isinstance(v, list) else [v] for c, v in samples.items()}
    classes = list(parts)
    n = sum(p.shape[1] for p in parts[classes[0]])
    moments = {c: member_moments(parts[c]) for c in classes}
    mean = np.stack([moments[c][0] for c in classes], axis=1)
    std = np.stack([moments[c][1] for c in classes], axis=1)
    order = np.argsort(-mean, axis=1, kind="stable")
    rows = np.arange(len(mean))
    top, second = order[:, 0], order[:, 1]
    s1, s2 = std[rows, top], std[rows, second]
    t = (mean[rows, top] - mean[rows, second]) - (s1 + s2)
    se = np.sqrt((s1**2 + s2**2) / n + (s1 + s2) ** 2 / (2 * n))
    return np.abs(t) > z * np.maximum(se, 1e-12)


def _grow(old: np.ndarray | None, new: np.ndarray, open_rows: np.ndarray, n_rows: int) -> np.ndarray:
    """``old`` ``(n_rows, k)`` with the block ``new`` ``(len(open_rows), j)`` appended (NaN for the
    rows that had stopped)."""
    k = 0 if old is None else old.shape[1]
    grown = np.full((n_rows, k + new.shape[1]), np.nan, np.float32)
    if old is not None:
        grown[:, :k] = old
    grown[open_rows, k:] = new
    return grown


def adaptive_predict(
    model_set: ModelSet,
    channels: Mapping[str, torch.Tensor],
    seed: int = 0,
    max_passes: int = MAX_PASSES,
    block: int = BLOCK_PASSES,
    z: float = CONFIDENCE_Z,
    index=None,
) -> pd.DataFrame:
    """Like :func:`ccsnscore.inference.pipeline.predict` with an adaptive pass count: the hierarchy
    is walked layer by layer, each spectrum's classifiers of its current layer get blocks of
    ``block`` passes until :func:`settled` (or ``max_passes``); classifiers of layers a spectrum
    does not reach are not run (their columns are NaN). Adds ``passes``: the most passes a
    classifier used for the row."""
    n = next(iter(channels.values())).shape[0]
    columns: dict[str, np.ndarray] = {}
    for positive in model_set.classifiers:
        columns[positive], columns[f"{positive}_std"] = np.full(n, np.nan), np.full(n, np.nan)
    passes = np.zeros(n, dtype=int)
    hierarchy = model_set.hierarchy
    layers = model_set.layer_classes()
    entry, _ = hierarchy.entry(list(layers))
    at = np.full(n, entry or "", dtype=object)
    for layer in [name for name in hierarchy.layers() if name in layers]:
        rows = np.flatnonzero(at == layer)
        if rows.size == 0:
            continue
        classes = layers[layer]
        samples = {c: None for c in classes}  # per class: one (rows, passes) array per member
        open_rows = np.arange(rows.size)
        done = 0
        while open_rows.size and done < max_passes:
            size = min(block, max_passes - done)
            subset = {k: v[rows[open_rows]] for k, v in channels.items()}
            for c in classes:
                model = model_set.layers[layer][c]
                drawn = member_samples(model, subset, size, seed=classifier_seed(seed, c), first_pass=done)
                samples[c] = [
                    _grow(old, new, open_rows, rows.size) for old, new in zip(samples[c] or [None] * len(drawn), drawn)
                ]
            done += size
            passes[rows[open_rows]] = np.maximum(passes[rows[open_rows]], done)
            current = {c: [part[open_rows] for part in samples[c]] for c in classes}
            open_rows = open_rows[~settled(current, z)]
        for c in classes:
            columns[c][rows], columns[f"{c}_std"][rows] = member_moments(samples[c])
        step = decide(pd.DataFrame({k: v[rows] for k, v in columns.items()}), classes)
        routes = hierarchy.routes.get(layer, {})
        at[rows] = [routes.get(d, "") for d in step["decision"]]
    scores = pd.DataFrame(columns, index=index)
    decisions = decide_hierarchy(scores, layers, hierarchy)
    return pd.concat([decisions, scores, pd.Series(passes, index=scores.index, name="passes")], axis=1)
