"""Self-describing classifier files: weights plus everything needed to use and trace them.

A file ``<dir>/<layer>/<case>/<positive>.pt`` is a ``torch.save`` dict of plain types (loadable
with ``weights_only=True``)::

    format            "ccsnscore-classifier/1"
    state_dict        weights (float32 tensors)
    hparams           BinaryClassifier arguments: input_case, bands, spectrum, lightcurve, dmdt
    input_case        "S" | "SL" | "SD" | "SLD"
    channels          batch keys the model reads, e.g. ["spectrum", "lc_r", "lc_g"]
    layer, positive   the task: positive class of ``layer``
    label_map         {class: [types]} of the layer (the negatives are the other classes)
    preprocessing     preprocessing constants (cfg.preprocessing) incl. wavelength grid settings
    wavelength_grid   the spectrum grid, Angstrom, (n_wave,)
    dataset           fingerprint, cache_key, data_root, sample counts per split
    test_split        file path, sha256 and object names of the fixed test split
    metrics           validation metrics of the kept weights (val/loss, val/auroc, val/acc, ...)
    training          seed, rounds, epochs per round, batch size, trainer and data settings
    versions          ccsnscore, torch, lightning
    created           training date (UTC, ISO 8601)

A JSON copy of everything but the weights is written beside it (``<positive>.json``).

Classifiers shipped with the package live under ``ccsnscore/models/<layer>/<case>/<positive>.pt``
and are loaded by name: ``load_classifier("layer1/S/Hrich")``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ccsnscore.classifier import BinaryClassifier

FORMAT = "ccsnscore-classifier/1"
SUFFIX = ".pt"


def _plain(value: Any) -> Any:
    """``value`` as JSON-like Python types (DictConfig, numpy scalars/arrays, paths, tuples)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
        if isinstance(value, (DictConfig, ListConfig)):
            return _plain(OmegaConf.to_container(value, resolve=True))
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def classifier_path(directory: str | os.PathLike, layer: str, input_case: str, positive: str) -> Path:
    """``<directory>/<layer>/<input_case>/<positive>.pt``."""
    return Path(directory) / layer / input_case / f"{positive}{SUFFIX}"


def test_split_record(path: str | os.PathLike) -> dict:
    """Path, sha256 and object names of a test-split CSV (a ``name`` column)."""
    path = Path(path)
    if not path.is_file():
        return {"path": str(path), "sha256": None, "names": []}
    import pandas as pd
    names = pd.read_csv(path, dtype=str, keep_default_na=False)["name"].tolist()
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "names": names}


def save_classifier(path: str | os.PathLike, model: BinaryClassifier, *, layer: str, positive: str,
                    label_map: Mapping, preprocessing: Mapping, manifest: Mapping | None = None,
                    test_split_file: str | os.PathLike | None = None, metrics: Mapping | None = None,
                    training: Mapping | None = None, dataset_summary: Mapping | None = None) -> Path:
    """Write ``model`` and its description to ``path`` (and ``path`` with ``.json``); returns path."""
    import lightning

    import ccsnscore

    preprocessing = _plain(preprocessing)
    spectrum_cfg = preprocessing.get("spectrum", {})
    grid = (np.linspace(spectrum_cfg["wave_min"], spectrum_cfg["wave_max"], spectrum_cfg["n_wave"]).tolist()
            if {"wave_min", "wave_max", "n_wave"} <= set(spectrum_cfg) else None)
    manifest = dict(manifest or {})
    metadata = {
        "format": FORMAT,
        "hparams": _plain(dict(model.hparams)),
        "input_case": model.input_case,
        "channels": list(model.channels),
        "layer": layer,
        "positive": positive,
        "label_map": _plain(label_map),
        "preprocessing": preprocessing,
        "wavelength_grid": grid,
        "dataset": {"fingerprint": manifest.get("dataset_fingerprint"), "cache_key": manifest.get("cache_key"),
                    "data_root": manifest.get("data_root"), "n_samples": manifest.get("n_samples"),
                    "splits": _plain(dataset_summary or {})},
        "test_split": test_split_record(test_split_file) if test_split_file else None,
        "metrics": _plain(dict(metrics or {})),
        "training": _plain(dict(training or {})),
        "versions": {"ccsnscore": str(ccsnscore.__version__), "torch": str(torch.__version__),
                     "lightning": str(lightning.__version__)},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    state_dict = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**metadata, "state_dict": state_dict}, tmp)
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(metadata, indent=1))
    return path


def resolve_classifier(path_or_name: str | os.PathLike, model_dir: str | os.PathLike | None = None) -> Path:
    """The file of a classifier given as a path, or as a name ``<layer>/<case>/<positive>`` looked up
    in ``model_dir`` (if given) and then in the models shipped with the package."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    name = str(path_or_name).removesuffix(SUFFIX)
    candidates = []
    if model_dir is not None:
        candidates.append(Path(model_dir) / f"{name}{SUFFIX}")
    try:
        candidates.append(Path(str(resources.files("ccsnscore") / "models" / f"{name}{SUFFIX}")))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover
        pass
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no classifier {path_or_name!r}: not a file, and not found as "
                            f"{[str(c) for c in candidates]}")


def _read(path_or_name, model_dir=None, map_location="cpu") -> dict:
    path = resolve_classifier(path_or_name, model_dir)
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} file")
    return payload


def classifier_metadata(path_or_name: str | os.PathLike, model_dir: str | os.PathLike | None = None) -> dict:
    """Everything stored with a classifier except its weights (see the module docstring)."""
    payload = _read(path_or_name, model_dir)
    payload.pop("state_dict")
    return payload


def load_classifier(path_or_name: str | os.PathLike, model_dir: str | os.PathLike | None = None,
                    map_location: str | torch.device = "cpu") -> BinaryClassifier:
    """Rebuild a saved classifier, in eval mode (dropout off; see ``set_mc_dropout``).

    ``path_or_name``: a file, or a name ``"layer1/S/Hrich"`` (see :func:`resolve_classifier`).
    The metadata is also attached as ``model.metadata``.
    """
    payload = _read(path_or_name, model_dir, map_location)
    state_dict = payload.pop("state_dict")
    model = BinaryClassifier(**payload["hparams"])
    model.load_state_dict(state_dict)
    model.metadata = payload
    return model.to(map_location).eval()
