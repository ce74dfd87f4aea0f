"""Score finished ablation runs on the fixed test split and tabulate them (mean +- sd over seeds).

    python experiments/ablations/score.py [--experiment layer1_S] [--out outputs/ablations]
        [--variants a,b] [--table experiments/ablations/layer1_S]

For every run ``<out>/<experiment>/<variant>/seed<k>`` with all its classifiers: eval-mode
(dropout off) and 100-pass Monte-Carlo-dropout scores of the test split, decided with the paper's
rule; figures written to ``test_metrics.json`` in the run folder (computed once). Per variant the
seeds are also combined into a deep ensemble (mean of the seeds' MC means; spread: the seeds' own
MC spread, as the package's ensembles). The tree baseline (:mod:`ccsnscore.evaluation.baseline`,
seeds 0..N-1 of ``--tree-seeds N``, three by default) is trained on the same non-test rows of each
preprocessing; the k-th run is blended with tree seed k mod N, and the table ends with each blended
run (and its network alone) minus that seed's trees (paired differences). With ``--blend W``
each run and the ensemble are also scored blended with a tree of the baseline (``+tree`` rows;
``--tree-continuum N``: trees that also read the continuum-removed spectrum, ``tree+contN`` rows;
:class:`ccsnscore.model.network.BlendedClassifier`, trees weighing W; ``--blend auto``: each
classifier's weight chosen on its network's validation rows, as ``python -m
ccsnscore.evaluation.blend --tree-weight auto`` chooses it, ``+tree@auto`` rows). Writes
``<table>.csv`` (one row per run) and ``<table>.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from run import CLASSES  # each layer's classes, as run.py trains them

from ccsnscore.data.channels import build_channels
from ccsnscore.evaluation.baseline import tree_features, tree_scores
from ccsnscore.evaluation.blend import held_out_scores
from ccsnscore.evaluation.blend_weight import choose_tree_weight, validation_split
from ccsnscore.evaluation.metrics import layer_summary
from ccsnscore.evaluation.testset import labelled_samples
from ccsnscore.inference.mc_dropout import score_table
from ccsnscore.inference.model_set import load_model_set, unclassified_types

HERE = Path(__file__).resolve().parent
UNCLASSIFIED = unclassified_types()
SHOWN = [
    "accuracy",
    "macro_auc",
    "ambiguous_fraction",
    "confident_fraction",
    "confident_accuracy",
    "eval_accuracy",
    "eval_macro_auc",
]


def run_metrics(
    run_dir: Path, layer: str, case: str, data_root, cache_dir, n_passes: int = 100, mc_scope: str | None = None
) -> dict:
    """Test-split figures of one run (computed once); ``mc_scope`` overrides where the models'
    Monte-Carlo dropout acts (None: as recorded in them)."""
    suffix = f"_{mc_scope}" if mc_scope else ""
    cached = run_dir / f"test_metrics{suffix}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    model_set = load_model_set(run_dir / "classifiers", case, layers=[layer])
    for model in model_set.classifiers.values():
        model.mc_scope = mc_scope or getattr(model, "mc_scope", "all")
    table, arrays, _ = labelled_samples(model_set, data_root, cache_dir, "checkpoint", UNCLASSIFIED)
    rows = table["is_test"].to_numpy() & (table[f"true_{layer}"] != "").to_numpy()
    channels = build_channels({k: arrays[k][rows] for k in ("spectrum", "lc", "dmdt")}, case, arrays["bands"])
    true = table.loc[rows, f"true_{layer}"].to_numpy()
    classes = list(model_set.layers[layer])
    mc = score_table(model_set.classifiers, channels, n_passes, seed=0)
    with torch.no_grad():
        eval_scores = pd.DataFrame(
            {c: m.predict_proba(channels).numpy().astype(float) for c, m in model_set.classifiers.items()}
        )
    for c in classes:
        eval_scores[f"{c}_std"] = 0.0
    result = layer_summary(true, mc, classes)
    result.update({f"eval_{k}": v for k, v in layer_summary(true, eval_scores, classes).items()})
    train_metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").is_file() else {}
    result.update({k: v for k, v in train_metrics.items() if k.endswith(("val/loss_best", "epochs", "seconds"))})
    scores = pd.concat(
        [
            table.loc[rows, ["name", "specfilename", "source"]].reset_index(drop=True),
            pd.Series(true, name="true"),
            mc.add_prefix("mc_"),
            eval_scores.add_prefix("eval_"),
        ],
        axis=1,
    )
    scores.to_csv(run_dir / f"test_scores{suffix}.csv", index=False)
    cached.write_text(json.dumps(result, indent=1))
    return result


def ensemble_metrics(run_dirs: list[Path], classes: list[str], suffix: str = "") -> dict:
    """Deep ensemble of the runs, as :class:`ccsnscore.model.network.EnsembleClassifier` scores:
    the mean of their MC means; the spread of the members' own passes (root mean variance)."""
    tables = [pd.read_csv(d / f"test_scores{suffix}.csv") for d in run_dirs]
    true = tables[0]["true"].to_numpy()
    combined = {}
    for c in classes:
        means = np.stack([t[f"mc_{c}"].to_numpy() for t in tables])
        variances = np.stack([t[f"mc_{c}_std"].to_numpy() ** 2 for t in tables])
        combined[c] = means.mean(0)
        combined[f"{c}_std"] = np.sqrt(variances.mean(0))
        combined[f"eval_{c}"] = np.stack([t[f"eval_{c}"].to_numpy() for t in tables]).mean(0)
    combined = pd.DataFrame(combined)
    result = layer_summary(true, combined[[k for c in classes for k in (c, f"{c}_std")]], classes)
    eval_scores = pd.DataFrame({c: combined[f"eval_{c}"] for c in classes})
    for c in classes:
        eval_scores[f"{c}_std"] = 0.0
    result.update({f"eval_{k}": v for k, v in layer_summary(true, eval_scores, classes).items()})
    return result


