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

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CCSNSCORE_DATA_ROOT", REPO.parent / "shared" / "data" / "ccsn-public"))


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


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cache-dir", default=os.environ.get("CCSNSCORE_CACHE_DIR", str(REPO / ".cache" / "ccsnscore"))
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    result = timed_fits(args.cache_dir)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
