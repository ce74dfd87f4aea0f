"""SNID baseline from the SEDM spectrum header (``SNIDFRAC_*``, ``SNIDMATCHTYPE``, ``SNIDMATCHRLAP``).

The SEDM pipeline runs SNID on every spectrum and writes the fractions of good template matches by
type (``SNIDFRAC_IA/IB/IC/II/NOTSN``, summing to ~1) and its best match (type, subtype, rlap). We
turn them into "scores" for our classifiers so that SNID gets a ROC curve beside ours. SNID is a
baseline to compare against, never an input to the classifiers.

Choices (the pipeline's SNID, unlike the paper's appendix A run, did not exclude Ia and non-SN
templates):

- Layer 1 scores are renormalised over the core-collapse fractions, mimicking the paper's CC-only
  SNID run: ``Hrich = II / (II + Ib + Ic)``, ``Hpoor = (Ib + Ic) / (II + Ib + Ic)``. Where SNID has
  no CC match at all (``II + Ib + Ic == 0``) both are 0: SNID supports neither, so such spectra sit
  at the bottom of both ROC curves rather than being dropped (dropping them would flatter SNID).
- Layer 0: ``Ia = IA / total``, ``CC = (II + Ib + Ic) / total``, ``other = NOTSN / total`` and
  ``nonIa = 1 - Ia`` over all fractions; NaN when every fraction is 0.
- Rlap scores (appendix A): ``<cls>_rlap`` is the best-match rlap where the best match's type maps
  to ``<cls>``, else ``-inf`` (below any threshold), for :func:`ccsnscore.evaluation.metrics.roc_at_thresholds`.
  SNID type ``IIb`` maps to ``Hrich``/``IIb-H`` (SNID's IIb templates are mostly H-rich phases);
  ``Ic`` with subtype ``broad`` maps to ``Ic-BL``.
- Any needed key absent or unparseable gives NaN (``""`` for the match type).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

FRACTION_KEYS = {
    "Ia": "SNIDFRAC_IA",
    "Ib": "SNIDFRAC_IB",
    "Ic": "SNIDFRAC_IC",
    "II": "SNIDFRAC_II",
    "notSN": "SNIDFRAC_NOTSN",
}
MATCH_TYPE_KEY = "SNIDMATCHTYPE"
MATCH_SUBTYPE_KEY = "SNIDMATCHSUBTYPE"
MATCH_RLAP_KEY = "SNIDMATCHRLAP"
NO_MATCH_TYPES = {"", "NONE", "typename", "-"}

SNID_TYPE_TO_LAYER1 = {
    "II": "Hrich",
    "IIP": "Hrich",
    "IIL": "Hrich",
    "IIn": "Hrich",
    "IIb": "Hrich",
    "Ib": "Hpoor",
    "Ic": "Hpoor",
}
SNID_TYPE_TO_LAYER2 = {"II": "II", "IIP": "II", "IIL": "II", "IIn": "IIn", "IIb": "IIb-H", "Ib": "Ib", "Ic": "Ic"}


def _float(value) -> float:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return float("nan")


def parse_snid_header(header: Mapping[str, str]) -> dict:
    """SNID values of a spectrum header (``read_spectrum(path)[2]``) as numbers.

    Returns ``frac_Ia``, ``frac_Ib``, ``frac_Ic``, ``frac_II``, ``frac_notSN`` and ``match_rlap``
    (floats, NaN where absent or unparseable), ``match_type`` and ``match_subtype`` (str, ``""``
    where absent or no match). Keys are matched case-insensitively.
    """
    lookup = {str(k).strip().upper(): v for k, v in header.items()}
    parsed = {f"frac_{cls}": _float(lookup.get(key)) for cls, key in FRACTION_KEYS.items()}
    match_type = str(lookup.get(MATCH_TYPE_KEY, "")).strip()
    parsed["match_type"] = "" if match_type in NO_MATCH_TYPES else match_type
    subtype = str(lookup.get(MATCH_SUBTYPE_KEY, "")).strip()
    parsed["match_subtype"] = "" if subtype in NO_MATCH_TYPES or not parsed["match_type"] else subtype
    parsed["match_rlap"] = _float(lookup.get(MATCH_RLAP_KEY))
    return parsed


def snid_match_class(match_type: str, match_subtype: str = "") -> tuple[str, str]:
    """Our ``(layer-1 class, layer-2 class)`` of a SNID best-match type; ``""`` where none applies."""
    layer1 = SNID_TYPE_TO_LAYER1.get(match_type, "")
    layer2 = SNID_TYPE_TO_LAYER2.get(match_type, "")
    if match_type == "Ic" and match_subtype.lower().startswith("broad"):
        layer2 = "Ic-BL"
    return layer1, layer2


def snid_scores(header: Mapping[str, str]) -> dict:
    """SNID's scores for our classes from one header (see the module docstring for the choices).

    Returns ``Hrich``, ``Hpoor``, ``Ia``, ``nonIa``, ``CC``, ``other`` (fraction-based, 0-1), ``Hrich_frac`` and
    ``Hpoor_frac`` (the raw fractions ``II`` and ``Ib + Ic``, not renormalised), ``<cls>_rlap`` for
    ``Hrich``, ``Hpoor``, ``II``, ``IIb-H``, ``IIn``, ``Ib``, ``Ic``, ``Ic-BL``, ``Ia``, and the
    parsed values of :func:`parse_snid_header` plus ``match_layer1``/``match_layer2``.
    """
    parsed = parse_snid_header(header)
    frac_ii, frac_ib, frac_ic = parsed["frac_II"], parsed["frac_Ib"], parsed["frac_Ic"]
    cc_total = frac_ii + frac_ib + frac_ic
    total = cc_total + parsed["frac_Ia"] + parsed["frac_notSN"]
    scores: dict = {}
    if np.isnan(cc_total):
        scores["Hrich"] = scores["Hpoor"] = float("nan")
    elif cc_total > 0:
        scores["Hrich"], scores["Hpoor"] = frac_ii / cc_total, (frac_ib + frac_ic) / cc_total
    else:
        scores["Hrich"] = scores["Hpoor"] = 0.0
    scores["Hrich_frac"], scores["Hpoor_frac"] = frac_ii, frac_ib + frac_ic
    ia = parsed["frac_Ia"] / total if total > 0 else float("nan")
    scores["Ia"], scores["nonIa"] = ia, 1.0 - ia
    scores["CC"] = cc_total / total if total > 0 else float("nan")
    scores["other"] = parsed["frac_notSN"] / total if total > 0 else float("nan")

    layer1, layer2 = snid_match_class(parsed["match_type"], parsed["match_subtype"])
    rlap = parsed["match_rlap"]
    for cls in ("Hrich", "Hpoor", "II", "IIb-H", "IIn", "Ib", "Ic", "Ic-BL", "Ia"):
        matched = cls in (layer1, layer2) or (cls == "Ia" and parsed["match_type"] == "Ia")
        scores[f"{cls}_rlap"] = rlap if matched else -np.inf
    return {**scores, **parsed, "match_layer1": layer1, "match_layer2": layer2}


def snid_table(headers: Iterable[Mapping[str, str]], index=None) -> pd.DataFrame:
    """:func:`snid_scores` of many headers as a frame (one row per header, on ``index``)."""
    return pd.DataFrame([snid_scores(h) for h in headers], index=index)
