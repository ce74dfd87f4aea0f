"""Gradient-boosted trees as a torch module: the tree half of a network + tree blend.

A fitted :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (binary) is copied into tensors
(:meth:`TreeEnsemble.from_sklearn`), so a classifier file stores it as plain weights (read with
``weights_only=True``; no pickle), and using it needs neither scikit-learn nor its import time. The
trees read the flattened model inputs of their input case (:func:`channel_features`), the same
features as the tree baseline of :mod:`ccsnscore.evaluation.baseline`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

LC_STEP = 5
"""A light-curve channel enters the trees' features every ``LC_STEP`` days (flux only)."""
CONTINUUM_WINDOW = 15
"""Pixels of the running mean whose difference from the flux gives the trees the spectrum's lines
(:func:`continuum_removed`); 0: flux only."""


def continuum_removed(flux: torch.Tensor, window: int) -> torch.Tensor:
    """``(B, n_wave)`` flux minus its running mean over ``window`` covered pixels (edges repeated);
    NaN where the spectrum has no coverage (the trees send those pixels down their missing-value
    side). A tree splits on one feature at a time, so line depths relative to the neighbouring
    continuum, which a network's convolutions compute, must be handed to it."""
    covered = (flux != 0).to(flux.dtype)
    pad = window // 2

    def running_mean(values):
        padded = torch.nn.functional.pad(values[:, None, :], (pad, window - 1 - pad), mode="replicate")
        return torch.nn.functional.avg_pool1d(padded, window, stride=1)[:, 0, :]

    continuum = running_mean(flux * covered) / running_mean(covered).clamp_min(1e-3)
    return torch.where(covered.bool(), flux - continuum, torch.full_like(flux, float("nan")))


def channel_features(
    batch: Mapping[str, torch.Tensor], channels: Sequence[str], lc_step: int = LC_STEP, continuum_window: int = 0
) -> torch.Tensor:
    """``(B, n_features)`` features from model inputs, in ``channels`` order: the spectrum's flux
    grid (followed by its :func:`continuum_removed` flux when ``continuum_window`` > 0), each light
    curve's flux every ``lc_step`` days, each dm-dt histogram."""
    parts = []
    for name in channels:
        values = batch[name]
        if name == "spectrum":
            values = values[..., 0]
            if continuum_window > 0:
                values = torch.cat([values, continuum_removed(values.float(), int(continuum_window))], dim=1)
        elif name.startswith("lc_"):
            values = values[:, ::lc_step, 0]
        parts.append(values.reshape(len(values), -1))
    return torch.cat(parts, dim=1)