def tree_metrics(
    run_dir: Path,
    layer: str,
    case: str,
    data_root,
    cache_dir,
    out: Path,
    seeds: tuple[int, ...] = (0, 1, 2),
    continuum_window: int = 0,
):
    """Test-split figures of the tree baseline, one per seed, and its test scores (``<class>@<seed>``
    columns, indexed by spectrum file); computed once per preprocessing and feature set
    (``continuum_window``, :func:`ccsnscore.model.trees.channel_features`)."""
    model_set = load_model_set(run_dir / "classifiers", case, layers=[layer])
    key = json.dumps(model_set.preprocessing.to_dict(), sort_keys=True)
    if continuum_window:
        key += f"|continuum_window={continuum_window}"
    if tuple(seeds) != (0, 1, 2):
        key += f"|seeds={list(seeds)}"
    cached = out / "_tree" / f"{case}_{layer}_{hashlib.sha256(key.encode()).hexdigest()[:12]}.json"
    scores_file = cached.with_suffix(".scores.csv")
    if cached.is_file() and scores_file.is_file():
        return json.loads(cached.read_text()), pd.read_csv(scores_file, index_col=0)
    table, arrays, _ = labelled_samples(model_set, data_root, cache_dir, "checkpoint", UNCLASSIFIED)
    in_layer = (table[f"true_{layer}"] != "").to_numpy()
    test = table["is_test"].to_numpy() & in_layer
    train = ~table["is_test"].to_numpy() & in_layer
    features = tree_features(arrays, case, continuum_window=continuum_window)
    classes = list(model_set.layers[layer])
    true_train = table.loc[train, f"true_{layer}"].to_numpy()
    true_test = table.loc[test, f"true_{layer}"].to_numpy()
    results, columns = [], {}
    for seed in seeds:
        probs = tree_scores(features[train], {c: true_train == c for c in classes}, features[test], seed)
        scores = pd.DataFrame({k: v for c in classes for k, v in ((c, probs[c]), (f"{c}_std", np.zeros(test.sum())))})
        results.append({"seed": seed, **layer_summary(true_test, scores, classes)})
        columns.update({f"{c}@{seed}": probs[c] for c in classes})
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(results, indent=1))
    tree_table = pd.DataFrame(columns, index=table.loc[test, "specfilename"].to_numpy())
    tree_table.to_csv(scores_file)
    return results, tree_table


