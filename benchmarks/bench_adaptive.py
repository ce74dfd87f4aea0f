"""Benchmark: ``--passes auto`` against a fixed 100 passes on the fixed test split.

    python benchmarks/bench_adaptive.py [--threads 2] [--cache-dir DIR] [--json out.json]

The shipped case-S hierarchy (gate, layer 1, layers 2a/2b) scores every test-split spectrum of the
public dataset twice, with the same seed: 100 Monte-Carlo passes per classifier, and adaptive
passes (:mod:`ccsnscore.inference.adaptive`). Reports the share of spectra whose final decision
(and whose decision at each layer) agrees, the mean passes per classifier used, and the wall time of
both. The dataset is found as everywhere else (``CCSNSCORE_DATA_ROOT`` or ../shared/data/ccsn-public).
"""

from __future__ import annotations

import time

from dataset_bench import DATA, run_benchmark


def agreement(cache_dir: str | None) -> dict:
    import yaml

    from ccsnscore.data.channels import build_channels
    from ccsnscore.evaluation.testset import labelled_samples
    from ccsnscore.inference.model_set import LABELS_CONFIG, load_model_set
    from ccsnscore.inference.pipeline import predict

    model_set = load_model_set(None, "S")
    unclassified = yaml.safe_load(LABELS_CONFIG.read_text())["unclassified"]
    table, arrays, _ = labelled_samples(model_set, DATA, cache_dir, "checkpoint", unclassified)
    rows = table["is_test"].to_numpy()
    channels = build_channels({k: arrays[k][rows] for k in ("spectrum", "lc", "dmdt")}, "S", arrays["bands"])
    start = time.perf_counter()
    fixed = predict(model_set, channels, 100, seed=0)
    fixed_s = time.perf_counter() - start
    start = time.perf_counter()
    auto = predict(model_set, channels, "auto", seed=0)
    auto_s = time.perf_counter() - start
    out = {
        "test_spectra": int(rows.sum()),
        "decision_agreement": round(float((fixed["decision"] == auto["decision"]).mean()), 4),
        "decisions_differing": int((fixed["decision"] != auto["decision"]).sum()),
    }
    for layer in model_set.layers:
        column = f"{layer}_decision"
        reached = fixed[column].fillna("").astype(str) != ""
        same = fixed.loc[reached, column].astype(str) == auto.loc[reached, column].fillna("").astype(str)
        out[f"{layer}_agreement"] = round(float(same.mean()), 4) if reached.any() else None
    out.update(
        {
            "auto_mean_passes": round(float(auto["passes"].mean()), 1),
            "fixed_seconds": round(fixed_s, 2),
            "auto_seconds": round(auto_s, 2),
            "speedup": round(fixed_s / auto_s, 2),
        }
    )
    return out


if __name__ == "__main__":
    run_benchmark(__doc__, agreement)
