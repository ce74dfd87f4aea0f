"""The tree baseline: features of each input case and a fit that learns a separable task."""

from __future__ import annotations

import numpy as np
import pytest

from ccsnscore.evaluation.baseline import fit_tree, tree_features, tree_scores


def arrays(n=200, seed=0):
    rng = np.random.default_rng(seed)
    label = rng.uniform(size=n) < 0.4
    spectrum = rng.normal(0, 0.1, (n, 64)).astype(np.float32)
    spectrum[label, 30:34] += 1.0  # an emission line for the positives
    return {
        "spectrum": spectrum,
        "lc": rng.uniform(size=(n, 2, 200, 2)).astype(np.float32),
        "dmdt": rng.uniform(size=(n, 2, 24, 24)).astype(np.float32),
    }, label


def test_features_per_input_case():
    a, _ = arrays(10)
    spectrum = 2 * 64  # flux and continuum-removed flux
    assert tree_features(a, "S").shape == (10, spectrum)
    assert tree_features(a, "SL").shape == (10, spectrum + 2 * 40)
    assert tree_features(a, "SD").shape == (10, spectrum + 2 * 576)
    assert tree_features(a, "SLD").shape == (10, spectrum + 2 * 40 + 2 * 576)
    assert tree_features(a, "S", continuum_window=0).shape == (10, 64)


def test_tree_learns_a_line_and_ranks_new_rows():
    a, label = arrays()
    b, test_label = arrays(seed=1)
    scores = tree_scores(tree_features(a), {"pos": label, "neg": ~label}, tree_features(b), seed=0)
    assert scores["pos"].shape == (200,)
    assert ((scores["pos"] > 0.5) == test_label).mean() > 0.95
    assert ((scores["neg"] > 0.5) == ~test_label).mean() > 0.95


def test_a_pixel_no_training_spectrum_covers_does_not_stop_the_fit():
    a, label = arrays()
    a["spectrum"][:, :5] = 0  # never covered: its continuum-removed features are NaN in every row
    b, test_label = arrays(seed=1)
    features = tree_features(a)
    assert np.isnan(features[:, 64:69]).all()
    scores = tree_scores(features, {"pos": label}, tree_features(b), seed=0)
    assert ((scores["pos"] > 0.5) == test_label).mean() > 0.95


def test_sample_weights_steer_the_trees():
    """Rows weighted up win where the labels conflict: half of the positives' lines are given to
    negatives, and the trees side with whichever copies weigh more."""
    a, label = arrays()
    features = tree_features(a)
    conflicting = np.concatenate([features, features[label]])
    labels = np.concatenate([label, np.zeros(label.sum(), bool)])
    heavy_negatives = np.concatenate([np.ones(len(label)), np.full(label.sum(), 10.0)])
    heavy_positives = np.concatenate([np.where(label, 10.0, 1.0), np.ones(label.sum())])
    test = features[label]
    towards_negative = fit_tree(conflicting, labels, 0, heavy_negatives).predict_proba(test)[:, 1]
    towards_positive = fit_tree(conflicting, labels, 0, heavy_positives).predict_proba(test)[:, 1]
    assert towards_negative.mean() < 0.5 < towards_positive.mean()


def test_weighted_bins_equal_scikit_learns_own():
    """The one-call weighted binning gives scikit-learn's thresholds (NaN, ties, zero weights,
    few distinct values) and the same fitted trees."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from ccsnscore.evaluation.tree_binning import _binning_module, weighted_binning_in_one_call

    binning = _binning_module()
    if binning is None:
        pytest.skip("this scikit-learn bins weighted features without a vector of percentiles")
    rng = np.random.default_rng(4)
    n = 700
    X = rng.normal(size=(n, 6))
    X[rng.random(X.shape) < 0.15] = np.nan
    X[:, 1] = np.round(X[:, 1] * 30)  # ties
    X[:, 2] = np.round(X[:, 2])  # few distinct values: midpoints, no percentile
    X[:, 3] = 1.0  # constant
    weight = np.where(rng.random(n) < 0.3, 3.0, 1.0)
    weight[rng.random(n) < 0.05] = 0.0
    original = binning._find_binning_thresholds
    # 510 unit weights: some ranks fall exactly on the weights' running sum (averaged thresholds)
    cases = [(column, weight) for column in X.T] + [(rng.normal(size=510), np.ones(510))]
    for column, weight in cases:
        expected = original(column, 255, sample_weight=weight)
        with weighted_binning_in_one_call():
            assert binning._find_binning_thresholds is not original
            got = binning._find_binning_thresholds(column, 255, sample_weight=weight)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(binning._find_binning_thresholds(column, 255), original(column, 255))
    assert binning._find_binning_thresholds is original
    weight = cases[0][1]
    y = (np.nan_to_num(X[:, 0]) + rng.normal(size=n)) > 0.5
    settings = dict(max_iter=20, class_weight="balanced", random_state=0)
    plain = HistGradientBoostingClassifier(**settings).fit(X, y)
    with weighted_binning_in_one_call():
        fast = HistGradientBoostingClassifier(**settings).fit(X, y)
    np.testing.assert_array_equal(fast.predict_proba(X), plain.predict_proba(X))
