"""Benchmark: preprocess the full dataset cold, then load it from the cache.

    python benchmarks/bench_data.py [--data-root PATH] [--json out.json]

Each phase runs in a fresh subprocess so that its wall time and peak memory (this process plus
its worker processes) are its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

PHASE = r"""
import json, resource, sys, time
from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.config import PreprocessingConfig
pp = PreprocessingConfig()  # the default preprocessing (conf: preprocessing/default)
start = time.perf_counter()
ds, manifest = load_or_prepare(sys.argv[1], sys.argv[2], pp, n_jobs=2)  # as `prepare` by default
wall = time.perf_counter() - start
from joblib.externals.loky import get_reusable_executor
get_reusable_executor().shutdown(wait=True)  # reap the GP workers so that their peak memory counts
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall_s": wall, "samples": len(ds.samples), "peak_rss_mb": self_kb / 1024,
                  "peak_worker_rss_mb": child_kb / 1024}))
"""


def run_phase(data_root: str, cache_dir: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PHASE, data_root, cache_dir], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument(
        "--data-root",
        default=os.environ.get("CCSNSCORE_DATA_ROOT", os.path.join(repo, "..", "shared", "data", "ccsn-public")),
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache_dir:
        cold = run_phase(args.data_root, cache_dir)
        warm = run_phase(args.data_root, cache_dir)
    result = {
        "benchmark": "data",
        "cpus": os.cpu_count(),
        "cold_preprocess_s": round(cold["wall_s"], 2),
        "cold_peak_rss_mb": round(cold["peak_rss_mb"]),
        "cold_peak_worker_rss_mb": round(cold["peak_worker_rss_mb"]),
        "cache_load_s": round(warm["wall_s"], 2),
        "cache_load_peak_rss_mb": round(warm["peak_rss_mb"]),
        "samples": cold["samples"],
    }
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
