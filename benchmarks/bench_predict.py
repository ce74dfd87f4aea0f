"""Benchmark: Monte-Carlo-dropout throughput and the wall time of `ccsnscore classify`.

    python benchmarks/bench_predict.py [--threads 2] [--json out.json]

1. Layer-1 (two classifiers, case S, published architecture) 100-pass MC dropout on 100 spectra:
   the vectorised path (deterministic part once, stochastic part on repeated rows in chunks)
   against a naive loop of 100 full forward passes (the original implementation's approach).
2. `ccsnscore classify` on one real SEDM spectrum through the whole hierarchy with the shipped
   models (layer 0, 1, 2a/2b, case S): warm (in-process, models loaded) and cold (a new process).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CCSNSCORE_DATA_ROOT", REPO.parent / "shared" / "data" / "ccsn-public"))
SPECTRUM = DATA / "spectra" / "sedm" / "ZTF18abceakp_20180630_P60_v1.ascii.gz"


def mc_throughput(n_spectra: int = 100, n_passes: int = 100) -> dict:
    import torch

    from ccsnscore.inference.mc_dropout import mc_dropout_scores, mc_dropout_scores_naive
    from ccsnscore.model.network import BinaryClassifier

    torch.manual_seed(0)
    models = [BinaryClassifier("S"), BinaryClassifier("S")]  # Hrich, Hpoor
    batch = {"spectrum": torch.rand(n_spectra, 256, 1)}
    mc_dropout_scores(models[0], {"spectrum": batch["spectrum"][:4]}, 10)  # warm-up
    out = {}
    for chunk in (100, 200):
        start = time.perf_counter()
        for model in models:
            mc_dropout_scores(model, batch, n_passes, chunk_rows=chunk)
        out[f"vectorised_chunk{chunk}_spectra_per_s"] = round(n_spectra / (time.perf_counter() - start), 2)
    start = time.perf_counter()
    for model in models:
        mc_dropout_scores_naive(model, batch, n_passes)
    out["naive_loop_spectra_per_s"] = round(n_spectra / (time.perf_counter() - start), 2)
    best = max(v for k, v in out.items() if k.startswith("vectorised"))
    out["speedup"] = round(best / out["naive_loop_spectra_per_s"], 2)
    return out


def classify_timing(models: str | None) -> dict:
    import pandas as pd

    from ccsnscore.inference.classify import classify_table
    from ccsnscore.inference.model_set import load_model_set

    table = pd.DataFrame({"specfilename": [str(SPECTRUM)], "z": [0.03]})
    start = time.perf_counter()
    model_set = load_model_set(models, "S")
    load_s = time.perf_counter() - start
    classify_table(table, model_set)  # first call in the process
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        classify_table(table, model_set)
        runs.append(time.perf_counter() - start)
    cmd = [sys.executable, "-m", "ccsnscore.cli", "classify", str(SPECTRUM), "--z", "0.03", "-o", os.devnull]
    if models:
        cmd += ["--models", models]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    cold = time.perf_counter() - start
    return {
        "classifiers": len(model_set.classifiers),
        "model_load_s": round(load_s, 3),
        "classify_one_warm_s_median": round(sorted(runs)[len(runs) // 2], 3),
        "classify_one_cold_process_s": round(cold, 2),
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=None, help="model folder (default: the shipped models)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    result = {"benchmark": "predict", "threads": args.threads, **mc_throughput()}
    try:
        result.update(classify_timing(args.models))
    except FileNotFoundError as err:
        result["classify"] = f"skipped: {err}"
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
