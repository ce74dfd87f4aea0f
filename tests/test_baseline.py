"""The tree baseline: features of each input case and a fit that learns a separable task."""

from __future__ import annotations

import numpy as np

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
