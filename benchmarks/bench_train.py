"""Benchmark: seconds per training epoch of the spectrum-only (S) and all-channel (SLD) classifiers.

    python benchmarks/bench_train.py [--samples 8000] [--epochs 1] [--threads 2] [--accelerator gpu]
                                     [--json out.json]

Both recipes' networks on the same data, in the same run: ``paper`` (two biLSTMs on 256 points,
the 0.1 architecture), ``ccsnscore`` (the 1-D CNN on 128 points of the default recipe),
``ccsnscore+lstm`` (the same CNN with a biLSTM reading its last block's features) and
``ccsnscore-layer1`` (the CNN with the shipped layer-1 classifiers' extra inputs). 8,000
random samples shaped and zero-padded like the real inputs (spectra zero outside a random coverage,
light curves of random length with some bands missing), batch 64, Adam, one Lightning fit on the
CPU (deterministic, no validation), the malloc settings of :mod:`ccsnscore.runtime` applied.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

RECIPES = {
    "paper": (256, {}),
    "ccsnscore": (128, {"architecture": "cnn", "out_activation": "none"}),
    "ccsnscore+lstm": (128, {"architecture": "cnn", "out_activation": "none", "recurrent_units": 16}),
    "ccsnscore-layer1": None,
}
"""Recipe -> (spectrum points, spectrum encoder settings); ``ccsnscore+lstm``: the CNN + LSTM hybrid
of the ablations (``model.spectrum.recurrent_units=16``); ``ccsnscore-layer1``: the CNN of the shipped
layer-1 classifiers, read from their file (``None``; see :func:`recipe_settings`)."""


def recipe_settings(recipe: str) -> tuple[int, dict]:
    """Spectrum points and encoder settings of ``recipe``; ``ccsnscore-layer1`` from the shipped
    layer-1 case-S file, so the benchmark times what ships."""
    if RECIPES[recipe] is not None:
        return RECIPES[recipe]
    from ccsnscore.model.checkpoints import classifier_metadata

    metadata = classifier_metadata("layer1/S/Hrich")
    return int(metadata["preprocessing"]["spectrum"]["n_wave"]), dict(metadata["hparams"]["spectrum"])


def random_channels(n: int, seed: int = 0, n_wave: int = 256) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    spectrum = torch.randn(n, n_wave, 1, generator=g)
    start = torch.randint(0, n_wave // 6, (n, 1), generator=g)
    stop = n_wave - torch.randint(0, n_wave // 6, (n, 1), generator=g)
    steps = torch.arange(n_wave)[None, :]
    spectrum *= ((steps >= start) & (steps < stop)).unsqueeze(-1)
    channels = {"spectrum": spectrum}
    for band in ("r", "g"):
        length = torch.randint(0, 200, (n, 1), generator=g)  # 0: band missing
        lc = torch.rand(n, 200, 2, generator=g) + 0.01
        channels[f"lc_{band}"] = lc * (torch.arange(200)[None, :] < length).unsqueeze(-1)
        dmdt = torch.rand(n, 1, 24, 24, generator=g)
        channels[f"dmdt_{band}"] = dmdt / dmdt.sum(dim=(2, 3), keepdim=True)
    return channels


def epoch_seconds(
    input_case: str, n_samples: int, epochs: int, batch_size: int = 64, accelerator: str = "cpu", recipe: str = "paper"
) -> dict:
    import lightning as L
    import numpy as np
    from torch.utils.data import DataLoader

    from ccsnscore.data.channels import channel_names
    from ccsnscore.data.datamodule import ChannelDataset
    from ccsnscore.training.module import ClassifierModule

    class EpochTimer(L.Callback):
        def __init__(self):
            self.times = []

        def on_train_epoch_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.times.append(time.perf_counter() - self.start)

    L.seed_everything(0, verbose=False)
    n_wave, spectrum = recipe_settings(recipe)
    channels = random_channels(n_samples, n_wave=n_wave)
    dataset = ChannelDataset({k: channels[k] for k in channel_names(input_case)}, np.arange(n_samples) % 2)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, collate_fn=lambda batch: batch)
    model = ClassifierModule(input_case, spectrum=spectrum)
    timer = EpochTimer()
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        deterministic=accelerator == "cpu",
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[timer],
    )
    trainer.fit(model, train_dataloaders=loader)
    n_params = sum(p.numel() for p in model.parameters())
    seconds = statistics.median(timer.times)
    return {
        "recipe": recipe,
        "input_case": input_case,
        "accelerator": accelerator,
        "samples": n_samples,
        "batch_size": batch_size,
        "parameters": n_params,
        "epochs_timed": len(timer.times),
        "epoch_s": round(seconds, 2),
        "samples_per_s": round(n_samples / seconds, 1),
        "epoch_s_all": [round(t, 2) for t in timer.times],
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", default="S,SLD")
    parser.add_argument("--accelerator", default="cpu", help="cpu (deterministic) or gpu")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    import warnings

    import torch

    from ccsnscore.runtime import configure_malloc
    from ccsnscore.training.loop import quiet_lightning

    warnings.filterwarnings("ignore")
    quiet_lightning()
    malloc_set = configure_malloc()
    torch.set_num_threads(args.threads)
    rows = [
        epoch_seconds(case, args.samples, args.epochs, accelerator=args.accelerator, recipe=recipe)
        for case in args.cases.split(",")
        for recipe in RECIPES
    ]
    print(
        f"\ntraining epoch, {args.samples} samples, batch 64, {args.accelerator}, {args.threads} threads, "
        f"torch {torch.__version__}"
    )
    print(f"{'recipe':<18}{'case':<6}{'params':>9}{'epoch s':>10}{'samples/s':>11}")
    for row in rows:
        print(
            f"{row['recipe']:<18}{row['input_case']:<6}{row['parameters']:>9}{row['epoch_s']:>10.2f}"
            f"{row['samples_per_s']:>11.1f}"
        )
    result = {
        "benchmark": "train_epoch",
        "accelerator": args.accelerator,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "malloc_settings": "set at run time" if malloc_set else "from environment (or not glibc)",
        "results": rows,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return result


if __name__ == "__main__":
    main()
