"""Decision rules: from per-classifier scores to a class (paper section 4) and TNS criteria (section 6).

All functions take "score tables": one row per spectrum with, for each classifier ``<cls>``, the
Monte-Carlo-dropout mean ``<cls>`` and standard deviation ``<cls>_std`` of its predicted
probability. They are pure and vectorised over rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

AMBIGUOUS = "ambiguous"
"""Decision given when the two highest scores overlap within their summed uncertainties."""
CONFIDENT_MIN_SCORE = 0.8
CONFIDENT_MAX_STD = 0.05
"""The paper's confidence cuts: a decision is confident when ``score > 0.8`` and ``score_std < 0.05``."""

TNS_LAYER = "layer1"
"""The layer whose decision section 6's reporting criteria apply to (H-rich / H-poor)."""
TNS_MAX_STD = CONFIDENT_MAX_STD
TNS_TIERS = ((30.0, 0.8), (20.0, 0.9), (-np.inf, 0.95))
"""Section 6: ``(minimum numSNID, minimum CCSNscore)``, first matching tier applies."""

_ID_COLUMNS = ("name", "specfilename")


def missing_columns(scores: pd.DataFrame, classes: Sequence[str]) -> list[str]:
    """Columns ``<cls>`` and ``<cls>_std`` of ``classes`` that ``scores`` lacks."""
    wanted = [c for cls in classes for c in (cls, f"{cls}_std")]
    return [c for c in wanted if c not in scores.columns]


