"""Class balance for a binary classifier: the paper's balanced rounds (section 4) or a class-weighted loss."""

from __future__ import annotations

import numpy as np


def balanced_rounds(labels, max_rounds: int = 3, rng: np.random.Generator | int | None = None) -> list[np.ndarray]:
    """Index sets of the balanced training rounds of binary ``labels`` ``(n,)`` (0/1 or bool).

    Every round holds all samples of the smaller class plus as many samples of the larger class,
    drawn without replacement from larger-class samples not used by an earlier round. Rounds are
    added while that many unused larger-class samples remain, up to ``max_rounds``; larger-class
    samples left over (fewer than the smaller class) are not used. Equal classes give one round
    with every sample. Returns a list of sorted int64 index arrays into ``labels``.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    positive = labels.astype(bool)
    if not np.array_equal(positive, labels.astype(float)):
        raise ValueError("labels must be 0/1")
    rng = np.random.default_rng(rng)
    pos, neg = np.flatnonzero(positive), np.flatnonzero(~positive)
    small, large = (pos, neg) if len(pos) <= len(neg) else (neg, pos)
    if len(small) == 0:
        raise ValueError(f"a class has no samples ({len(pos)} positive, {len(neg)} negative)")
    n = len(small)
    shuffled = rng.permutation(large)
    n_rounds = min(max_rounds, len(large) // n)
    return [np.sort(np.concatenate([small, shuffled[k * n : (k + 1) * n]])).astype(np.int64) for k in range(n_rounds)]


def class_weight(labels) -> tuple[float, float]:
    """``(negative, positive)`` loss weights of binary ``labels`` that give each class half the loss."""
    labels = np.asarray(labels)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"a class has no training samples ({n_pos} positive, {n_neg} negative)")
    return len(labels) / (2 * n_neg), len(labels) / (2 * n_pos)
