"""Blends judged on held-out scores of every non-test spectrum (cross-fitting; a probe).

    python experiments/ablations/folds.py --data-root ../shared/data/ccsn-public --out outputs/ablations
    python experiments/ablations/run.py --experiment layer1_S --variants C1 --folds 5 --seeds 1,2,3 \
        --out outputs/ablations
    python experiments/ablations/stacking.py --variant C1 --out outputs/ablations \
        --data-root ../shared/data/ccsn-public --cache-dir .cache --table experiments/ablations/layer1_S_stacking

The test split has 221 layer-1 spectra, too few to choose among blends without choosing for that
split. Here every non-test spectrum gets scores from parts that never saw it: the network of fold
``k`` (``<variant>_fold<k>``, ``run.py --folds 5``: trained, validated and stopped without fold
``k``'s objects), scored with 100 Monte-Carlo-dropout passes in the dense head (``score.py``'s
``run_metrics``); the trees of the baseline (:func:`ccsnscore.evaluation.baseline.fit_tree` on the
flux grid + continuum-removed flux, 15-pixel window unless ``--tree-continuum``, three tree
seeds) and an RBF support-vector machine on
the same standardised features, both fitted on the other folds' rows (computed once, cached in
``<out>/layer1_S/_stacking_baselines.csv``). Each blend is then scored on the held-out SEDM spectra
(the test split's domain) and on all held-out spectra: accuracy with the ambiguity rule (spread: the
network's share of its Monte-Carlo spread), macro AUC and the confident set (P > 0.8, std < 0.05);
mean ± sd over the network seeds (seed ``s`` paired with tree seed ``s mod 3``), and for the deep
ensemble of the seeds' networks over the three tree seeds. ``stack`` is a logistic regression on the
parts' logits, fitted on four folds' held-out scores and applied to the fifth (nested; the fold's
own rows never fit it). Young spectra: before -5 d from maximum.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from cached import write_tables
from calibration import logit, sigmoid
from folds import fold_of
from score import UNCLASSIFIED, run_metrics
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ccsnscore.evaluation.baseline import fit_tree, tree_features
from ccsnscore.evaluation.metrics import layer_summary
from ccsnscore.evaluation.testset import labelled_samples
from ccsnscore.inference.model_set import load_model_set

CLASSES = ["Hrich", "Hpoor"]
HERE = Path(__file__).resolve().parent
TEST_SPLIT = HERE.parent / "splits" / "ccsn-public-test.csv"
N_FOLDS = 5
TREE_SEEDS = (0, 1, 2)
YOUNG = -5.0


def fit_svm(features, labels):
    model = make_pipeline(StandardScaler(), SVC(C=1.0, probability=True, class_weight="balanced", random_state=0))
    return model.fit(np.nan_to_num(features), labels)


def _layer_rows(run: Path, data_root, cache_dir, window: int = 15):
    """The non-test layer-1 spectra (table rows), their features and their folds."""
    model_set = load_model_set(run / "classifiers", "S", layers=["layer1"])
    table, arrays, _ = labelled_samples(model_set, data_root, cache_dir, "all", UNCLASSIFIED)
    test_names = set(pd.read_csv(TEST_SPLIT, dtype={"name": str})["name"])
    truth = table["true_layer1"].to_numpy(object)
    rows = (truth != "") & ~table["name"].isin(test_names).to_numpy()
    fold = table["name"].map(lambda n: fold_of(n, N_FOLDS)).to_numpy()
    return table, rows, fold, tree_features(arrays, "S", continuum_window=window)


def fold_runs(out: Path, seed: int, variant: str = "C1") -> list[Path]:
    runs = [out / "layer1_S" / f"{variant}_fold{k}" / f"seed{seed}" for k in range(N_FOLDS)]
    missing = [str(r) for r in runs if not (r / "classifiers").is_dir()]
    if missing:
        raise SystemExit(f"fold runs not finished: {missing} (run.py --variants {variant} --folds {N_FOLDS})")
    return runs


def held_out_baselines(out: Path, data_root, cache_dir, window: int = 15) -> pd.DataFrame:
    """Held-out scores of every non-test layer-1 spectrum by the trees (``tree<seed>_<c>``) and the
    SVM (``svm_<c>``), fitted fold by fold, with ``fold``, ``source``, ``phase`` and ``true``."""
    table, rows, fold, features = _layer_rows(fold_runs(out, 1)[0], data_root, cache_dir, window)
    truth = table["true_layer1"].to_numpy(object)
    parts = pd.DataFrame(
        {
            "specfilename": table["specfilename"].to_numpy(object)[rows],
            "fold": fold[rows],
            "source": table["source"].to_numpy(object)[rows],
            "phase": pd.to_numeric(table["phase"], errors="coerce").to_numpy(float)[rows],
            "true": truth[rows],
        }
    )
    for k in range(N_FOLDS):
        here = (parts["fold"] == k).to_numpy()
        fit_rows, held = rows & (fold != k), np.flatnonzero(rows)[here]
        for c in CLASSES:
            label = truth[fit_rows] == c
            for seed in TREE_SEEDS:
                model = fit_tree(features[fit_rows], label, seed)
                parts.loc[here, f"tree{seed}_{c}"] = model.predict_proba(features[held])[:, 1]
            svm = fit_svm(features[fit_rows], label)
            parts.loc[here, f"svm_{c}"] = svm.predict_proba(np.nan_to_num(features[held]))[:, 1]
        print(f"fold {k}: {here.sum()} held-out spectra scored by the trees and the SVM", flush=True)
    return parts


def held_out_network(parts: pd.DataFrame, out: Path, variant: str, seed: int, data_root, cache_dir) -> pd.DataFrame:
    """``net_<c>`` and ``net_<c>_std`` of ``parts``' rows: each fold's 100-pass MC mean and spread
    (dense head) by the network of network seed ``seed`` that never saw the fold."""
    columns = {f"net_{c}{s}": np.full(len(parts), np.nan) for c in CLASSES for s in ("", "_std")}
    for k, run in enumerate(fold_runs(out, seed, variant)):
        run_metrics(run, "layer1", "S", data_root, cache_dir, mc_scope="head")
        scores = pd.read_csv(run / "test_scores_head.csv").set_index("specfilename")
        here = (parts["fold"] == k).to_numpy()
        for c in CLASSES:
            columns[f"net_{c}"][here] = scores.loc[parts["specfilename"][here], f"mc_{c}"].to_numpy()
            columns[f"net_{c}_std"][here] = scores.loc[parts["specfilename"][here], f"mc_{c}_std"].to_numpy()
    return pd.DataFrame(columns, index=parts.index)


def ensemble(networks: list[pd.DataFrame]) -> pd.DataFrame:
    """A deep ensemble of the seeds' networks, as ``ensemble=N`` scores: the mean of their MC means,
    the spread of the members' own passes (root mean variance)."""
    combined = {}
    for c in CLASSES:
        combined[f"net_{c}"] = np.mean([n[f"net_{c}"] for n in networks], axis=0)
        combined[f"net_{c}_std"] = np.sqrt(np.mean([n[f"net_{c}_std"] ** 2 for n in networks], axis=0))
    return pd.DataFrame(combined, index=networks[0].index)


