"""The trees' continuum window: tree baselines whose continuum-removed features use another running
mean than the 15 pixels that ship, on the test split and on held-out scores of the non-test SEDM
spectra (a probe; no network involved).

    python experiments/ablations/tree_windows.py --models src/ccsnscore/pretrained \
        --data-root ../shared/data/ccsn-public --cache-dir .cache --windows 7,15,31,7+31 \
        --seeds 2 --table experiments/ablations/tree_windows

``--models``: a model folder of case S (its classifiers fix the preprocessing and labels; the
observed-frame folder for observed-frame spectra). For every layer of ``--layers`` (default 1, 2a,
2b) and window (``a+b``: both continuum-removed spectra beside the flux), one
tree per class (:func:`ccsnscore.evaluation.baseline.fit_tree`) per seed:

- test split: fitted on every non-test row of the layer, scored on the test rows;
- held out: every non-test SEDM spectrum scored by trees fitted without its object's fold (5 folds
  by ``folds.fold_of``, as the cross-fitting networks of ``stacking.py``).

Each spectrum goes to the class with the highest score; accuracy and macro AUC, mean ± sd over the
tree seeds. The held-out rows are four times the test split's: choose on them, confirm on the test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cached import decisions, write_tables
from folds import fold_of
from score import UNCLASSIFIED
from sklearn.metrics import roc_auc_score

from ccsnscore.evaluation.baseline import fit_tree, tree_features
from ccsnscore.evaluation.testset import labelled_samples
from ccsnscore.inference.model_set import load_model_set

LAYERS = ("layer1", "layer2a", "layer2b")
N_FOLDS = 5


def window_features(arrays, windows: list[int]) -> np.ndarray:
    """The flux grid followed by its continuum-removed copy for each window."""
    parts = [tree_features(arrays, "S", continuum_window=0)]
    flux_width = parts[0].shape[1]
    parts += [tree_features(arrays, "S", continuum_window=w)[:, flux_width:] for w in windows]
    return np.concatenate(parts, axis=1)


def scored(features, truth, fit_rows, score_rows, classes, seed) -> dict[str, np.ndarray]:
    return {
        c: fit_tree(features[fit_rows], truth[fit_rows] == c, seed).predict_proba(features[score_rows])[:, 1]
        for c in classes
    }


def figures(truth, scores, classes) -> dict:
    called = decisions(scores, classes)
    aucs = [roc_auc_score(truth == c, scores[c]) for c in classes if 0 < (truth == c).sum() < len(truth)]
    return {"n": len(truth), "accuracy": float((called == truth).mean()), "macro_auc": float(np.mean(aucs))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--windows", default="7,15,31,7+31")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layers of the model folder")
    parser.add_argument("--table", default=str(Path(__file__).resolve().parent / "tree_windows"))
    args = parser.parse_args(argv)
    layers = args.layers.split(",")
    model_set = load_model_set(Path(args.models), "S", layers=layers)
    table, arrays, _ = labelled_samples(model_set, args.data_root, args.cache_dir, "checkpoint", UNCLASSIFIED)
    is_test = table["is_test"].to_numpy()
    sedm = (table["source"].astype(str) == "sedm").to_numpy()
    fold = table["name"].astype(str).map(lambda n: fold_of(n, N_FOLDS)).to_numpy()
    rows = []
    for spec in args.windows.split(","):
        features = window_features(arrays, [int(w) for w in spec.split("+")])
        for layer in layers:
            truth = table[f"true_{layer}"].to_numpy(object)
            classes = list(model_set.layers[layer])
            in_layer = truth != ""
            train, test = in_layer & ~is_test, in_layer & is_test
            held = train & sedm
            for seed in range(args.seeds):
                base = {"window": spec, "layer": layer, "seed": seed}
                rows.append(
                    {
                        **base,
                        "rows": "test",
                        **figures(truth[test], scored(features, truth, train, test, classes, seed), classes),
                    }
                )
                held_scores = {c: np.full(len(truth), np.nan) for c in classes}
                for k in range(N_FOLDS):
                    out_rows = held & (fold == k)
                    fold_scores = scored(features, truth, train & (fold != k), out_rows, classes, seed)
                    for c in classes:
                        held_scores[c][out_rows] = fold_scores[c]
                rows.append(
                    {
                        **base,
                        "rows": "held-out SEDM",
                        **figures(truth[held], {c: s[held] for c, s in held_scores.items()}, classes),
                    }
                )
                print(rows[-2], rows[-1], flush=True)
    result = pd.DataFrame(rows)
    lines = [
        "# Tree baselines by continuum window (case S; mean ± sd over "
        f"{args.seeds} tree seeds; decision by the highest score)",
        "",
        "Produced by `python experiments/ablations/tree_windows.py " + " ".join(argv or sys.argv[1:]) + "`. "
        "`held-out SEDM`: every non-test SEDM "
        f"spectrum scored by trees fitted without its object's fold ({N_FOLDS} folds).",
        "",
        "| window | layer | rows | spectra | accuracy | macro AUC |",
        "|---|---|---|---|---|---|",
    ]
    for layer in layers:
        for rows_label in ("test", "held-out SEDM"):
            for spec in args.windows.split(","):
                group = result[(result["layer"] == layer) & (result["rows"] == rows_label) & (result["window"] == spec)]
                cells = [f"{group[k].mean():.3f} ± {group[k].std():.3f}" for k in ("accuracy", "macro_auc")]
                n = int(group["n"].iloc[0])
                lines.append(f"| {spec} | {layer} | {rows_label} | {n} | " + " | ".join(cells) + " |")
    write_tables(result, lines, Path(args.table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
