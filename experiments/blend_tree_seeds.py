"""How much the trees' seed moves a blend's test-split figures, and what the network adds to its
own trees: the shipped networks re-blended with trees of several seeds, each blend scored beside
those same trees alone.

    python experiments/blend_tree_seeds.py --models src/ccsnscore/pretrained --layers layer1,layer2b \
        --case S --seeds 0,1,2,3,4 --work outputs/blend_tree_seeds --table experiments/reports/blend_tree_seeds

For every tree seed the classifiers of each layer are blended again
(:func:`ccsnscore.evaluation.blend.blend_run`; the window and weight each file records, the seed
given) into ``<work>/seed<k>``. On the fixed test split each blend is scored with ``--passes``
Monte-Carlo passes (MC seed 0, so only the trees change) and with dropout off, and its trees alone. The trees
alone are the report's tree baseline of that seed (same rows, features and settings): the paired
difference says what the network adds to its own trees.

Writes ``<table>.csv`` (one row per layer, tree seed and scorer) and ``<table>.md`` (mean ± sd over
the tree seeds, and the paired blend - trees differences).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import torch
from mc_seed_noise import write_tables

from ccsnscore.evaluation.blend import blend_run
from ccsnscore.evaluation.metrics import layer_summary
from ccsnscore.evaluation.testset import layer_test_inputs
from ccsnscore.inference.mc_dropout import eval_score_table, score_table
from ccsnscore.inference.model_set import load_model_set
from ccsnscore.model.network import BlendedClassifier

SHOWN = ["accuracy", "macro_auc", "ambiguous_fraction", "confident_fraction", "confident_accuracy"]
SCORERS = ("blend (MC dropout)", "blend (dropout off)", "trees alone")


def blend_source(models: Path, layers: list[str], case: str, work: Path) -> tuple[Path, tuple[float, int]]:
    """A folder with the ``layers`` of ``models`` for ``case`` (the blends to re-fit), and the trees'
    weight and continuum window they record (one for all)."""
    source = work / "source"
    shutil.rmtree(source, ignore_errors=True)
    settings = set()
    for layer in layers:
        shutil.copytree(models / layer / case, source / layer / case)
        for model in load_model_set(source, case, layers=[layer]).classifiers.values():
            if not isinstance(model, BlendedClassifier):
                raise ValueError(f"{model.path} is not a network + tree blend")
            settings.add((model.tree_weight, int(model.tree.config["continuum_window"])))
    if len(settings) != 1:
        raise ValueError(f"the blends record different tree weights or windows: {sorted(settings)}")
    return source, settings.pop()


def seed_rows(folder: Path, layer: str, case: str, seed: int, n_passes: int, channels: dict, true) -> list[dict]:
    """Test-split figures of the blends of ``layer`` in ``folder`` on the test inputs ``channels``
    with classes ``true``: MC dropout, dropout off, trees."""
    model_set = load_model_set(folder, case, layers=[layer])
    classes = list(model_set.layers[layer])
    with torch.no_grad():
        trees = pd.DataFrame(
            {c: m.tree(m.tree.features(channels, m.channels)).numpy() for c, m in model_set.classifiers.items()}
        )
    trees = trees.assign(**{f"{c}_std": 0.0 for c in classes})  # deterministic: no spread
    scores = {
        SCORERS[0]: score_table(model_set.classifiers, channels, n_passes, seed=0),
        SCORERS[1]: eval_score_table(model_set.classifiers, channels),
        SCORERS[2]: trees,
    }
    base = {"layer": layer, "case": case, "tree_seed": seed, "n_passes": n_passes}
    out = [{**base, "scorer": name, **layer_summary(true, s, classes)} for name, s in scores.items()]
    print(
        f"{layer} tree seed {seed}: "
        + "; ".join(f"{r['scorer']} {r['accuracy']:.3f} / {r['macro_auc']:.3f}" for r in out),
        flush=True,
    )
    return out


def summary_table(frame: pd.DataFrame) -> str:
    """Markdown: mean ± sd over the tree seeds per layer and scorer, then the paired differences."""
    cells = " | ".join(SHOWN)
    lines = [f"| layer | spectra | scorer | tree seeds | {cells} |", "|---|---|---|---|" + "---|" * len(SHOWN)]
    for (layer, scorer), group in frame.groupby(["layer", "scorer"], sort=False):
        values = [f"{group[c].mean():.3f} ± {group[c].std(ddof=1):.3f}" for c in SHOWN]
        lines.append(f"| {layer} | {int(group['n'].iloc[0])} | {scorer} | {len(group)} | " + " | ".join(values) + " |")
    lines += [
        "",
        "Paired differences, blend (MC dropout) - trees alone of the same seed (mean ± sd; "
        "wins = seeds where the blend is higher, ties = equal):",
        "",
        "| layer | tree seeds | accuracy | wins / ties | macro AUC | wins / ties |",
        "|---|---|---|---|---|---|",
    ]
    for layer, group in frame.groupby("layer", sort=False):
        by_scorer = {s: g.set_index("tree_seed") for s, g in group.groupby("scorer")}
        cells = []
        for column in ("accuracy", "macro_auc"):
            diff = by_scorer[SCORERS[0]][column] - by_scorer[SCORERS[2]][column]
            wins, ties = int((diff > 1e-9).sum()), int((diff.abs() <= 1e-9).sum())
            cells += [f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f}", f"{wins} / {ties}"]
        lines.append(f"| {layer} | {len(diff)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, required=True, help="a model folder of network + tree blends")
    parser.add_argument("--layers", default="layer1", help="comma-separated layers")
    parser.add_argument("--case", default="S")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated tree seeds")
    parser.add_argument("--passes", type=int, default=100)
    parser.add_argument("--work", type=Path, required=True, help="folder for the re-blended classifiers")
    parser.add_argument("--table", type=Path, required=True, help="output path without suffix")
    parser.add_argument("--data-root", default=os.environ.get("CCSNSCORE_DATA_ROOT"))
    parser.add_argument("--cache-dir", default=os.environ.get("CCSNSCORE_CACHE_DIR", ".cache/ccsnscore"))
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    if len(seeds) < 2 or args.passes < 1:
        parser.error("give at least two --seeds and --passes of at least 1")
    if not args.models.is_dir():
        parser.error(f"no model folder: {args.models}")
    if args.data_root is None:
        parser.error("give --data-root or set CCSNSCORE_DATA_ROOT")
    layers = args.layers.split(",")
    try:
        source, (weight, window) = blend_source(args.models, layers, args.case, args.work)
    except (ValueError, OSError) as err:
        parser.error(str(err))
    # the test inputs depend on the preprocessing only, which re-blending leaves as it is
    inputs = {
        layer: layer_test_inputs(
            load_model_set(source, args.case, layers=[layer]), layer, args.data_root, args.cache_dir
        )
        for layer in layers
    }
    rows = []
    for seed in seeds:
        folder = args.work / f"seed{seed}"
        blend_run(source, folder, args.data_root, args.cache_dir, weight, seed, window)
        for layer in layers:
            rows += seed_rows(folder / "classifiers", layer, args.case, seed, args.passes, *inputs[layer])
    frame = pd.DataFrame(rows)
    write_tables(
        frame,
        args.table,
        f"# The trees' seed: blends re-fitted with trees of {len(seeds)} seeds (case {args.case})",
        "Produced by `python experiments/blend_tree_seeds.py " + " ".join(argv or sys.argv[1:]) + "`. The "
        f"networks of `{args.models}` are fixed; their trees (weight {weight}, {window}-pixel continuum "
        "window) are fitted again with each seed on the same non-test rows. `trees alone` is the report's "
        "tree baseline of that seed. Accuracy counts ambiguous spectra as wrong; `confident`: score > 0.8 "
        f"and std < 0.05; MC dropout with {args.passes} passes of MC seed 0.",
        summary_table(frame),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