def stacked(parts: pd.DataFrame, columns: list[str], c: str) -> np.ndarray:
    """Nested: each fold's rows scored by a logistic regression fitted on the other folds' rows."""
    x = np.stack([logit(parts[col]) for col in columns], axis=1)
    y = (parts["true"] == c).to_numpy()
    result = np.zeros(len(parts))
    for k in range(N_FOLDS):
        here = (parts["fold"] == k).to_numpy()
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x[~here], y[~here])
        result[here] = model.predict_proba(x[here])[:, 1]
    return result


def blends(parts: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """Score tables (``<c>``, ``<c>_std``) of each blend of ``parts``' network with tree seed ``seed``."""
    out = {}
    for name in ("trees", "svm", "network", "net+trees", "net+trees logit", "net+svm", "net+trees+svm", "stack"):
        table = {}
        for c in CLASSES:
            net, std, tree, svm = (
                parts[f"net_{c}"],
                parts[f"net_{c}_std"],
                parts[f"tree{seed}_{c}"],
                parts[f"svm_{c}"],
            )
            if name == "trees":
                table[c], table[f"{c}_std"] = tree, 0.0 * std
            elif name == "svm":
                table[c], table[f"{c}_std"] = svm, 0.0 * std
            elif name == "network":
                table[c], table[f"{c}_std"] = net, std
            elif name == "net+trees":
                table[c], table[f"{c}_std"] = 0.5 * net + 0.5 * tree, 0.5 * std
            elif name == "net+trees logit":
                table[c], table[f"{c}_std"] = sigmoid(0.5 * logit(net) + 0.5 * logit(tree)), 0.5 * std
            elif name == "net+svm":
                table[c], table[f"{c}_std"] = 0.5 * net + 0.5 * svm, 0.5 * std
            elif name == "net+trees+svm":
                table[c], table[f"{c}_std"] = (net + tree + svm) / 3, std / 3
            else:
                fitted = stacked(parts.assign(tree=tree), [f"net_{c}", "tree", f"svm_{c}"], c)
                table[c], table[f"{c}_std"] = fitted, 0.0 * std
        out[name] = pd.DataFrame(table).reset_index(drop=True)
    return out


def summarise(parts: pd.DataFrame, label: str, tree_seed: int) -> list[dict]:
    rows = []
    for name, scores in blends(parts, tree_seed).items():
        for scope, mask in (("SEDM", (parts["source"] == "sedm").to_numpy()), ("all", np.ones(len(parts), bool))):
            true = parts["true"].to_numpy()[mask]
            summary = layer_summary(true, scores[mask].reset_index(drop=True), CLASSES)
            called = np.asarray(CLASSES)[scores[CLASSES].to_numpy()[mask].argmax(1)]
            young = (parts["phase"].to_numpy()[mask] < YOUNG) & (true == "Hpoor")
            rows.append(
                {
                    "network": label,
                    "blend": name,
                    "scope": scope,
                    "tree_seed": tree_seed,
                    "n": int(mask.sum()),
                    **{k: summary[k] for k in ("accuracy", "macro_auc", "confident_fraction", "confident_accuracy")},
                    **{f"recall_{c}": float((called[true == c] == c).mean()) for c in CLASSES},
                    "young_Hpoor_right": int((called[young] == "Hpoor").sum()),
                    "young_Hpoor": int(young.sum()),
                }
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs/ablations")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--variant", default="C1", help="the variant whose <variant>_fold<k> runs score the spectra")
    parser.add_argument("--seeds", default="1,2,3", help="network seeds of the fold runs")
    parser.add_argument("--table", default=str(HERE / "layer1_S_stacking"))
    parser.add_argument(
        "--tree-continuum", type=int, default=15, help="running-mean window of the trees' continuum-removed flux"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    window = args.tree_continuum
    cached = out / "layer1_S" / ("_stacking_baselines.csv" if window == 15 else f"_stacking_baselines_cont{window}.csv")
    if cached.is_file():
        baselines = pd.read_csv(cached)
    else:
        baselines = held_out_baselines(out, args.data_root, args.cache_dir, window)
        baselines.to_csv(cached, index=False)
    seeds = [int(s) for s in args.seeds.split(",")]
    networks = {s: held_out_network(baselines, out, args.variant, s, args.data_root, args.cache_dir) for s in seeds}
    rows = []
    for s, network in networks.items():  # network seed s is paired with tree seed s mod 3, as score.py pairs them
        rows += summarise(pd.concat([baselines, network], axis=1), "single seed", s % len(TREE_SEEDS))
    if len(seeds) > 1:
        combined = ensemble(list(networks.values()))
        for tree_seed in TREE_SEEDS:
            rows += summarise(pd.concat([baselines, combined], axis=1), f"ensemble of {len(seeds)}", tree_seed)
    result = pd.DataFrame(rows)
    lines = [
        f"# layer1_S: `{args.variant}` and its blends on held-out scores of the non-test spectra "
        "(cross-fitting, 5 folds)",
        "",
        f"Produced by `python experiments/ablations/stacking.py` (trees: {window}-pixel continuum window). "
        "Single seed: mean ± sd over the network "
        f"seeds {args.seeds} (each with one tree seed); ensemble: one ensemble, mean ± sd over the 3 tree seeds. "
        "Accuracy counts ambiguous as wrong; `confident`: P > 0.8 and std < 0.05; "
        "recall and young H-poor (before -5 d): decided by the higher score.",
        "",
        "| network | blend | spectra | accuracy | macro AUC | confident share | confident accuracy "
        "| recall H-rich | recall H-poor | young H-poor right |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    figures = ("accuracy", "macro_auc", "confident_fraction", "confident_accuracy", *(f"recall_{c}" for c in CLASSES))
    for (scope, network, name), group in result.groupby(["scope", "network", "blend"], sort=False):
        cells = [f"{group[k].mean():.3f} ± {group[k].std():.3f}" for k in figures]
        young = f"{group['young_Hpoor_right'].mean():.1f} of {group['young_Hpoor'].iloc[0]}"
        lines.append(f"| {network} | {name} | {scope} ({group['n'].iloc[0]}) | " + " | ".join(cells) + f" | {young} |")
    write_tables(result, lines, Path(args.table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
