"""How much the Monte-Carlo draws alone move a report's figures: the test-split figures of one set of
classifiers scored with several MC seeds (the networks and trees fixed, only the dropout masks
drawn anew), beside the same classifiers with dropout off.

    python experiments/mc_seed_noise.py --models src/ccsnscore/pretrained outputs/shipped_networks \
        --layers layer1,layer2a,layer2b --case S --seeds 10 --passes 100 \
        --table experiments/reports/mc_seed_noise

Writes ``<table>.csv`` (one row per model folder, layer and seed) and ``<table>.md`` (mean ± sd and
range over the seeds). A figure that differs between two recipes by less than its MC sd here is not
told apart by one draw of passes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from ccsnscore.evaluation.metrics import layer_summary
from ccsnscore.evaluation.testset import layer_test_inputs
from ccsnscore.inference.mc_dropout import eval_score_table, score_table
from ccsnscore.inference.model_set import load_model_set

SHOWN = ["accuracy", "macro_auc", "ambiguous_fraction", "confident_fraction", "confident_accuracy"]


def seed_rows(models: Path, layer: str, case: str, seeds: int, n_passes: int, data_root, cache_dir) -> list[dict]:
    """One row of test-split figures per MC seed ``0 .. seeds - 1`` and one with dropout off."""
    model_set = load_model_set(models, case, layers=[layer])
    channels, true = layer_test_inputs(model_set, layer, data_root, cache_dir)
    classes = list(model_set.layers[layer])
    base = {"models": str(models), "layer": layer, "case": case, "n_passes": n_passes}
    out = [
        {
            **base,
            "seed": "dropout off",
            **layer_summary(true, eval_score_table(model_set.classifiers, channels), classes),
        }
    ]
    for seed in range(seeds):
        scores = score_table(model_set.classifiers, channels, n_passes, seed=seed)
        out.append({**base, "seed": seed, **layer_summary(true, scores, classes)})
        print(f"{models} {layer} seed {seed}: accuracy {out[-1]['accuracy']:.3f} AUC {out[-1]['macro_auc']:.3f}")
    return out


def summary_table(rows: pd.DataFrame) -> str:
    """Markdown: per model folder and layer, dropout off and the MC seeds' mean ± sd [min, max]."""
    lines = [
        "| models | layer | case | spectra | scorer | " + " | ".join(SHOWN) + " |",
        "|---|---|---|---|---|" + "---|" * len(SHOWN),
    ]
    for (models, layer, case), group in rows.groupby(["models", "layer", "case"], sort=False):
        off = group[group["seed"].astype(str) == "dropout off"].iloc[0]
        mc = group[group["seed"].astype(str) != "dropout off"]
        n = int(off["n"])
        cells = [f"{off[c]:.3f}" for c in SHOWN]
        lines.append(f"| `{models}` | {layer} | {case} | {n} | dropout off | " + " | ".join(cells) + " |")
        cells = [f"{mc[c].mean():.3f} ± {mc[c].std(ddof=1):.3f} [{mc[c].min():.3f}, {mc[c].max():.3f}]" for c in SHOWN]
        label = f"MC, {len(mc)} seeds of {int(off['n_passes'])} passes"
        lines.append(f"| `{models}` | {layer} | {case} | {n} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", type=Path, required=True, help="model folders")
    parser.add_argument("--layers", default="layer1", help="comma-separated layers")
    parser.add_argument("--case", default="S")
    parser.add_argument("--seeds", type=int, default=10, help="MC seeds 0 .. N-1")
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--table", type=Path, required=True, help="output path without suffix")
    parser.add_argument("--data-root", default=os.environ.get("CCSNSCORE_DATA_ROOT"))
    parser.add_argument("--cache-dir", default=os.environ.get("CCSNSCORE_CACHE_DIR", ".cache/ccsnscore"))
    args = parser.parse_args(argv)
    if args.seeds < 2 or args.passes < 1:
        parser.error("--seeds must be at least 2 and --passes at least 1")
    missing = [str(m) for m in args.models if not m.is_dir()]
    if missing:
        parser.error(f"no model folder: {', '.join(missing)}")
    if args.data_root is None:
        parser.error("give --data-root or set CCSNSCORE_DATA_ROOT")
    rows = []
    for models in args.models:
        for layer in args.layers.split(","):
            rows += seed_rows(models, layer, args.case, args.seeds, args.passes, args.data_root, args.cache_dir)
    frame = pd.DataFrame(rows)
    write_tables(
        frame,
        args.table,
        f"# Monte-Carlo seed noise of the test-split figures (case {args.case})",
        "Produced by `python experiments/mc_seed_noise.py " + " ".join(argv or sys.argv[1:]) + "`. The "
        "classifiers are fixed; only the dropout masks are drawn anew with each seed. Accuracy counts "
        "ambiguous spectra as wrong; `confident`: score > 0.8 and std < 0.05; mean ± sd [min, max] over "
        "the seeds.",
        summary_table(frame),
    )
    return 0


def write_tables(frame: pd.DataFrame, table: Path, title: str, intro: str, body: str) -> None:
    """``<table>.csv`` (``frame``) and ``<table>.md`` (title, intro and the markdown ``body``), printed."""
    table.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(table.with_suffix(".csv"), index=False)
    table.with_suffix(".md").write_text(f"{title}\n\n{intro}\n\n{body}\n")
    print(table.with_suffix(".md").read_text())


if __name__ == "__main__":
    sys.exit(main())