def decide(scores: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Pick one class among parallel binary classifiers, or ``"ambiguous"``.

    The classifier with the highest mean wins if ``top_mean - second_mean > top_std + second_std``
    (strict); otherwise the row is ``"ambiguous"`` with ``score = score_std = NaN`` (no score that a
    threshold could pass). Rows with a NaN mean or std in any of ``classes`` are ambiguous too (no
    confident call is made on missing input).

    Returns a frame on ``scores.index`` with ``name``/``specfilename`` (when present) and columns
    ``decision`` (str), ``score``, ``score_std`` (winner's mean and std), ``ambiguous`` (bool),
    ``top_class`` (highest mean, even when ambiguous), ``margin`` (top - second mean) and
    ``margin_unc`` (top + second std).
    """
    classes = list(classes)
    if len(classes) < 2:
        raise ValueError(f"decide needs at least two classifiers, got {classes}")
    missing = missing_columns(scores, classes)
    if missing:
        raise KeyError(f"score table lacks columns {missing}")
    mean = scores[classes].to_numpy(dtype=float)  # (n, k)
    std = scores[[f"{c}_std" for c in classes]].to_numpy(dtype=float)  # (n, k)
    incomplete = np.isnan(mean).any(axis=1) | np.isnan(std).any(axis=1)
    order = np.argsort(-np.nan_to_num(mean, nan=-np.inf), axis=1, kind="stable")
    rows = np.arange(len(mean))
    top, second = order[:, 0], order[:, 1]
    margin = mean[rows, top] - mean[rows, second]
    margin_unc = std[rows, top] + std[rows, second]
    ambiguous = ~(margin > margin_unc) | incomplete
    names = np.asarray(classes, dtype=object)
    out = pd.DataFrame(index=scores.index)
    for col in _ID_COLUMNS:
        if col in scores.columns:
            out[col] = scores[col]
    out["decision"] = np.where(ambiguous, AMBIGUOUS, names[top])
    out["score"] = np.where(ambiguous, np.nan, mean[rows, top])
    out["score_std"] = np.where(ambiguous, np.nan, std[rows, top])
    out["ambiguous"] = ambiguous
    out["top_class"] = names[top]
    out["margin"] = margin
    out["margin_unc"] = margin_unc
    return out


@dataclass
class Hierarchy:
    """Which layer decides first and where each decided class goes next (the labels config's
    ``hierarchy``, recorded in every classifier file).

    ``routes[layer][cls]`` is the layer that refines class ``cls`` of ``layer``; a class without a
    route is a final decision. ``root`` is the first layer.
    """

    root: str
    routes: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: Mapping) -> Hierarchy:
        routes = {
            str(layer): {str(c): str(child) for c, child in dict(children or {}).items()}
            for layer, children in dict(cfg.get("routes") or {}).items()
        }
        return cls(str(cfg["root"]), routes)

    def to_dict(self) -> dict:
        return {"root": self.root, "routes": {k: dict(v) for k, v in self.routes.items()}}

    def layers(self) -> list[str]:
        """Every layer, parents before children (breadth first from the root)."""
        order, queue = [], [self.root]
        while queue:
            layer = queue.pop(0)
            if layer not in order:
                order.append(layer)
                queue += list(self.routes.get(layer, {}).values())
        return order

    def entry(self, available: Sequence[str]) -> tuple[str | None, list[str]]:
        """The first layer with classifiers in ``available``, and the layers skipped to reach it
        (a layer without models passes its rows to its single child, e.g. no Ia gate)."""
        layer, skipped = self.root, []
        while layer not in available:
            children = set(self.routes.get(layer, {}).values())
            if len(children) != 1:
                return None, skipped + [layer]
            skipped.append(layer)
            layer = children.pop()
        return layer, skipped


def decide_hierarchy(scores: pd.DataFrame, layers: Mapping[str, Sequence[str]], hierarchy: Hierarchy) -> pd.DataFrame:
    """Walk every row down ``hierarchy``: decide its layer with :func:`decide`, then follow the route
    of the decided class, until a final class, an ``ambiguous`` step or a missing layer.

    ``layers``: ``{layer: [classes]}`` of the classifiers present (their ``<cls>``/``<cls>_std``
    columns in ``scores``). A root layer without classifiers is skipped when it has one child (the
    path starts with ``<layer>:no models``). A layer reached without classifiers, or whose columns
    are missing, stops the row at the previous decision (path ``<layer>:skipped(...)``).

    Returns, on ``scores.index``: ``name``/``specfilename`` when present; for each layer of
    ``layers`` in walk order ``<layer>_decision``, ``<layer>_score``, ``<layer>_score_std`` ("" and
    NaN where the row did not reach it); the final ``decision`` (the deepest decided class, e.g.
    ``Hrich`` when layer 2a was ambiguous, or ``"ambiguous"`` when the first step was), its ``score``
    and ``score_std`` (NaN when ambiguous), and ``path`` such as
    ``"layer0:CC>layer1:Hrich>layer2a:IIn"``.
    """
    n = len(scores)
    out = pd.DataFrame(index=scores.index)
    for col in _ID_COLUMNS:
        if col in scores.columns:
            out[col] = scores[col]
    final = np.full(n, AMBIGUOUS, dtype=object)
    final_score = np.full(n, np.nan)
    final_std = np.full(n, np.nan)
    path = np.full(n, "", dtype=object)
    entry, skipped = hierarchy.entry(list(layers))
    if skipped:
        path[:] = ">".join(f"{layer}:no models" for layer in skipped)
    at = np.full(n, entry if entry is not None else "", dtype=object)  # the layer each row is at
    walked = [layer for layer in hierarchy.layers() if layer in layers]
    for layer in walked:
        rows = at == layer
        decision = np.full(n, "", dtype=object)
        score, score_std = np.full(n, np.nan), np.full(n, np.nan)
        if rows.any():
            classes = list(layers[layer])
            missing = missing_columns(scores, classes) if len(classes) >= 2 else [f"{layer} classifiers"]
            sep = np.where(path[rows] == "", "", ">").astype(object)
            if missing:
                path[rows] = path[rows] + sep + f"{layer}:skipped(missing {','.join(missing)})"
            else:
                step = decide(scores.loc[rows], classes)
                decision[rows] = step["decision"].to_numpy(dtype=object)
                score[rows], score_std[rows] = step["score"].to_numpy(), step["score_std"].to_numpy()
                path[rows] = path[rows] + sep + f"{layer}:" + decision[rows]
                sure = rows & (decision != AMBIGUOUS)
                final[sure], final_score[sure], final_std[sure] = decision[sure], score[sure], score_std[sure]
                routes = hierarchy.routes.get(layer, {})
                at[sure] = [routes.get(d, "") for d in decision[sure]]
            at[rows & (at == layer)] = ""
        out[f"{layer}_decision"], out[f"{layer}_score"], out[f"{layer}_score_std"] = decision, score, score_std
    for layer in set(at) - {""}:  # routed to a layer without classifiers
        rows = at == layer
        path[rows] = path[rows] + f">{layer}:skipped(no models)"
    out["decision"] = final
    out["score"] = final_score
    out["score_std"] = final_std
    out["path"] = path
    return out


def passes_confidence(score, score_std, min_score=CONFIDENT_MIN_SCORE, max_std=CONFIDENT_MAX_STD) -> np.ndarray:
    """``score > min_score`` and ``score_std < max_std`` (strict; NaN fails). Thresholds broadcast."""
    score = np.asarray(score, dtype=float)
    score_std = np.asarray(score_std, dtype=float)
    return (score > min_score) & (score_std < max_std)


def tns_criterion(num_snid) -> np.ndarray:
    """Section-6 tier of each spectrum: 1 (numSNID >= 30), 2 (20 <= numSNID < 30), 3 (< 20), 0 (NaN)."""
    num_snid = np.asarray(num_snid, dtype=float)
    tier = np.zeros(num_snid.shape, dtype=int)
    for i, (min_snid, _) in reversed(list(enumerate(TNS_TIERS, start=1))):
        tier = np.where(num_snid >= min_snid, i, tier)
    return tier


def tns_reportable(score, score_std, num_snid, max_std: float = TNS_MAX_STD) -> np.ndarray:
    """Section-6 TNS reporting criteria, vectorised; NaN ``num_snid`` (or score) is not reportable.

    numSNID >= 30: score > 0.8; 20 <= numSNID < 30: score > 0.9; numSNID < 20: score > 0.95; and
    always ``score_std < 0.05``. ``score`` is the final (layer-1, spectra-only) decision score, so
    ambiguous rows (score NaN) never pass.
    """
    tier = tns_criterion(num_snid)
    min_score = np.array([np.inf] + [s for _, s in TNS_TIERS])[tier]
    return passes_confidence(score, score_std, min_score=min_score, max_std=max_std)
