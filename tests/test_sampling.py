"""Balanced training rounds (paper section 4)."""

from __future__ import annotations

import numpy as np
import pytest

from ccsnscore.training.sampling import balanced_rounds


def _check_rounds(labels, rounds):
    labels = np.asarray(labels)
    n_small = min(labels.sum(), (1 - labels).sum())
    small_class = int(labels.sum() <= (1 - labels).sum())  # 1 if positives are the smaller class
    small = set(np.flatnonzero(labels == small_class))
    used_large: set[int] = set()
    for indices in rounds:
        assert len(np.unique(indices)) == len(indices), "repeat within a round"
        assert np.all(np.diff(indices) > 0)
        chosen = labels[indices]
        assert (chosen == small_class).sum() == n_small
        assert (chosen != small_class).sum() == n_small
        assert small <= set(indices.tolist()), "every sample of the smaller class is in every round"
        large = set(indices.tolist()) - small
        assert not (large & used_large), "larger-class sample reused across rounds"
        used_large |= large


@pytest.mark.parametrize(
    "n_pos, n_neg, max_rounds, expected",
    [
        (10, 35, 3, 3),  # enough for 3 rounds
        (10, 25, 3, 2),  # 5 left over after 2 rounds: not enough for a third
        (10, 100, 3, 3),  # capped by max_rounds
        (10, 100, 5, 5),
        (30, 10, 3, 3),  # positives larger
        (10, 10, 3, 1),  # balanced: one round with everything
        (10, 19, 3, 1),
    ],
)
def test_round_counts_and_draws(n_pos, n_neg, max_rounds, expected):
    labels = np.r_[np.ones(n_pos), np.zeros(n_neg)]
    np.random.default_rng(1).shuffle(labels)
    rounds = balanced_rounds(labels, max_rounds=max_rounds, rng=0)
    assert len(rounds) == expected
    _check_rounds(labels, rounds)
    assert all(r.dtype == np.int64 for r in rounds)


def test_equal_classes_use_every_sample():
    labels = np.array([0, 1] * 8)
    (only,) = balanced_rounds(labels, rng=0)
    assert np.array_equal(only, np.arange(16))


def test_reproducible_and_seed_dependent():
    labels = np.r_[np.ones(5), np.zeros(40)]
    a = balanced_rounds(labels, rng=np.random.default_rng(7))
    b = balanced_rounds(labels, rng=np.random.default_rng(7))
    c = balanced_rounds(labels, rng=np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_bool_labels_and_errors():
    assert len(balanced_rounds([True, False, False, False], rng=0)) == 3
    with pytest.raises(ValueError, match="no samples"):
        balanced_rounds(np.zeros(5))
    with pytest.raises(ValueError, match="0/1"):
        balanced_rounds([0, 1, 2])
    with pytest.raises(ValueError, match="max_rounds"):
        balanced_rounds([0, 1], max_rounds=0)