def validation_scores(
    run_dir: Path, layer: str, case: str, data_root, cache_dir, tree_seed: int, continuum_window: int
) -> pd.DataFrame:
    """Scores of the run's validation rows (computed once): ``label_<class>``, ``net_<class>`` (one
    pass, dropout off) and ``tree_<class>`` (a tree of ``tree_seed`` fitted on the run's training
    rows), the inputs of :func:`ccsnscore.evaluation.blend_weight.choose_tree_weight`."""
    cached = run_dir / f"val_scores_tree{tree_seed}_cont{continuum_window}.csv"
    if cached.is_file():
        return pd.read_csv(cached)
    model_set = load_model_set(run_dir / "classifiers", case, layers=[layer])
    table, arrays, _ = labelled_samples(model_set, data_root, cache_dir, "checkpoint", UNCLASSIFIED)
    is_val, is_train = validation_split(table, layer, next(iter(model_set.classifiers.values())).metadata)
    features = tree_features(arrays, case, continuum_window=continuum_window)
    true = table[f"true_{layer}"].to_numpy(object)
    columns = {}
    for c, model in model_set.classifiers.items():
        columns[f"net_{c}"], columns[f"tree_{c}"] = held_out_scores(
            model, features, arrays, case, true == c, is_val, is_train, tree_seed
        )
        columns[f"label_{c}"] = (true[is_val] == c).astype(int)
    scores = pd.DataFrame(columns)
    scores.to_csv(cached, index=False)
    return scores


def held_out_weights(val_tables: list[pd.DataFrame], classes) -> dict[str, float]:
    """Each class's tree weight chosen on the validation rows (the networks' mean when several)."""
    return {
        c: choose_tree_weight(
            np.mean([t[f"net_{c}"].to_numpy() for t in val_tables], 0),
            val_tables[0][f"tree_{c}"].to_numpy(),
            val_tables[0][f"label_{c}"].to_numpy(),
        )[0]
        for c in classes
    }


def blend_metrics(
    run_dirs: list[Path], trees: pd.DataFrame, tree_seed: int, classes, weight: float | dict, suffix=""
) -> dict:
    """Figures of the runs' network (a deep ensemble when several, as :func:`ensemble_metrics`)
    blended with one seed of the tree baseline, as :class:`ccsnscore.model.network.BlendedClassifier`
    scores: ``(1 - weight) * network + weight * trees``; spread ``(1 - weight)`` times the network's.
    ``weight`` may be one per class (``{class: weight}``)."""
    tables = [pd.read_csv(d / f"test_scores{suffix}.csv") for d in run_dirs]
    true = tables[0]["true"].to_numpy()
    tree = trees.loc[tables[0]["specfilename"]]
    weights = weight if isinstance(weight, dict) else dict.fromkeys(classes, weight)
    mc, eval_scores = {}, {}
    for c in classes:
        weight = weights[c]
        t = tree[f"{c}@{tree_seed}"].to_numpy()
        mc[c] = (1 - weight) * np.mean([x[f"mc_{c}"].to_numpy() for x in tables], 0) + weight * t
        mc[f"{c}_std"] = (1 - weight) * np.sqrt(np.mean([x[f"mc_{c}_std"].to_numpy() ** 2 for x in tables], 0))
        eval_scores[c] = (1 - weight) * np.mean([x[f"eval_{c}"].to_numpy() for x in tables], 0) + weight * t
        eval_scores[f"{c}_std"] = 0.0
    result = layer_summary(true, pd.DataFrame(mc), classes)
    result.update({f"eval_{k}": v for k, v in layer_summary(true, pd.DataFrame(eval_scores), classes).items()})
    return result


