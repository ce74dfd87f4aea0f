"""The trees' share of a network + tree blend, chosen on rows neither part learned from.

The network's validation objects (the split its training recorded under ``training.data``) are held
out of its weights. A tree fitted on the network's training rows only scores them too; the share
``w`` of ``(1 - w) x network + w x trees`` with the lowest log loss on those rows is the blend's
weight. The network's early stopping watched the same rows, so its scores there are slightly
optimistic and the choice leans, if anywhere, towards the network.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ccsnscore.data.splits import validation_masks

WEIGHT_GRID = tuple(round(0.1 * i, 1) for i in range(1, 10))
"""Shares tried; 0 and 1 are left out so that both parts stay (the network gives the spread)."""
SPLIT_KEYS = ("val_fraction", "split_seed")


def validation_split(table: pd.DataFrame, layer: str, metadata: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """``(is_val, is_train)`` over the rows of ``table`` (``labelled_samples``: ``name``, ``source``,
    ``is_test``, ``true_<layer>``): the validation and training rows of the classifier whose file
    recorded ``metadata``, as its training drew them."""
    data = (metadata.get("training") or {}).get("data") or {}
    missing = [k for k in SPLIT_KEYS if data.get(k) is None]
    if missing:
        raise ValueError(
            f"the classifier of {layer} records no validation split (training.data lacks {', '.join(missing)}); "
            "give a fixed --tree-weight"
        )
    true = table[f"true_{layer}"].to_numpy(object)
    rows = np.flatnonzero(true != "")
    task = table.iloc[rows].reset_index(drop=True)
    sources = data.get("val_sources")
    is_val, is_train = validation_masks(
        task,
        true[rows],
        task["is_test"].to_numpy(),
        float(data["val_fraction"]),
        int(data["split_seed"]),
        None if sources is None else list(sources),
    )
    full_val, full_train = np.zeros(len(table), bool), np.zeros(len(table), bool)
    full_val[rows[is_val]], full_train[rows[is_train]] = True, True
    return full_val, full_train


def log_loss(probability: np.ndarray, labels: np.ndarray, eps: float = 1e-6) -> float:
    """Mean binary cross-entropy of ``probability`` for 0/1 ``labels``."""
    p = np.clip(np.asarray(probability, float), eps, 1 - eps)
    y = np.asarray(labels, bool)
    return float(-np.mean(np.where(y, np.log(p), np.log(1 - p))))


def choose_tree_weight(
    network: np.ndarray, trees: np.ndarray, labels: np.ndarray, grid=WEIGHT_GRID
) -> tuple[float, dict[float, float]]:
    """The share of the trees (from ``grid``) whose blend of ``network`` and ``trees`` probabilities
    has the lowest log loss for ``labels``, and the loss of every share tried. Ties go to the
    smaller share."""
    labels = np.asarray(labels, bool)
    if labels.all() or not labels.any():
        raise ValueError("the validation rows hold one class only; give a fixed --tree-weight")
    losses = {float(w): log_loss((1 - w) * np.asarray(network) + w * np.asarray(trees), labels) for w in grid}
    best = min(losses, key=lambda w: (round(losses[w], 12), w))
    return best, losses
