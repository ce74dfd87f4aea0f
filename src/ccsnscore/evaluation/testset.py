"""Labelled samples of a dataset's test split, scored through the inference pipeline."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.channels import build_channels
from ccsnscore.data.io import BadInputError, read_spectrum
from ccsnscore.data.labels import label_status, layer_class_of
from ccsnscore.evaluation.baseline import tree_features, tree_scores
from ccsnscore.evaluation.snid import snid_scores
from ccsnscore.inference.decisions import AMBIGUOUS
from ccsnscore.inference.mc_dropout import eval_score_table
from ccsnscore.inference.model_set import ModelSet, unclassified_types
from ccsnscore.inference.pipeline import predict
from ccsnscore.model.network import BlendedClassifier
from ccsnscore.model.trees import CONTINUUM_WINDOW

log = logging.getLogger("ccsnscore.evaluation")
SNID_CLASSES = ("Hrich", "Hpoor", "Ia", "nonIa", "CC", "other")
"""Classes that SNID's header fractions give a score for (:func:`ccsnscore.evaluation.snid.snid_scores`)."""


def recorded_test_names(model_set: ModelSet) -> set[str]:
    """The test-split object names stored in the classifiers; they must agree."""
    records = {tuple(m.metadata.get("test_split", {}).get("names", []) or []) for m in model_set.classifiers.values()}
    if len(records) != 1 or not next(iter(records)):
        raise ValueError(
            f"the classifiers in {model_set.root} record no common test split; pass test_split=<csv of names> (or all)"
        )
    return set(records.pop())


def labelled_samples(
    model_set: ModelSet, data_root, cache_dir, test_split: str, unclassified
) -> tuple[pd.DataFrame, dict, dict]:
    """Every sample with a usable label for some layer of ``model_set``, its arrays and the manifest.

    The table has ``true_<layer>`` (the class in that layer, '' for none) and ``is_test`` (the
    object is in the test split; with ``test_split="all"`` every row is).
    """
    ds, manifest = load_or_prepare(data_root, cache_dir, model_set.preprocessing)
    samples = ds.samples
    if test_split == "all":
        chosen = np.ones(len(samples), bool)
    else:
        names = (
            recorded_test_names(model_set)
            if test_split in (None, "", "checkpoint")
            else set(pd.read_csv(test_split, dtype={"name": str})["name"])
        )
        chosen = samples["name"].isin(names).to_numpy()
    layers = {layer: next(iter(models.values())).metadata["label_map"] for layer, models in model_set.layers.items()}
    status = label_status(samples["type"], unclassified).to_numpy()
    table = samples.copy()
    for layer, classes in layers.items():
        table[f"true_{layer}"] = layer_class_of(table["type"], classes).to_numpy()
    true_cols = [f"true_{layer}" for layer in layers]
    in_some_layer = (table[true_cols] != "").any(axis=1).to_numpy()
    keep = (status == "ok") & in_some_layer
    table["is_test"] = chosen
    arrays = {k: getattr(ds, k)[keep] for k in ("spectrum", "lc", "dmdt")}
    arrays["bands"] = ds.bands
    return table[keep].reset_index(drop=True), arrays, {**manifest, "layers": layers}


def test_samples(
    model_set: ModelSet, data_root, cache_dir, test_split: str, unclassified
) -> tuple[pd.DataFrame, dict, dict]:
    """Samples of the test split with a usable label for some layer, their arrays and the manifest."""
    table, arrays, info = labelled_samples(model_set, data_root, cache_dir, test_split, unclassified)
    test = table["is_test"].to_numpy()
    arrays = {k: (v[test] if k != "bands" else v) for k, v in arrays.items()}
    return table[test].drop(columns="is_test").reset_index(drop=True), arrays, info


def snid_columns(table: pd.DataFrame, data_root: Path) -> pd.DataFrame:
    """SNID's scores (``<cls>_snid``) from the headers of the SEDM spectra (NaN elsewhere)."""
    rows = []
    for rel in table["specfilename"]:
        try:
            header = read_spectrum(Path(data_root) / rel)[2]
        except BadInputError:
            header = {}
        scores = snid_scores(header) if any(k.startswith("SNIDFRAC") for k in header) else {}
        rows.append({f"{k}_snid": scores.get(k, np.nan) for k in SNID_CLASSES})
    return pd.DataFrame(rows, index=table.index)


