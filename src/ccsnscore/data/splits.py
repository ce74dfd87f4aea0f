"""Splits by object: the fixed test split shared by all experiments, and train/validation splits."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ccsnscore.data.config import SEDM_SOURCE

log = logging.getLogger(__name__)


def _stratify_labels(labels: pd.Series, n_min: int = 2) -> pd.Series | None:
    counts = labels.value_counts()
    merged = labels.where(labels.map(counts) >= n_min, "rare")
    return merged if merged.value_counts().min() >= n_min else None


def split_objects(names: pd.Series, labels: pd.Series, fraction: float, seed: int):
    """Split unique object names so that ``fraction`` of them land in the second part, stratified by
    each object's most common label. Returns ``(first_names, second_names)`` as sets."""
    per_object = pd.DataFrame({"name": names.to_numpy(), "label": labels.to_numpy()})
    object_label = per_object.groupby("name")["label"].agg(lambda s: s.value_counts().index[0])
    objects = object_label.index.to_numpy()
    if len(objects) < 2 or fraction <= 0:
        return set(objects), set()
    strat = _stratify_labels(object_label)
    first, second = train_test_split(
        objects, test_size=fraction, random_state=seed, stratify=None if strat is None else strat.to_numpy()
    )
    return set(first), set(second)


def load_or_create_test_split(
    path: str | Path,
    samples: pd.DataFrame,
    fraction: float = 0.2,
    seed: int = 42,
    sources=(SEDM_SOURCE,),
    label_column: str = "type",
) -> set[str]:
    """Names of the test objects. Read from ``path`` if it exists, else drawn (stratified by type,
    by object, only among objects whose spectra all come from ``sources``) and written there."""
    path = Path(path)
    if path.is_file():
        table = pd.read_csv(path, dtype={"name": str})
        names = set(table["name"])
        unknown = names - set(samples["name"])
        if unknown:
            log.info("%d test-split objects of %s are not in this dataset", len(unknown), path)
        return names
    source_ok = samples.groupby("name")["source"].agg(lambda s: set(s) <= set(sources))
    eligible = samples[samples["name"].map(source_ok)]
    _, test = split_objects(eligible["name"], eligible[label_column], fraction, seed)
    table = (
        eligible[eligible["name"].isin(test)]
        .groupby("name")[label_column]
        .agg(lambda s: s.value_counts().index[0])
        .reset_index()
        .sort_values("name")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    log.info("wrote a new test split of %d objects to %s", len(table), path)
    return set(table["name"])


def validation_masks(
    task: pd.DataFrame, layer_class: pd.Series, is_test: np.ndarray, fraction: float, seed: int, sources=None
) -> tuple[np.ndarray, np.ndarray]:
    """``(is_val, is_train)`` masks over the rows of one layer's ``task`` table (columns ``name`` and
    ``source``; ``layer_class``: each row's class in the layer): validation objects are drawn by
    object, stratified by class, among the rows outside ``is_test``.

    With ``sources`` (e.g. ``["sedm"]``), validation objects are drawn only among objects observed by
    those sources and only their spectra from those sources validate; their other spectra are left
    out of both masks (never trained on), so early stopping follows the domain the models are used on.
    """
    outside = ~np.asarray(is_test, bool)
    names, layer_class = task["name"][outside], pd.Series(np.asarray(layer_class, object))[outside]
    if sources is None:
        _, val_names = split_objects(names, layer_class, fraction, seed)
        is_val = split_mask(task["name"], val_names) & outside
        return is_val, outside & ~is_val
    from_source = task["source"][outside].isin(list(sources)).to_numpy()
    _, val_names = split_objects(names[from_source], layer_class[from_source], fraction, seed)
    in_val_object = split_mask(task["name"], val_names) & outside
    is_val = in_val_object & task["source"].isin(list(sources)).to_numpy()
    return is_val, outside & ~in_val_object


def split_mask(names: pd.Series, chosen: set[str]) -> np.ndarray:
    """Boolean mask of rows whose ``name`` is in ``chosen``."""
    return names.isin(chosen).to_numpy()
