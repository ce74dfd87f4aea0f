"""Run every benchmark script of this folder in turn (`make bench`); results in benchmarks/results/."""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["bench_data.py", "bench_train.py", "bench_predict.py", "bench_adaptive.py", "bench_trees.py"]


def main() -> int:
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    failed = 0
    for script in SCRIPTS:
        path = os.path.join(HERE, script)
        if not os.path.exists(path):
            print(f"-- {script}: not present, skipped")
            continue
        print(f"== {script}", flush=True)
        out = os.path.join(HERE, "results", script.replace(".py", ".json"))
        failed += subprocess.call([sys.executable, path, "--json", out]) != 0
    return failed


if __name__ == "__main__":
    sys.exit(main())