def layer_test_inputs(model_set: ModelSet, layer: str, data_root, cache_dir) -> tuple[dict, np.ndarray]:
    """The model inputs (:func:`ccsnscore.data.channels.build_channels` of the set's input case) and
    the true classes of the test-split spectra labelled for ``layer`` (the split the classifiers
    record)."""
    table, arrays, _ = labelled_samples(model_set, data_root, cache_dir, "checkpoint", unclassified_types())
    rows = table["is_test"].to_numpy() & (table[f"true_{layer}"] != "").to_numpy()
    case = model_set.input_case
    channels = build_channels({k: arrays[k][rows] for k in ("spectrum", "lc", "dmdt")}, case, arrays["bands"])
    return channels, table.loc[rows, f"true_{layer}"].to_numpy()


def blended_tree_window(models) -> int:
    """The continuum window (pixels) of the trees blended into ``models`` (class -> classifier), or
    the default :data:`~ccsnscore.model.trees.CONTINUUM_WINDOW` when none is a blend: the tree
    baseline of a layer reads the features its blends' trees read."""
    windows = {int(m.tree.config["continuum_window"]) for m in models.values() if isinstance(m, BlendedClassifier)}
    if len(windows) > 1:
        raise ValueError(f"the blended classifiers of one layer use different tree continuum windows {sorted(windows)}")
    return windows.pop() if windows else CONTINUUM_WINDOW


def tree_baseline_scores(table: pd.DataFrame, arrays: dict, model_set: ModelSet, seed: int = 0) -> pd.DataFrame:
    """``tree_<class>`` scores of the test rows of ``table`` from one tree per classifier of the set,
    trained on the same layer's non-test rows (:mod:`ccsnscore.evaluation.baseline`), with the
    continuum window of the layer's blended trees (:func:`blended_tree_window`)."""
    test = table["is_test"].to_numpy()
    features = {}
    columns = {}
    for layer, classes in model_set.layer_classes().items():
        true = table[f"true_{layer}"].to_numpy(object)
        train = ~test & (true != "")
        if len(set(true[train])) < 2:
            log.warning("no tree baseline for %s: fewer than two classes outside the test split", layer)
            continue
        window = blended_tree_window(model_set.layers.get(layer, {}))
        if window not in features:
            features[window] = tree_features(arrays, model_set.input_case, continuum_window=window)
        layer_features = features[window]
        probabilities = tree_scores(
            layer_features[train], {c: true[train] == c for c in classes}, layer_features[test], seed
        )
        columns.update({f"tree_{c}": p for c, p in probabilities.items()})
    return pd.DataFrame(columns, index=np.flatnonzero(test))


def evaluate_case(model_set: ModelSet, cfg: DictConfig) -> tuple[pd.DataFrame, dict]:
    """Score the test samples with every classifier of ``model_set`` and decide through the hierarchy.

    Besides the Monte-Carlo-dropout scores and decisions, the table has ``eval_<class>`` (one pass,
    dropout off), ``tree_<class>`` (the tree baseline, with ``cfg.baseline``) and SNID's scores.
    """
    table, arrays, info = labelled_samples(
        model_set, cfg.paths.data_root, cfg.paths.cache_dir, cfg.test_split, list(cfg.labels.unclassified)
    )
    test = table["is_test"].to_numpy()
    tree = tree_baseline_scores(table, arrays, model_set, cfg.seed) if cfg.get("baseline", True) else None
    if tree is not None:
        info["tree_windows"] = {layer: blended_tree_window(models) for layer, models in model_set.layers.items()}
    table = table[test].drop(columns="is_test").reset_index(drop=True)
    arrays = {k: (v[test] if k != "bands" else v) for k, v in arrays.items()}
    log.info("case %s: %d test spectra, %d classifiers", model_set.input_case, len(table), len(model_set.classifiers))
    channels = build_channels(arrays, model_set.input_case, arrays["bands"])
    predicted = predict(model_set, channels, cfg.n_passes, cfg.seed, index=table.index, progress=None)
    plain = eval_score_table(model_set.classifiers, channels, index=table.index)
    plain = plain[list(model_set.classifiers)].add_prefix("eval_")
    parts = [table, predicted, plain, snid_columns(table, Path(info["data_root"]))]
    if tree is not None and len(tree.columns):
        parts.append(tree.set_axis(table.index))
    scored = pd.concat(parts, axis=1)
    scored["ambiguous"] = scored["decision"] == AMBIGUOUS
    scored["case"] = model_set.input_case
    return scored, info
