"""Temperature scaling and logit-space blending of finished ablation runs (a probe on cached scores).

    python experiments/ablations/calibration.py --experiment layer1_S --out outputs/ablations \
        --variants C1,C1_hyb --table experiments/ablations/layer1_S_calibration

Reads what ``score.py --mc-scope head --blend auto --tree-continuum N`` leaves behind: each run's
test scores (``test_scores_head.csv``: 100-pass MC means), its validation-row scores
(``val_scores_tree<k>_cont<N>.csv``: the network with dropout off and a tree fitted on the run's
training rows only) and the tree baseline's test scores (``_tree/*.scores.csv``; run ``k`` of a
variant is paired with tree seed ``k mod 3``, as score.py pairs them). For every classifier it fits
one temperature per part (network, trees) by the lowest log loss on the validation rows and scores
the test split four ways:

- ``mean``: ``0.5 x network + 0.5 x trees`` (what a blended classifier file computes);
- ``T_both``: the same mean of the temperature-scaled network and trees;
- ``T_trees``: only the trees temperature-scaled;
- ``logit_mean``: ``sigmoid(0.5 x logit(network) + 0.5 x logit(trees))``.

The temperature is applied to the MC mean, not to each pass, and a layer decides by its highest
score (no ambiguity rule), so ``accuracy`` here is not the tables' ambiguous-counted-as-wrong one.
``log_loss`` is the test split's mean one-vs-rest log loss (lower: better calibrated).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cached import TREE_SEEDS, baseline_tree_scores, decisions, probe_parser, write_tables
from run import CLASSES  # each layer's classes, as run.py trains them
from scipy.optimize import minimize_scalar
from sklearn.metrics import roc_auc_score

from ccsnscore.evaluation.blend_weight import log_loss

HERE = Path(__file__).resolve().parent
MODES = ("mean", "T_both", "T_trees", "logit_mean")


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fit_temperature(probability, labels) -> float:
    """The temperature ``T`` (0.05-20) that minimises the log loss of ``sigmoid(logit(p) / T)``."""
    z = logit(probability)
    found = minimize_scalar(lambda t: log_loss(sigmoid(z / np.exp(t)), labels), bounds=(-3, 3), method="bounded")
    return float(np.exp(found.x))


def blended(mode: str, network, trees, t_network: float, t_trees: float) -> np.ndarray:
    if mode == "logit_mean":
        return sigmoid(0.5 * logit(network) + 0.5 * logit(trees))
    if mode == "T_both":
        network = sigmoid(logit(network) / t_network)
    if mode in ("T_both", "T_trees"):
        trees = sigmoid(logit(trees) / t_trees)
    return 0.5 * np.asarray(network) + 0.5 * np.asarray(trees)


def run_rows(run_dir: Path, tree_scores: pd.DataFrame, tree_seed: int, classes, window: int) -> list[dict]:
    test = pd.read_csv(run_dir / "test_scores_head.csv")
    val = pd.read_csv(run_dir / f"val_scores_tree{tree_seed}_cont{window}.csv")
    trees = tree_scores.loc[test["specfilename"]]
    truth = test["true"].to_numpy()
    temperatures = {
        c: (fit_temperature(val[f"net_{c}"], val[f"label_{c}"]), fit_temperature(val[f"tree_{c}"], val[f"label_{c}"]))
        for c in classes
    }
    rows = []
    for mode in MODES:
        scores = {
            c: blended(mode, test[f"mc_{c}"], trees[f"{c}@{tree_seed}"].to_numpy(), *temperatures[c]) for c in classes
        }
        decided = decisions(scores, classes)
        rows.append(
            {
                "mode": mode,
                "run": run_dir.name,
                "accuracy": float((decided == truth).mean()),
                "macro_auc": float(np.mean([roc_auc_score(truth == c, scores[c]) for c in classes])),
                "log_loss": float(np.mean([log_loss(scores[c], (truth == c).astype(int)) for c in classes])),
                **{f"T_network_{c}": t[0] for c, t in temperatures.items()},
                **{f"T_trees_{c}": t[1] for c, t in temperatures.items()},
            }
        )
    return rows


def main(argv=None) -> int:
    parser = probe_parser(__doc__)
    parser.add_argument("--tree-continuum", type=int, default=15)
    args = parser.parse_args(argv)
    layer = args.experiment.split("_")[0]
    classes = list(CLASSES[layer])
    root = Path(args.out) / args.experiment
    tree_scores = baseline_tree_scores(root)
    rows = []
    for variant in args.variants.split(","):
        runs = sorted((root / variant).glob("seed*"))
        for k, run_dir in enumerate(runs):
            for row in run_rows(run_dir, tree_scores, k % TREE_SEEDS, classes, args.tree_continuum):
                rows.append({"variant": variant, **row})
    table = pd.DataFrame(rows)
    out = Path(args.table or HERE / f"{args.experiment}_calibration")
    summary = table.groupby(["variant", "mode"], sort=False)[["accuracy", "macro_auc", "log_loss"]].agg(["mean", "std"])
    lines = [
        f"# {args.experiment}: temperature scaling and logit-space blends, fixed test split "
        "(mean ± sd over seeds; decision: highest score)",
        "",
        "| variant | blend | seeds | accuracy | ROC AUC (macro) | log loss |",
        "|---|---|---|---|---|---|",
    ]
    for (variant, mode), row in summary.iterrows():
        n = int((table["variant"].eq(variant) & table["mode"].eq(mode)).sum())
        cells = [f"{row[(m, 'mean')]:.3f} ± {row[(m, 'std')]:.3f}" for m in ("accuracy", "macro_auc", "log_loss")]
        lines.append(f"| {variant} | {mode} | {n} | " + " | ".join(cells) + " |")
    write_tables(table, lines, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
