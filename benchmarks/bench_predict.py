"""Benchmark: Monte-Carlo-dropout throughput, cold and warm `ccsnscore classify`, a big streamed batch.

    python benchmarks/bench_predict.py [--threads 2] [--big 10000] [--json out.json]

Every figure comes with its reference measured in the same run, on the same machine:

1. MC throughput, layer 1 (two classifiers, case S), 100 passes per classifier:
   - ``reference_*``: the 0.1 implementation (vectorised over passes, ``torch.rand`` masks, no
     grouping) on the 0.1 shipped architecture (biLSTM on 256 points), copied below;
   - ``same_model_*``: today's code on that same network (the algorithm's gain alone);
   - ``shipped_*``: today's code on the shipped layer-1 case-S classifiers at their input length,
     with a fixed 100 passes and with ``--passes auto`` (mean passes used);
   - ``shipped_networks_only_*``: the shipped classifiers' networks without their trees;
   - ``shipped_layer1_SLD_*``: the shipped layer-1 case-SLD classifiers, 100 passes, random inputs.
2. `ccsnscore --help` and `ccsnscore classify` of one SEDM spectrum in a new process (cold) through
   the whole shipped hierarchy, beside a new process that only imports the training stack
   (Lightning, Hydra, Optuna, scikit-learn: what the 0.1 classify path imported); warm classify
   in-process.
3. A streamed batch of ``--big`` spectra (copies of real SEDM spectra) through `ccsnscore classify
   --metadata ... --passes auto`: spectra per second and the process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CCSNSCORE_DATA_ROOT", REPO.parent / "shared" / "data" / "ccsn-public"))
SPECTRUM = DATA / "spectra" / "sedm" / "ZTF18abceakp_20180630_P60_v1.ascii.gz"


def reference_mc(model, batch, n_passes=100, chunk_rows=200):
    """The 0.1 vectorised MC dropout: deterministic part once, stochastic part on repeated rows."""
    import torch

    from ccsnscore.model.layers import set_mc_dropout

    inputs = {name: batch[name] for name in model.channels}
    n = next(iter(inputs.values())).shape[0]
    out = torch.empty((n, n_passes))
    per_chunk = max(1, chunk_rows // n_passes)
    model.eval()
    set_mc_dropout(model, True)
    with torch.no_grad():
        for start in range(0, n, per_chunk):
            stop = min(start + per_chunk, n)
            encoded = model.encode_deterministic({k: v[start:stop] for k, v in inputs.items()})
            repeated = {k: v.repeat_interleave(n_passes, dim=0) for k, v in encoded.items()}
            out[start:stop] = torch.sigmoid(model.forward_stochastic(repeated)).view(stop - start, n_passes)
    set_mc_dropout(model, False)
    return out.mean(1), out.std(1)


def _rate(function, n: int, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return round(n / best, 1)


def mc_throughput(n_spectra: int = 200) -> dict:
    import torch

    from ccsnscore.inference.mc_dropout import mc_dropout_scores
    from ccsnscore.inference.model_set import load_model_set
    from ccsnscore.inference.pipeline import predict
    from ccsnscore.model.network import BinaryClassifier

    torch.manual_seed(0)
    old = [BinaryClassifier("S").eval(), BinaryClassifier("S").eval()]
    old_batch = {"spectrum": torch.rand(n_spectra, 256, 1)}
    old_batch["spectrum"][:, :20] = 0
    out = {
        "reference_0.1_biLSTM256_spectra_per_s": _rate(lambda: [reference_mc(m, old_batch) for m in old], n_spectra),
        "same_model_biLSTM256_spectra_per_s": _rate(
            lambda: [mc_dropout_scores(m, old_batch, 100) for m in old], n_spectra
        ),
    }
    shipped = load_model_set(None, "S")
    layer1 = shipped.without(*[layer for layer in shipped.layers if layer != "layer1"])
    n_wave = shipped.preprocessing.spectrum.n_wave
    batch = {"spectrum": torch.rand(n_spectra, n_wave, 1)}
    batch["spectrum"][:, : n_wave // 12] = 0
    out["shipped_layer1_n_wave"] = n_wave
    out["shipped_layer1_architecture"] = (
        next(iter(layer1.classifiers.values())).config["spectrum"].get("architecture", "bilstm")
    )
    out["shipped_fixed100_spectra_per_s"] = _rate(
        lambda: [mc_dropout_scores(m, batch, 100) for m in layer1.classifiers.values()], n_spectra
    )
    # the same classifiers without their trees (blended files): what the trees cost
    out["shipped_networks_only_fixed100_spectra_per_s"] = _rate(
        lambda: [mc_dropout_scores(getattr(m, "network", m), batch, 100) for m in layer1.classifiers.values()],
        n_spectra,
    )
    # the layer-1 SLD classifiers (spectrum, light curves, dm-dt histograms) on random inputs
    sld = load_model_set(None, "SLD", layers=["layer1"])
    sld_batch = {"spectrum": batch["spectrum"]}
    for band in ("r", "g"):
        light_curve = torch.rand(n_spectra, 200, 2) + 0.1
        light_curve[:, 120:] = 0
        sld_batch[f"lc_{band}"], sld_batch[f"dmdt_{band}"] = light_curve, torch.rand(n_spectra, 1, 24, 24)
    out["shipped_layer1_SLD_fixed100_spectra_per_s"] = _rate(
        lambda: [mc_dropout_scores(m, sld_batch, 100) for m in sld.classifiers.values()], n_spectra
    )
    start = time.perf_counter()
    adaptive = predict(layer1, batch, "auto")
    out["shipped_auto_spectra_per_s"] = round(n_spectra / (time.perf_counter() - start), 1)
    out["shipped_auto_mean_passes"] = round(float(adaptive["passes"].mean()), 1)
    reference = out["reference_0.1_biLSTM256_spectra_per_s"]
    out["speedup_same_model"] = round(out["same_model_biLSTM256_spectra_per_s"] / reference, 2)
    out["speedup_shipped_fixed"] = round(out["shipped_fixed100_spectra_per_s"] / reference, 2)
    out["speedup_shipped_auto"] = round(out["shipped_auto_spectra_per_s"] / reference, 2)
    return out


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return round(time.perf_counter() - start, 2)


def cold_and_warm() -> dict:
    import pandas as pd

    from ccsnscore.inference.classify import classify_table
    from ccsnscore.inference.model_set import load_model_set

    cli = [sys.executable, "-m", "ccsnscore.cli"]
    out = {
        "help_cold_s": min(_timed([*cli, "--help"]) for _ in range(3)),
        "classify_one_cold_s": min(
            _timed([*cli, "classify", str(SPECTRUM), "--z", "0.03", "-o", os.devnull, "-q"]) for _ in range(3)
        ),
        "reference_import_training_stack_cold_s": min(
            _timed([sys.executable, "-c", "import lightning, hydra, optuna, sklearn.gaussian_process, torch"])
            for _ in range(3)
        ),
    }
    model_set = load_model_set(None, "S")
    table = pd.DataFrame({"specfilename": [str(SPECTRUM)], "z": [0.03]})
    classify_table(table, model_set)
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        classify_table(table, model_set)
        runs.append(time.perf_counter() - start)
    out["classify_one_warm_s"] = round(sorted(runs)[2], 3)
    return out


def big_batch(n: int) -> dict:
    """``n`` rows naming real SEDM spectra (200 files, repeated) through the command, streamed in
    chunks; spectra per second and peak memory of the process."""
    import pandas as pd

    meta = pd.read_csv(DATA / "metadata.csv")
    sedm = meta[(meta["source"] == "sedm") & (meta["z"] < 1)].head(200)
    folder = Path(tempfile.mkdtemp(prefix="ccsnscore-bench-"))
    try:
        picks = sedm.iloc[[k % len(sedm) for k in range(n)]]
        picks[["specfilename", "z"]].to_csv(folder / "big.csv", index=False)
        command = [
            sys.executable,
            "-m",
            "ccsnscore.cli",
            "classify",
            "--metadata",
            str(folder / "big.csv"),
            "--root",
            str(DATA),
            "--passes",
            "auto",
            "-o",
            str(folder / "out.csv"),
            "-q",
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        written = len(pd.read_csv(folder / "out.csv", comment="#"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "big_batch_spectra": n,
        "big_batch_rows_written": written,
        "big_batch_seconds": round(seconds, 1),
        "big_batch_spectra_per_s": round(n / seconds, 1),
        "big_batch_peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--big", type=int, default=10_000, help="spectra in the streamed batch (0: skip)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import torch

    from ccsnscore.runtime import configure_malloc

    configure_malloc()
    torch.set_num_threads(args.threads)
    result = {"benchmark": "predict", "threads": args.threads, **mc_throughput()}
    if SPECTRUM.is_file():
        result.update(cold_and_warm())
        if args.big:
            result.update(big_batch(args.big))
    else:
        result["classify"] = f"skipped: no dataset at {DATA}"
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
