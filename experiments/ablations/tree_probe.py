"""What the layer-1 trees see of young H-poor spectra: trees with early spectra weighted up, and trees
on one half of their features (a probe; no network involved).

    python experiments/ablations/tree_probe.py --run outputs/ablations/layer1_S/C1/seed1 \
        --data-root ../shared/data/ccsn-public --cache-dir .cache \
        --table experiments/ablations/layer1_S_tree_probe

``--run``: any finished layer-1 case-S run (its classifiers only fix the preprocessing and the
labels). Trees as the baseline's (:func:`ccsnscore.evaluation.baseline.fit_tree`, three seeds) on
the same non-test rows and features (flux grid + 15-pixel continuum-removed flux), varied one way
at a time: training spectra before ``cut`` days from maximum weighted ``factor`` times (cut -5 and
0, factor 2 and 4), or only the continuum-removed half / only the flux half of the features. Each
tree pair decides by the higher score; the table gives accuracy, AUC and the young (before -5 d)
H-poor and H-rich test spectra called right, mean ± sd over the tree seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cached import decisions
from score import UNCLASSIFIED
from sklearn.metrics import roc_auc_score

from ccsnscore.evaluation.baseline import fit_tree, tree_features
from ccsnscore.evaluation.testset import labelled_samples
from ccsnscore.inference.model_set import load_model_set

CLASSES = ["Hrich", "Hpoor"]
YOUNG = -5.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--table", default=str(Path(__file__).resolve().parent / "layer1_S_tree_probe"))
    args = parser.parse_args(argv)
    model_set = load_model_set(Path(args.run) / "classifiers", "S", layers=["layer1"])
    table, arrays, _ = labelled_samples(model_set, args.data_root, args.cache_dir, "checkpoint", UNCLASSIFIED)
    in_layer = (table["true_layer1"] != "").to_numpy()
    test, train = table["is_test"].to_numpy() & in_layer, ~table["is_test"].to_numpy() & in_layer
    features = tree_features(arrays, "S", continuum_window=15)
    half = features.shape[1] // 2
    truth = table["true_layer1"].to_numpy(object)
    phase = pd.to_numeric(table["phase"], errors="coerce").to_numpy(float)
    young = phase[test] < YOUNG
    every = slice(None)
    probes = [("baseline", every, None, 1.0)]
    probes += [(f"early x{f}, before {c:g} d", every, c, f) for c in (-5.0, 0.0) for f in (2.0, 4.0)]
    probes += [
        ("continuum-removed half only", slice(half, None), None, 1.0),
        ("flux half only", slice(0, half), None, 1.0),
    ]
    rows = []
    for name, columns, cut, factor in probes:
        weight = None if cut is None else np.where(phase[train] < cut, factor, 1.0)
        for seed in (0, 1, 2):
            scores = {
                c: fit_tree(features[train][:, columns], truth[train] == c, seed, weight).predict_proba(
                    features[test][:, columns]
                )[:, 1]
                for c in CLASSES
            }
            called, true = decisions(scores, CLASSES), truth[test]
            rows.append(
                {
                    "probe": name,
                    "seed": seed,
                    "accuracy": float((called == true).mean()),
                    "auc_Hpoor": float(roc_auc_score(true == "Hpoor", scores["Hpoor"])),
                    "young_Hpoor_right": int(((called == true) & young & (true == "Hpoor")).sum()),
                    "young_Hrich_right": int(((called == true) & young & (true == "Hrich")).sum()),
                }
            )
        print(rows[-1], flush=True)
    result = pd.DataFrame(rows)
    out = Path(args.table)
    result.to_csv(out.with_suffix(".csv"), index=False)
    n_hpoor, n_hrich = int((young & (truth[test] == "Hpoor")).sum()), int((young & (truth[test] == "Hrich")).sum())
    lines = [
        "# layer1_S trees: early spectra weighted, or half of the features "
        "(fixed test split, mean ± sd over 3 tree seeds)",
        "",
        f"| trees | accuracy | AUC (H-poor) | young H-poor right (of {n_hpoor}) | young H-rich right (of {n_hrich}) |",
        "|---|---|---|---|---|",
    ]
    for name, group in result.groupby("probe", sort=False):
        cells = [f"{group[k].mean():.3f} ± {group[k].std():.3f}" for k in ("accuracy", "auc_Hpoor")]
        cells += [f"{group[k].mean():.1f} ± {group[k].std():.1f}" for k in ("young_Hpoor_right", "young_Hrich_right")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
