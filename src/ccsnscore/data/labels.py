"""Label maps: which ``type`` values are positive for each binary classifier."""

from __future__ import annotations

import numpy as np
import pandas as pd


def label_status(types: pd.Series, unclassified) -> pd.Series:
    """``'ok'``, ``'unclassified'`` (type in ``unclassified`` or empty) or ``'uncertain'`` (has ``?``)."""
    types = types.fillna("").astype(str).str.strip()
    status = pd.Series("ok", index=types.index)
    status[types.str.contains("?", regex=False)] = "uncertain"
    status[types.isin(list(unclassified)) | (types == "")] = "unclassified"
    return status


def layer_class_of(types: pd.Series, layer_classes: dict) -> pd.Series:
    """The class of ``layer_classes`` (``{class: [types]}``) each type belongs to, '' for none."""
    lookup = {t: cls for cls, members in layer_classes.items() for t in members}
    return types.map(lambda t: lookup.get(t, ""))


def binary_labels(types: pd.Series, layer_classes: dict, positive: str) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest labels for classifier ``positive`` of a layer.

    Returns ``(in_layer, y)``: boolean mask of rows whose type belongs to some class of the layer,
    and ``y`` (1 for ``positive``, 0 for the layer's other classes) for those rows.
    """
    if positive not in layer_classes:
        raise KeyError(f"classifier {positive!r} is not in this layer; it has {list(layer_classes)}")
    cls = layer_class_of(types, layer_classes)
    in_layer = (cls != "").to_numpy().copy()
    return in_layer, (cls[in_layer] == positive).to_numpy().astype(np.int64)
