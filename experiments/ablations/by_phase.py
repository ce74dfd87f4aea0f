"""Recall by phase of the networks, the trees and their blend (a probe on cached scores).

    python experiments/ablations/by_phase.py --experiment layer1_S --out outputs/ablations \
        --variants C1,C1_hyb --data-root ../shared/data/ccsn-public \
        --table experiments/ablations/layer1_S_by_phase

Reads what ``score.py --mc-scope head --blend 0.5 --tree-continuum N`` leaves behind: each run's
100-pass MC means on the test split (``test_scores_head.csv``) and the tree baseline's test scores
(``_tree/*.scores.csv``; run ``k`` of a variant paired with tree seed ``k mod 3``, as score.py pairs
them). Each scorer decides by its highest score (no ambiguity rule): the network alone, the trees
alone and their equal-weight blend. Per scorer, true class and phase bin (days from maximum light,
the bins of the evaluation reports): the correct spectra as mean ± sd over the runs, of ``n``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from cached import TREE_SEEDS, baseline_tree_scores, decisions, probe_parser, write_tables
from run import CLASSES  # each layer's classes, as run.py trains them

from ccsnscore.evaluation.metrics import recall_by_phase
from ccsnscore.evaluation.report import PHASE_EDGES

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    parser = probe_parser(__doc__)
    parser.add_argument("--data-root", required=True, help="the dataset whose metadata.csv gives each spectrum's phase")
    args = parser.parse_args(argv)
    layer = args.experiment.split("_")[0]
    classes = list(CLASSES[layer])
    root = Path(args.out) / args.experiment
    trees = baseline_tree_scores(root)
    metadata = pd.read_csv(Path(args.data_root) / "metadata.csv").drop_duplicates("specfilename")
    phase_of = pd.to_numeric(metadata.set_index("specfilename")["phase"], errors="coerce")
    rows = []
    for variant in args.variants.split(","):
        for k, run_dir in enumerate(sorted((root / variant).glob("seed*"))):
            test = pd.read_csv(run_dir / "test_scores_head.csv")
            tree = trees.loc[test["specfilename"]]
            network = {c: test[f"mc_{c}"].to_numpy() for c in classes}
            forest = {c: tree[f"{c}@{k % TREE_SEEDS}"].to_numpy() for c in classes}
            scorers = {
                "network": network,
                "trees": forest,
                "blend": {c: 0.5 * network[c] + 0.5 * forest[c] for c in classes},
            }
            phase = phase_of.loc[test["specfilename"]].to_numpy(float)
            for scorer, scores in scorers.items():
                table = recall_by_phase(test["true"], decisions(scores, classes), phase, classes, PHASE_EDGES)
                rows.append(table.assign(variant=variant, run=run_dir.name, scorer=scorer))
    table = pd.concat(rows, ignore_index=True)
    out = Path(args.table or HERE / f"{args.experiment}_by_phase")
    keys = ["variant", "scorer", "true_class", "phase_bin"]
    summary = table.groupby(keys, sort=False).agg(
        n=("n", "first"), correct=("n_correct", "mean"), correct_sd=("n_correct", "std"), runs=("run", "nunique")
    )
    bins = list(dict.fromkeys(table["phase_bin"]))
    lines = [
        f"# {args.experiment}: correct test spectra by phase (days from maximum), mean ± sd over runs, of n",
        "",
        "| variant | scorer | runs | class | " + " | ".join(bins) + " |",
        "|---|---|---|---|" + "---|" * len(bins),
    ]
    for (variant, scorer, cls), group in summary.groupby(level=[0, 1, 2], sort=False):
        group = group.droplevel([0, 1, 2])
        cells = [
            f"{group.loc[b, 'correct']:.1f} ± {group.loc[b, 'correct_sd']:.1f} of {group.loc[b, 'n']}"
            if b in group.index
            else "-"
            for b in bins
        ]
        lines.append(f"| {variant} | {scorer} | {int(group['runs'].max())} | {cls} | " + " | ".join(cells) + " |")
    write_tables(table, lines, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
