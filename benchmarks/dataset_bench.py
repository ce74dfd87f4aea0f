"""What the benchmarks on the public dataset's test split share: where the dataset and its cache
are, and one command line (``--threads``, ``--cache-dir``, ``--json``) around a measurement."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CCSNSCORE_DATA_ROOT", REPO.parent / "shared" / "data" / "ccsn-public"))


def run_benchmark(doc: str, measure: Callable[[str], dict]) -> dict:
    """Parse the command line, set the thread count (torch and OpenMP), run ``measure(cache_dir)``
    and print its result (also to ``--json``)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--cache-dir", default=os.environ.get("CCSNSCORE_CACHE_DIR", str(REPO / ".cache" / "ccsnscore"))
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    result = measure(args.cache_dir)
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result
