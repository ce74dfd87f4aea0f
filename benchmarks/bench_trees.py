"""Benchmark: fitting one gradient-boosted tree model as the blends and the tree baseline do.

    python benchmarks/bench_trees.py [--threads 2] [--cache-dir DIR] [--json out.json]

One layer-1 H-poor tree (:func:`ccsnscore.evaluation.baseline.fit_tree`: balanced class weights,
early stopping) on the non-test spectra of the public dataset (flux grid and continuum-removed
flux), timed with the weighted bins computed in one call per feature
(:mod:`ccsnscore.evaluation.tree_binning`) and, as the reference in the same run, with
scikit-learn's own binning; the two must give the same probabilities. The dataset is found as
everywhere else (``CCSNSCORE_DATA_ROOT`` or ../shared/data/ccsn-public).
"""

from __future__ import annotations

import contextlib
import time

from dataset_bench import DATA, run_benchmark


def timed_fits(cache_dir: str) -> dict:
    import numpy as np
    import yaml

    from ccsnscore.evaluation import baseline
    from ccsnscore.evaluation.testset import labelled_samples
    from ccsnscore.inference.model_set import LABELS_CONFIG, load_model_set

    model_set = load_model_set(None, "S", layers=["layer1"])
    unclassified = yaml.safe_load(LABELS_CONFIG.read_text())["unclassified"]
    table, arrays, _ = labelled_samples(model_set, DATA, cache_dir, "checkpoint", unclassified)
    features = baseline.tree_features(arrays, "S")
    truth = table["true_layer1"].to_numpy(object)
    train = (truth != "") & ~table["is_test"].to_numpy()
    test = (truth != "") & table["is_test"].to_numpy()
    start = time.perf_counter()
    fast = baseline.fit_tree(features[train], truth[train] == "Hpoor", 0)
    fast_s = time.perf_counter() - start
    one_call = baseline.weighted_binning_in_one_call
    baseline.weighted_binning_in_one_call = contextlib.nullcontext  # scikit-learn's own binning
    try:
        start = time.perf_counter()
        reference = baseline.fit_tree(features[train], truth[train] == "Hpoor", 0)
        reference_s = time.perf_counter() - start
    finally:
        baseline.weighted_binning_in_one_call = one_call
    return {
        "rows": int(train.sum()),
        "features": int(features.shape[1]),
        "iterations": int(fast.n_iter_),
        "tree_fit_seconds": round(fast_s, 2),
        "tree_fit_seconds_sklearn_binning": round(reference_s, 2),
        "speedup": round(reference_s / fast_s, 1),
        "same_test_probabilities": bool(
            np.array_equal(fast.predict_proba(features[test]), reference.predict_proba(features[test]))
        ),
    }


if __name__ == "__main__":
    run_benchmark(__doc__, timed_fits)
