"""Weighted binning of scikit-learn's gradient-boosted trees in one call per feature.

scikit-learn (1.8, 1.9) bins the features of a weighted ``HistGradientBoostingClassifier`` fit with one
``_weighted_percentile`` call per bin threshold: 254 calls for each of a spectrum's 256 features.
With the balanced class weights every tree here is fitted with, that binning takes 25-40 s of a
layer-1 fit on 2 CPU cores, many times the boosting itself. ``_weighted_percentile`` takes a vector
of ranks, so :func:`weighted_binning_in_one_call` computes the same thresholds with one call per
feature while a fit runs, and puts scikit-learn's function back afterwards. The thresholds are equal
to scikit-learn's (tests/test_baseline.py compares them); where the installed scikit-learn has no
such function, or its percentile helper does not take a vector of ranks, nothing is replaced.
scikit-learn's own fix (pull request 34248) makes this module unnecessary once it is released.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

_LOCK = threading.RLock()


@lru_cache(maxsize=1)
def _binning_module():
    """scikit-learn's binning module when its weighted thresholds can be computed in one call."""
    try:
        from sklearn.ensemble._hist_gradient_boosting import binning
        from sklearn.utils.stats import _weighted_percentile
    except ImportError:
        return None
    if not hasattr(binning, "_find_binning_thresholds") or not hasattr(binning, "ALMOST_INF"):
        return None
    values, weights, ranks = (
        np.array([3.0, 1.0, 2.0, 5.0, 4.0]),
        np.array([1.0, 2.0, 1.0, 3.0, 1.0]),
        [25.0, 50.0, 75.0],
    )
    try:
        together = np.asarray(_weighted_percentile(values, weights, np.asarray(ranks), average=True))
        one_by_one = [_weighted_percentile(values, weights, r, average=True) for r in ranks]
    except TypeError:
        return None
    return binning if together.shape == (3,) and np.allclose(together, one_by_one) else None


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """scikit-learn's ``_weighted_percentile(values, weights, ranks, average=True)`` (the
    "averaged inverted CDF") for sorted ``values`` with positive ``weights``, all ranks at once."""
    cdf = np.cumsum(weights)
    adjusted = np.asarray(ranks, dtype=float) / 100 * cdf[-1]
    adjusted = np.where(adjusted == 0, np.nextafter(adjusted, adjusted + 1), adjusted)
    last = len(values) - 1
    at = np.clip(np.searchsorted(cdf, adjusted), 0, last)
    above = (cdf[at] - adjusted) > np.finfo(cdf.dtype).eps
    return np.where(above, values[at], (values[at] + values[np.clip(at + 1, 0, last)]) / 2)


def _thresholds(col_data: np.ndarray, max_bins: int, sample_weight: np.ndarray, original):
    """scikit-learn's ``_find_binning_thresholds`` for a weighted continuous feature, its
    percentiles computed together."""
    binning = _binning_module()
    keep = ~np.isnan(col_data) & (sample_weight != 0)
    values, weights = col_data[keep], sample_weight[keep]
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    if len(np.unique(values)) <= max_bins:  # midpoints of the distinct values: no percentile
        return original(col_data, max_bins, sample_weight=sample_weight)
    ranks = np.linspace(0, 100, num=max_bins + 1)[1:-1]
    thresholds = weighted_percentiles(values.astype(float), weights.astype(float), ranks)
    unique = np.unique(thresholds)
    if unique.shape[0] != thresholds.shape[0]:
        thresholds = unique
    np.clip(thresholds, a_min=None, a_max=binning.ALMOST_INF, out=thresholds)
    return thresholds


@contextmanager
def weighted_binning_in_one_call():
    """Context: scikit-learn's weighted bin thresholds computed with one percentile call per
    feature (same thresholds), restored on exit. Fits inside it are serialised across threads."""
    binning = _binning_module()
    if binning is None:
        yield
        return
    with _LOCK:
        original = binning._find_binning_thresholds

        def find(col_data, max_bins, sample_weight=None):
            if sample_weight is None:
                return original(col_data, max_bins, sample_weight=None)
            return _thresholds(col_data, max_bins, sample_weight, original)

        binning._find_binning_thresholds = find
        try:
            yield
        finally:
            binning._find_binning_thresholds = original