def paired_differences(table: pd.DataFrame) -> list[str]:
    """Markdown lines: each blended run minus the tree seed it was blended with (rows with a
    ``tree_seed`` and the ``trees`` variant holding that seed), and the same run's network alone
    minus that tree seed (mean ± sd over runs; wins / ties), for accuracy and macro AUC."""
    if "tree_seed" not in table:
        return []
    lines, shown = [], set()
    for variant, group in table[table["tree_seed"].notna()].groupby("variant", sort=False):
        trees = table[table["variant"] == group["trees"].iloc[0]].set_index("run")
        seeds = [f"seed{int(s)}" for s in group["tree_seed"]]
        network = variant.split("+")[0]
        scorers = [(variant, group.set_index("run"))]
        if network not in shown:
            shown.add(network)
            scorers.append((f"{network} (network alone)", table[table["variant"] == network].set_index("run")))
        for scorer, rows in scorers:
            rows = rows.loc[group["run"]]
            cells = []
            for column in ("accuracy", "macro_auc"):
                diff = rows[column].to_numpy(float) - trees.loc[seeds, column].to_numpy(float)
                wins, ties = int((diff > 1e-9).sum()), int((np.abs(diff) <= 1e-9).sum())
                cells += [fmt(diff, signed=True), f"{wins} / {ties}"]
            lines.append(f"| {scorer} | {len(group)} | " + " | ".join(cells) + " |")
    if not lines:
        return []
    return [
        "",
        "Paired differences: each run, blended and as the network alone, minus the tree seed it was "
        "blended with (run k: tree seed k mod the number of tree seeds; mean ± sd over runs; wins = runs "
        "above their trees, ties = equal):",
        "",
        "| scorer | runs | accuracy | wins / ties | macro AUC | wins / ties |",
        "|---|---|---|---|---|---|",
        *lines,
    ]


