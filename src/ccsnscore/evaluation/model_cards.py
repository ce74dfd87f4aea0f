"""Ship trained classifiers with the package, each with a model card.

    python -m ccsnscore.evaluation.model_cards RUN_DIR [RUN_DIR ...] --report REPORT_DIR \
        [--dest src/ccsnscore/pretrained]
    python -m ccsnscore.evaluation.model_cards --cards-only MODEL_DIR --report REPORT_DIR

Copies ``<run_dir>/classifiers/<layer>/<case>/<class>.pt`` (and its ``.json`` description) into
``dest`` and writes ``<class>.md`` beside it: what the model is, the data, config and validation
metrics recorded in the file, and the test metrics of an evaluation report
(:mod:`ccsnscore.evaluate`) when one is given. ``--cards-only`` rewrites the cards of a model
folder in place (after a new evaluation report) and leaves its classifier files as they are.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ccsnscore.evaluation.report import METRIC_COLUMNS
from ccsnscore.model.checkpoints import classifier_metadata, export_classifier, shipped_models_dir


def _test_metrics(report_dirs, layer: str, case: str, positive: str) -> tuple[dict, dict]:
    """This classifier's rows of ``tables/metrics_all.csv`` and ``tables/auc_all.csv``."""
    for folder in report_dirs or []:
        metrics_file, auc_file = Path(folder) / "tables" / "metrics_all.csv", Path(folder) / "tables" / "auc_all.csv"
        if not metrics_file.is_file():
            continue
        metrics = pd.read_csv(metrics_file, index_col=0)
        auc = pd.read_csv(auc_file, index_col=0) if auc_file.is_file() else pd.DataFrame()
        m = metrics[(metrics["layer"] == layer) & (metrics["case"] == case) & (metrics.index == positive)]
        a = auc[(auc["layer"] == layer) & (auc["case"] == case) & (auc.index == positive)] if len(auc) else auc
        if len(m):
            return m.iloc[0].to_dict(), (a.iloc[0].to_dict() if len(a) else {})
    return {}, {}


def _comparison(report_dirs, layer: str, case: str) -> pd.DataFrame | None:
    """The scorers of this layer side by side (``tables/comparison_all.csv`` of a report)."""
    columns = [
        "n",
        "accuracy",
        "accuracy_lo",
        "accuracy_hi",
        "macro_auc",
        "macro_auc_lo",
        "macro_auc_hi",
        "ambiguous_fraction",
        "confident_fraction",
        "confident_accuracy",
    ]
    for folder in report_dirs or []:
        file = Path(folder) / "tables" / "comparison_all.csv"
        if file.is_file():
            table = pd.read_csv(file, index_col=0)
            rows = table[(table["layer"] == layer) & (table["case"] == case)]
            if len(rows):
                return rows[[c for c in columns if c in rows]]
    return None


def _blend_lines(meta: dict) -> list[str]:
    """What a network + tree blend adds (nothing for a plain network)."""
    if "tree" not in meta["hparams"]:
        return []
    weight = meta["hparams"]["tree_weight"]
    tree = (meta.get("training") or {}).get("tree") or {}
    return [
        "",
        f"Blended with gradient-boosted trees (`python -m ccsnscore.evaluation.blend`): probability = "
        f"{1 - weight:g} x network + {weight:g} x trees; the Monte-Carlo spread is {1 - weight:g} times the "
        f"network's (the trees are deterministic). Trees: {tree.get('kind', 'HistGradientBoostingClassifier')}, "
        f"{tree.get('iterations', '?')} iterations, {meta['hparams']['tree']['n_nodes']} nodes, fitted with seed "
        f"{tree.get('seed', '?')} on the {tree.get('n_train', '?')} labelled rows outside the test split "
        f"({tree.get('n_positive', '?')} positive); features: {tree.get('features', 'the model inputs')}. "
        "Stored as tensors in the file: using it needs neither scikit-learn nor the dataset. The "
        "validation metrics below are the network's alone (the trees learnt from the validation rows too).",
    ]


def _encoder_extras(spectrum: dict) -> str:
    """The spectrum encoder's optional inputs and parts, in words (empty when it has none)."""
    extras = []
    if spectrum.get("wavelength_channel"):
        extras.append("each pixel's place on the wavelength grid as an input channel")
    if spectrum.get("readout_positions"):
        stretches = spectrum["readout_positions"]
        extras.append(f"a readout of the last block's features over {stretches} stretches of the spectrum")
    if spectrum.get("continuum_window"):
        extras.append(f"a continuum-removed channel ({spectrum['continuum_window']}-pixel running mean)")
    if spectrum.get("recurrent_units"):
        extras.append(f"a bidirectional LSTM of {spectrum['recurrent_units']} units over its last block")
    return f" ({'; '.join(extras)})" if extras else ""


