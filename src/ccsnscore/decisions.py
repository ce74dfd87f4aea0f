"""Decision rules: from per-classifier scores to a class (paper section 4) and TNS criteria (section 6).

All functions take "score tables": one row per spectrum with, for each classifier ``<cls>``, the
Monte-Carlo-dropout mean ``<cls>`` and standard deviation ``<cls>_std`` of its predicted
probability. They are pure and vectorised over rows.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

AMBIGUOUS = "ambiguous"
"""Decision given when the two highest scores overlap within their summed uncertainties."""

DEFAULT_LAYERS = {
    "layer1": ["Hrich", "Hpoor"],
    "layer2a": ["II", "IIb-H", "IIn"],
    "layer2b": ["Ib", "Ic", "Ic-BL"],
}
DEFAULT_ROUTES = {"Hrich": "layer2a", "Hpoor": "layer2b"}
"""Which sub-layer refines each layer-1 class."""
DEFAULT_LAYER0 = ["Ia", "nonIa"]

TNS_MAX_STD = 0.05
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
    (strict); otherwise the row is ``"ambiguous"`` with ``score = score_std = 0``. Rows with a NaN
    mean or std in any of ``classes`` are ambiguous too (no confident call is made on missing input).

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
    mean = scores[classes].to_numpy(dtype=float)                      # (n, k)
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
    out["score"] = np.where(ambiguous, 0.0, mean[rows, top])
    out["score_std"] = np.where(ambiguous, 0.0, std[rows, top])
    out["ambiguous"] = ambiguous
    out["top_class"] = names[top]
    out["margin"] = margin
    out["margin_unc"] = margin_unc
    return out


def _layer_step(scores: pd.DataFrame, layer: str, classes: Sequence[str]):
    """``(decision, score, score_std, path_piece)`` arrays of one layer, or a 'skipped' step."""
    n = len(scores)
    missing = missing_columns(scores, classes)
    if missing:
        piece = f"{layer}:skipped(missing {','.join(missing)})"
        return (np.full(n, "", dtype=object), np.full(n, np.nan), np.full(n, np.nan),
                np.full(n, piece, dtype=object), False)
    step = decide(scores, classes)
    decision = step["decision"].to_numpy(dtype=object)
    piece = (f"{layer}:" + step["decision"]).to_numpy(dtype=object)
    return decision, step["score"].to_numpy(), step["score_std"].to_numpy(), piece, True


def decide_hierarchy(scores: pd.DataFrame, layers: Mapping[str, Sequence[str]] | None = None,
                     layer0: Sequence[str] | None = None,
                     routes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Hierarchical classification: optional layer 0 (Ia gate), layer 1, then its sub-layer.

    ``layers`` maps layer names to classifier lists (default :data:`DEFAULT_LAYERS`); it must have
    ``"layer1"`` and may have ``"layer0"``. ``routes`` maps a layer-1 class to the layer that
    refines it (default ``Hrich -> layer2a``, ``Hpoor -> layer2b``).

    Layer 0 (``layer0`` or ``layers["layer0"]``, default ``["Ia", "nonIa"]``; its first class is the
    gate) runs only when its columns are present (pass ``layer0=[]`` to switch it off). A row that
    layer 0 decides as the gate class gets that decision and no CC type (path ``"layer0:Ia"``);
    rows layer 0 calls ambiguous or non-Ia go on. Layer 1 decides among its classes; only a decided
    layer-1 class is refined by its sub-layer. A layer whose columns are missing is skipped and the
    path says which columns were missing; nothing is decided below a skipped or ambiguous step.

    Returns, on ``scores.index``: ``name``/``specfilename`` when present; for each step run
    ``layer0_*`` (when layer 0 is used), ``layer1_*`` and ``layer2_*`` with suffixes ``decision``,
    ``score``, ``score_std`` ("" and NaN where the step was not reached), ``layer2`` (which sub-layer
    was used, "" if none); the final ``decision`` (subtype; the layer-1 class such as ``"Hrich"``
    when the sub-layer is ambiguous or skipped; the gate class; or ``"ambiguous"``), its ``score``
    and ``score_std`` (of the deepest decided step), and ``path`` such as
    ``"layer0:nonIa>layer1:Hrich>layer2a:IIn"``.
    """
    layers = dict(DEFAULT_LAYERS if layers is None else layers)
    routes = dict(DEFAULT_ROUTES if routes is None else routes)
    if "layer1" not in layers:
        raise KeyError(f"layers must define 'layer1', got {list(layers)}")
    if layer0 is None:
        layer0 = layers.get("layer0", DEFAULT_LAYER0)
    layer0 = list(layer0)
    n = len(scores)
    out = pd.DataFrame(index=scores.index)
    for col in _ID_COLUMNS:
        if col in scores.columns:
            out[col] = scores[col]

    final = np.full(n, AMBIGUOUS, dtype=object)
    final_score = np.zeros(n)
    final_std = np.zeros(n)
    path = np.full(n, "", dtype=object)
    active = np.ones(n, dtype=bool)  # rows still going down the hierarchy

    use_layer0 = bool(layer0) and not missing_columns(scores, layer0)
    if use_layer0:
        dec0, s0, e0, piece0, _ = _layer_step(scores, "layer0", layer0)
        out["layer0_decision"], out["layer0_score"], out["layer0_score_std"] = dec0, s0, e0
        path = piece0.copy()
        gated = dec0 == layer0[0]
        final[gated], final_score[gated], final_std[gated] = dec0[gated], s0[gated], e0[gated]
        active &= ~gated

    dec1, s1, e1, piece1, ran1 = _layer_step(scores, "layer1", layers["layer1"])
    sep = np.where(path == "", "", ">").astype(object)
    path = np.where(active, path + sep + piece1, path)
    out["layer1_decision"] = np.where(active, dec1, "")
    out["layer1_score"] = np.where(active, s1, np.nan)
    out["layer1_score_std"] = np.where(active, e1, np.nan)
    decided1 = active & ran1 & (dec1 != AMBIGUOUS)
    final[decided1], final_score[decided1], final_std[decided1] = (
        dec1[decided1], s1[decided1], e1[decided1])

    dec2 = np.full(n, "", dtype=object)
    s2 = np.full(n, np.nan)
    e2 = np.full(n, np.nan)
    layer2 = np.full(n, "", dtype=object)
    for parent, sub in routes.items():
        rows = decided1 & (dec1 == parent)
        if sub not in layers or not rows.any():
            continue
        d, s, e, piece, ran = _layer_step(scores, sub, layers[sub])
        dec2[rows], s2[rows], e2[rows], layer2[rows] = d[rows], s[rows], e[rows], sub
        path[rows] = path[rows] + ">" + piece[rows]
        if ran:
            sure = rows & (d != AMBIGUOUS)
            final[sure], final_score[sure], final_std[sure] = d[sure], s[sure], e[sure]
    out["layer2"] = layer2
    out["layer2_decision"] = dec2
    out["layer2_score"] = s2
    out["layer2_score_std"] = e2
    out["decision"] = final
    out["score"] = np.where(final == AMBIGUOUS, 0.0, final_score)
    out["score_std"] = np.where(final == AMBIGUOUS, 0.0, final_std)
    out["path"] = path
    return out


def passes_confidence(score, score_std, min_score=0.8, max_std=0.05) -> np.ndarray:
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
    ambiguous rows (score 0) never pass.
    """
    tier = tns_criterion(num_snid)
    min_score = np.array([np.inf] + [s for _, s in TNS_TIERS])[tier]
    return passes_confidence(score, score_std, min_score=min_score, max_std=max_std)