def fmt(values, signed: bool = False) -> str:
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], float)
    if values.size == 0:
        return "-"
    sign = "+" if signed else ""
    return f"{values.mean():{sign}.3f} ± {values.std(ddof=1):.3f}" if values.size > 1 else f"{values[0]:{sign}.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="layer1_S")
    parser.add_argument("--out", default="outputs/ablations")
    parser.add_argument("--variants", default=None)
    parser.add_argument("--table", default=None)
    parser.add_argument(
        "--mc-scope",
        default=None,
        choices=["all", "head"],
        help="score with Monte-Carlo dropout in these layers instead of the models' own",
    )
    parser.add_argument(
        "--blend",
        default=None,
        metavar="W",
        help="also score each run (and the ensemble) blended with the tree baseline, trees weighing W "
        "('auto': each classifier's weight chosen on its network's validation rows; several: W1,W2)",
    )
    parser.add_argument(
        "--tree-continuum",
        type=int,
        default=0,
        metavar="N",
        help="the trees also read the spectrum minus its N-pixel running mean (0: flux grid only)",
    )
    parser.add_argument(
        "--tree-seeds",
        type=int,
        default=3,
        metavar="N",
        help="fit the tree baseline with seeds 0..N-1; the k-th run is blended with seed k mod N",
    )
    parser.add_argument("--data-root", default=os.environ.get("CCSNSCORE_DATA_ROOT", "../shared/data/ccsn-public"))
    parser.add_argument("--cache-dir", default=".cache/ccsnscore")
    args = parser.parse_args(argv)
    layer, case = args.experiment.split("_")
    root = Path(args.out) / args.experiment
    variants_doc = {k: v.get("doc", "") for k, v in yaml.safe_load((HERE / "variants.yaml").read_text()).items()}
    names = (
        args.variants.split(",")
        if args.variants
        else sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
    )
    rows = []
    tree_labels = {}  # preprocessing -> the variant label of its tree-baseline rows
    tree = f"tree+cont{args.tree_continuum}" if args.tree_continuum else "tree"
    for name in names:
        runs = []
        for run_dir in sorted((root / name).glob("seed*")):
            if not (run_dir / "metrics.json").is_file() or not list((run_dir / "classifiers").rglob("*.pt")):
                continue
            try:
                model_set = load_model_set(run_dir / "classifiers", case, layers=[layer])
            except (FileNotFoundError, ValueError):
                continue
            classes = list(model_set.layers[layer])
            expected = json.loads((run_dir / "metrics.json").read_text())
            # a run still training has some of its classifiers only: score it once all are written
            if sorted(classes) != sorted(CLASSES[layer]) or not all(f"{c}/path" in expected for c in classes):
                continue
            metrics = run_metrics(run_dir, layer, case, args.data_root, args.cache_dir, mc_scope=args.mc_scope)
            label = f"{name}[MC {args.mc_scope}]" if args.mc_scope else name
            rows.append({"variant": label, "run": run_dir.name, **metrics})
            runs.append(run_dir)
            run_classes = classes
            preprocessing = json.dumps(model_set.preprocessing.to_dict(), sort_keys=True)
            trees_metrics, trees = tree_metrics(
                run_dir,
                layer,
                case,
                args.data_root,
                args.cache_dir,
                root,
                seeds=tuple(range(args.tree_seeds)),
                continuum_window=args.tree_continuum,
            )
            if preprocessing not in tree_labels:
                tree_labels[preprocessing] = f"{tree}[{name}]"
                for t in trees_metrics:
                    rows.append({"variant": tree_labels[preprocessing], "run": f"seed{t['seed']}", **t})
        suffix = f"_{args.mc_scope}" if args.mc_scope else ""
        label = f"{name}[MC {args.mc_scope}]" if args.mc_scope else name
        if len(runs) >= 2:
            ens = ensemble_metrics(runs, run_classes, suffix)
            rows.append({"variant": f"{label}+ensemble{len(runs)}", "run": "ensemble", **ens})
        for blend in args.blend.split(",") if args.blend and runs else []:
            tree_seeds = [t["seed"] for t in trees_metrics]
            auto = blend == "auto"
            weight, tag = (None, f"{tree}@auto") if auto else (float(blend), tree)
            for k, run_dir in enumerate(runs):
                seed = tree_seeds[k % len(tree_seeds)]
                if auto:
                    val = validation_scores(
                        run_dir, layer, case, args.data_root, args.cache_dir, seed, args.tree_continuum
                    )
                    weight = held_out_weights([val], run_classes)
                blended = blend_metrics([run_dir], trees, seed, run_classes, weight, suffix)
                extra = {f"tree_weight_{c}": w for c, w in weight.items()} if auto else {}
                rows.append(
                    {
                        "variant": f"{label}+{tag}",
                        "run": run_dir.name,
                        "tree_seed": seed,
                        "trees": tree_labels[preprocessing],
                        **blended,
                        **extra,
                    }
                )
            if len(runs) >= 2:
                if auto:
                    val = [
                        validation_scores(
                            d, layer, case, args.data_root, args.cache_dir, tree_seeds[0], args.tree_continuum
                        )
                        for d in runs
                    ]
                    weight = held_out_weights(val, run_classes)
                blended = blend_metrics(runs, trees, tree_seeds[0], run_classes, weight, suffix)
                extra = {f"tree_weight_{c}": w for c, w in weight.items()} if auto else {}
                rows.append({"variant": f"{label}+ensemble{len(runs)}+{tag}", "run": "ensemble", **blended, **extra})
    table = pd.DataFrame(rows)
    if table.empty:
        print("no finished runs")
        return 0
    out = Path(args.table or HERE / args.experiment)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out.with_suffix(".csv"), index=False)
    lines = [
        f"# {args.experiment}: fixed test split ({int(table['n'].iloc[0])} spectra), mean ± sd over seeds",
        "",
        "Accuracy counts ambiguous as wrong; `confident`: score > 0.8 and std < 0.05 (MC dropout, "
        "100 passes); `eval_`: dropout off. Produced by `python experiments/ablations/score.py "
        f"--experiment {args.experiment}`.",
        "",
        "| variant | runs | " + " | ".join(SHOWN) + " |",
        "|---|---|" + "---|" * len(SHOWN),
    ]
    for variant, group in table.groupby("variant", sort=False):
        lines.append(
            f"| {variant} | {len(group)} | " + " | ".join(fmt(group[c]) if c in group else "-" for c in SHOWN) + " |"
        )
    lines += paired_differences(table)
    lines += ["", "Variants:", ""] + [f"- `{k}`: {variants_doc.get(k, '')}" for k in names]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