def model_card(path: Path, report_dirs=None) -> str:
    """Markdown model card of the classifier file ``path``."""
    meta = classifier_metadata(path)
    layer, case, positive = meta["layer"], meta["input_case"], meta["positive"]
    label_map = meta["label_map"]
    negatives = [c for c in label_map if c != positive]
    val = meta.get("metrics", {})
    test, auc = _test_metrics(report_dirs, layer, case, positive)
    dataset = meta.get("dataset", {})
    splits = dataset.get("splits") or {}
    val_sources = (meta.get("training", {}).get("data") or {}).get("val_sources")
    members = meta["hparams"].get("members")
    lines = [
        f"# {layer}/{case}/{positive}",
        "",
        f"One-vs-rest classifier of ccsnscore: probability that a spectrum is **{positive}** "
        f"(types {', '.join(label_map[positive])}) rather than {', '.join(negatives)} "
        f"(types {', '.join(t for c in negatives for t in label_map[c])}).",
        "",
        f'- load: `load_classifier("{layer}/{case}/{positive}")`',
        f"- input channels: {', '.join(meta['channels'])} (input case {case})",
        f"- preprocessing: rest frame {meta['preprocessing']['spectrum']['rest_frame']}, "
        f"{meta['preprocessing']['spectrum']['wave_min']:.0f}-{meta['preprocessing']['spectrum']['wave_max']:.0f} A "
        f"on {meta['preprocessing']['spectrum']['n_wave']} points; light curves realtime="
        f"{meta['preprocessing']['lightcurve']['realtime']}",
        f"- created {meta.get('created')} with ccsnscore {meta['versions']['ccsnscore']}, "
        f"torch {meta['versions']['torch']}",
        "",
        "## Training data",
        f"Dataset fingerprint `{dataset.get('fingerprint')}`; the objects of the fixed test split were "
        "held out; validation is a third of the remaining objects (split by object)"
        + (f", its spectra from {', '.join(val_sources)} only." if val_sources else "."),
    ]
    if splits:
        lines += ["", pd.DataFrame(splits).T.to_markdown() if isinstance(splits, dict) else str(splits)]
    training = meta.get("training", {})
    lines += [
        "",
        "## Training",
        "",
        "```",
        *(
            f"{k}: {v}"
            for k, v in training.items()
            if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict))
        ),
        "```",
        "",
        f"Spectrum encoder: {meta['hparams']['spectrum'].get('architecture', 'bilstm')}"
        + _encoder_extras(meta["hparams"]["spectrum"])
        + (f"; a deep ensemble of {members} networks (seeds {training.get('seeds')})." if members else ".")
        + " The recipe and the ablations behind it: `experiments/ablations/` and `conf/recipe/`."
        + (
            " The network's weights are stored as float16 and used as float32."
            if meta.get("weights_storage") == "float16"
            else ""
        ),
        *_blend_lines(meta),
        "",
        "## Validation metrics (kept weights)",
        "",
        pd.Series(val, dtype=object).to_frame("value").to_markdown(floatfmt=".4g"),
        "",
    ]
    if test:
        lines += [
            "## Test-split metrics (100 Monte-Carlo-dropout passes, decision among the layer's classifiers)",
            "",
            "Wilson 68% bounds in `_lo`/`_hi`; ambiguous counted as FN for TPR and TN for FPR.",
            "",
            pd.Series(
                {
                    **{k: test[k] for k in METRIC_COLUMNS if not k.startswith("accuracy")},
                    **{f"ROC {k}": v for k, v in auc.items() if k in ("AUC", "AUC_snid", "n_with_snid")},
                },
                dtype=object,
            )
            .to_frame("value")
            .to_markdown(floatfmt=".4g"),
            "",
        ]
    else:
        lines += ["## Test-split metrics", "", "No evaluation report was given when this card was written.", ""]
    comparison = _comparison(report_dirs, layer, case)
    if comparison is not None:
        lines += [
            f"## The layer against the tree baseline and SNID (test split, {layer}, case {case})",
            "",
            "The layer's classifiers decide together; `_lo`/`_hi` are 68% intervals.",
            "",
            comparison.to_markdown(floatfmt=".3f"),
            "",
        ]
    lines += [
        "## Limitations",
        "",
        "Trained on a public compilation (SEDM spectra of ZTF Bright Transient Survey objects and "
        "Open Supernova Catalog spectra smoothed to SEDM resolution). Scores are calibrated to that "
        "mix; spectra of other instruments are smoothed to R=100 first. Layer-2 classes with few "
        "training objects (IIb-H, Ic-BL) have wide uncertainties; check the test counts above.",
        "",
    ]
    return "\n".join(lines)


def ship(run_dirs, dest: Path, report_dirs=None, half_networks: bool = False) -> list[Path]:
    """Copy every classifier of ``run_dirs`` into ``dest`` with its card; returns the copied files.
    ``half_networks``: the networks' weights stored as float16 (:func:`export_classifier`)."""
    shipped = []
    for run in run_dirs:
        root = Path(run) / "classifiers" if (Path(run) / "classifiers").is_dir() else Path(run)
        for path in sorted(root.glob("*/*/*.pt")):
            target = export_classifier(path, dest / path.relative_to(root), run, half_networks)
            target.with_suffix(".md").write_text(model_card(target, report_dirs))
            shipped.append(target)
    return shipped


def rewrite_cards(model_dirs, report_dirs=None) -> list[Path]:
    """Write the card of every classifier file ``<layer>/<case>/<class>.pt`` of ``model_dirs`` anew
    (test metrics from ``report_dirs``); the files themselves are not touched. Returns the cards."""
    cards = []
    for folder in model_dirs:
        for path in sorted(Path(folder).glob("*/*/*.pt")):
            card = path.with_suffix(".md")
            card.write_text(model_card(path, report_dirs))
            cards.append(card)
    return cards


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="training run directories or model folders")
    parser.add_argument("--report", nargs="*", default=None, help="evaluation report folders (test metrics)")
    parser.add_argument("--dest", default=str(shipped_models_dir()))
    parser.add_argument(
        "--half-networks",
        action="store_true",
        help="store the networks' weights as float16 (half the file size; used as float32)",
    )
    parser.add_argument(
        "--cards-only",
        action="store_true",
        help="rewrite the cards of the model folders given, in place; copy no classifier file",
    )
    args = parser.parse_args(argv)
    if args.cards_only:
        if not rewrite_cards(args.runs, args.report):
            parser.error(f"no classifier files <layer>/<case>/<class>.pt under {' '.join(args.runs)}")
        return
    for path in ship(args.runs, Path(args.dest), args.report, args.half_networks):
        print(path)


if __name__ == "__main__":
    main()