class TreeEnsemble(nn.Module):
    """The additive trees of a binary gradient-boosting model; ``forward`` gives the positive-class
    probability ``(B,)`` of ``(B, n_features)`` features.

    All trees' nodes are stored together (buffers of ``n_nodes`` entries; ``roots`` index each
    tree's first node). A sample goes left where ``x <= threshold``, or where ``x`` is NaN and the
    node sends missing values left; the leaves' values add up with ``baseline`` to the log-odds.
    """

    def __init__(
        self,
        n_nodes: int,
        n_trees: int,
        n_features: int,
        max_depth: int,
        lc_step: int = LC_STEP,
        continuum_window: int = 0,
    ):
        super().__init__()
        self.config = {
            "n_nodes": int(n_nodes),
            "n_trees": int(n_trees),
            "n_features": int(n_features),
            "max_depth": int(max_depth),
            "lc_step": int(lc_step),
            "continuum_window": int(continuum_window),
        }
        for name, dtype in (("feature", torch.int64), ("left", torch.int64), ("right", torch.int64)):
            self.register_buffer(name, torch.zeros(int(n_nodes), dtype=dtype))
        self.register_buffer("threshold", torch.zeros(int(n_nodes), dtype=torch.float64))
        self.register_buffer("value", torch.zeros(int(n_nodes), dtype=torch.float64))
        self.register_buffer("missing_left", torch.zeros(int(n_nodes), dtype=torch.bool))
        self.register_buffer("is_leaf", torch.ones(int(n_nodes), dtype=torch.bool))
        self.register_buffer("roots", torch.zeros(int(n_trees), dtype=torch.int64))
        self.register_buffer("baseline", torch.zeros(1, dtype=torch.float64))

    @classmethod
    def from_sklearn(cls, model, n_features: int, lc_step: int = LC_STEP, continuum_window: int = 0) -> TreeEnsemble:
        """A copy of a fitted binary :class:`~sklearn.ensemble.HistGradientBoostingClassifier`
        without categorical features."""
        if len(getattr(model, "classes_", ())) != 2:
            raise ValueError("only a binary gradient-boosting classifier can be copied")
        trees = [iteration[0].nodes for iteration in model._predictors]
        if any(nodes["is_categorical"].any() for nodes in trees):
            raise ValueError("categorical splits are not supported")
        sizes = [len(nodes) for nodes in trees]
        ensemble = cls(
            n_nodes=sum(sizes),
            n_trees=len(trees),
            n_features=n_features,
            max_depth=max(int(nodes["depth"].max()) for nodes in trees) if trees else 0,
            lc_step=lc_step,
            continuum_window=continuum_window,
        )
        if trees:
            nodes = np.concatenate(trees)
            roots = np.cumsum([0] + sizes[:-1])
            offset = np.repeat(roots, sizes)  # each node's tree starts here in the shared arrays
            leaf = nodes["is_leaf"].astype(bool)
            own = np.arange(len(nodes))  # a leaf points at itself
            columns = {
                "feature": np.where(leaf, 0, nodes["feature_idx"]),
                "left": np.where(leaf, own, nodes["left"].astype(np.int64) + offset),
                "right": np.where(leaf, own, nodes["right"].astype(np.int64) + offset),
                "threshold": np.where(leaf, 0.0, nodes["num_threshold"]),
                "value": np.where(leaf, nodes["value"], 0.0),
                "missing_left": nodes["missing_go_to_left"].astype(bool),
                "is_leaf": leaf,
                "roots": roots,
            }
            for name, values in columns.items():
                buffer = getattr(ensemble, name)
                buffer.copy_(torch.as_tensor(values).to(buffer.dtype))
        ensemble.baseline.fill_(float(model._baseline_prediction.ravel()[0]))
        ensemble.validate()
        return ensemble

    def _apply(self, fn, recurse=True):
        """As ``nn.Module``, except that the float64 thresholds, leaf values and baseline keep their
        precision when the module is cast (``.half()``, ``.to(torch.bfloat16)``): only moved."""
        precise = {name: buffer for name, buffer in self._buffers.items() if buffer.dtype == torch.float64}
        super()._apply(fn, recurse)
        for name, buffer in precise.items():
            if self._buffers[name].dtype != torch.float64:
                self._buffers[name] = buffer.to(self._buffers[name].device)
        return self

    def features(self, batch: Mapping[str, torch.Tensor], channels: Sequence[str]) -> torch.Tensor:
        """The features these trees were fitted on (:func:`channel_features` with their settings)."""
        return channel_features(batch, channels, self.config["lc_step"], self.config["continuum_window"])

    def validate(self) -> None:
        """Raise ``ValueError`` unless every index stays inside the stored trees (a damaged or
        edited file must fail here, not index out of range while classifying)."""
        n_nodes, n_features = self.config["n_nodes"], self.config["n_features"]
        if not 0 <= self.config["continuum_window"] <= 1024:
            raise ValueError(f"tree continuum window {self.config['continuum_window']} out of range")
        for name in ("left", "right", "roots"):
            index = getattr(self, name)
            if len(index) and (index.min() < 0 or index.max() >= n_nodes):
                raise ValueError(f"tree {name} index outside the {n_nodes} stored nodes")
        if len(self.feature) and (self.feature.min() < 0 or self.feature.max() >= n_features):
            raise ValueError(f"tree feature index outside the {n_features} features")
        # a threshold may be infinite (scikit-learn's split of present against missing values), never NaN
        if torch.isnan(self.threshold).any() or not all(torch.isfinite(t).all() for t in (self.value, self.baseline)):
            raise ValueError("tree thresholds hold NaN, or values NaN or infinity")

    def log_odds(self, features: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float64 log-odds of the positive class."""
        if features.shape[1] != self.config["n_features"]:
            raise ValueError(f"the trees read {self.config['n_features']} features, got {features.shape[1]}")
        x = features.to(torch.float64)
        node = self.roots.expand(len(x), -1)  # (B, n_trees)
        missing = torch.isnan(x)
        for _ in range(self.config["max_depth"]):
            feature = self.feature[node]
            goes_left = torch.where(
                missing.gather(1, feature), self.missing_left[node], x.gather(1, feature) <= self.threshold[node]
            )
            node = torch.where(goes_left, self.left[node], self.right[node])
        return self.baseline + self.value[node].sum(dim=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float32 probability of the positive class."""
        return torch.sigmoid(self.log_odds(features)).float()
