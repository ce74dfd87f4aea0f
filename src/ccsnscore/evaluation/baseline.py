"""A non-deep floor for every classifier: gradient-boosted trees on the same cached arrays.

Features are the model inputs of the input case, flattened: the spectrum's flux grid and its
continuum-removed flux (:func:`ccsnscore.model.trees.continuum_removed`), each band's normalised
light-curve flux every ``lc_step`` days, and each band's dm-dt histogram. One
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` per one-vs-rest task, with balanced class
weights, trained on the rows a network of that task may learn from (training and validation, never
the test split).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ccsnscore.data.channels import build_channels, channel_names
from ccsnscore.evaluation.tree_binning import weighted_binning_in_one_call
from ccsnscore.model.trees import CONTINUUM_WINDOW, LC_STEP, channel_features


def tree_features(
    arrays: Mapping[str, np.ndarray],
    input_case: str = "S",
    lc_step: int = LC_STEP,
    continuum_window: int = CONTINUUM_WINDOW,
) -> np.ndarray:
    """``(n, n_features)`` float32 features from prepared arrays (``spectrum`` ``(n, n_wave)``,
    ``lc`` ``(n, n_bands, n_days, 2)``, ``dmdt`` ``(n, n_bands, n_dm, n_dt)``, optional ``bands``):
    :func:`ccsnscore.model.trees.channel_features` of the model inputs, as the trees of a blended
    classifier read them."""
    bands = tuple(arrays["bands"]) if "bands" in arrays else ("r", "g")
    channels = build_channels(arrays, input_case, bands)
    return channel_features(channels, channel_names(input_case, bands), lc_step, continuum_window).numpy()


def fit_tree(features: np.ndarray, labels: np.ndarray, seed: int = 0, sample_weight=None, **kwargs):
    """A fitted one-vs-rest tree model (``labels`` 0/1; ``sample_weight`` per row, times the
    balanced class weights). Early stopping on a random tenth of the rows, so ``seed`` changes the
    model as a network's training seed does."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    settings = dict(
        max_iter=500,
        learning_rate=0.05,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=30,
        class_weight="balanced",
        random_state=seed,
    )
    settings.update(kwargs)
    # a feature missing from every row (a pixel no training spectrum covers) is constant for the
    # trees, who never split on it; scikit-learn cannot bin a column without any value
    empty = np.isnan(features).all(axis=0)
    if empty.any():
        features = np.where(empty, 0.0, features).astype(features.dtype)
    with weighted_binning_in_one_call():  # the same bins, without 254 percentile calls per feature
        return HistGradientBoostingClassifier(**settings).fit(
            features, np.asarray(labels).astype(int), sample_weight=sample_weight
        )


def tree_scores(
    train_features: np.ndarray, train_labels: Mapping[str, np.ndarray], test_features: np.ndarray, seed: int = 0
) -> dict[str, np.ndarray]:
    """Positive-class probabilities ``{positive: (n_test,)}`` of one tree per task in ``train_labels``
    (``{positive: 0/1 labels of the training rows}``)."""
    return {
        positive: fit_tree(train_features, labels, seed).predict_proba(test_features)[:, 1]
        for positive, labels in train_labels.items()
    }
