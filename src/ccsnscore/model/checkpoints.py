"""Self-describing classifier files: weights plus everything needed to use and trace them.

This module is the only code that knows the file format. A file ``<dir>/<layer>/<case>/<positive>.pt``
is a ``torch.save`` dict of plain types, read with ``weights_only=True`` (no code runs on load)::

    format            "ccsnscore-classifier/2" (version 1: the same without weights_sha256)
    state_dict        weights (float32 tensors; the network's float16 when ``weights_storage`` says
                      so: they are used as float32, the trees' tensors are always stored in full)
    weights_storage   optional: "float16" for a file exported with ``half_networks``
    weights_sha256    sha256 of the weights (names, shapes, dtypes, bytes), checked on every load
    hparams           network settings: BinaryClassifier(**hparams), an EnsembleClassifier when
                      they include ``members``, a BlendedClassifier (network + gradient-boosted
                      trees stored as tensors) when they include ``tree``
    input_case        "S" | "SL" | "SD" | "SLD"
    channels          batch keys the model reads, e.g. ["spectrum", "lc_r", "lc_g"]
    layer, positive   the task: positive class of ``layer``
    label_map         {class: [types]} of the layer (the negatives are the other classes)
    hierarchy         the decision hierarchy the classifier belongs to (labels config)
    preprocessing     preprocessing constants (ccsnscore.data.config.PreprocessingConfig)
    wavelength_grid   the spectrum grid, Angstrom, (n_wave,)
    dataset           fingerprint, cache_key, sample counts per split
    test_split        file name, sha256 and object names of the fixed test split
    metrics           validation metrics of the kept weights (val/loss, val/auroc, val/acc, ...)
    training          seed, rounds, epochs per round, batch size, trainer and data settings
    versions          ccsnscore, torch
    created           training date (UTC, ISO 8601)

A JSON copy of everything but the weights is written beside it (``<positive>.json``).

Classifiers shipped with the package live under ``ccsnscore/pretrained/<layer>/<case>/<positive>.pt``
and are loaded by name: ``load_classifier("layer1/S/Hrich")``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.model.network import BinaryClassifier, build_network

log = logging.getLogger(__name__)
FORMAT = "ccsnscore-classifier/2"
READABLE_FORMATS = ("ccsnscore-classifier/1", FORMAT)
SUFFIX = ".pt"
REQUIRED_KEYS = ("state_dict", "hparams", "input_case", "layer", "positive", "label_map", "preprocessing")


class ClassifierFileError(ValueError):
    """A file that is not a usable ccsnscore classifier (the message names the file and why)."""


def shipped_models_dir() -> Path:
    """The folder of the classifiers shipped with the package."""
    return Path(str(resources.files("ccsnscore") / "pretrained"))


def plain(value: Any) -> Any:
    """``value`` as JSON-like Python types (config nodes, dataclasses' dicts, numpy, tensors, paths)."""
    if hasattr(value, "_metadata") and type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return plain(OmegaConf.to_container(value, resolve=True))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, os.PathLike):
        return str(value)
    return value


def weights_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 of a state dict: every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def classifier_path(directory: str | os.PathLike, layer: str, input_case: str, positive: str) -> Path:
    """``<directory>/<layer>/<input_case>/<positive>.pt``."""
    return Path(directory) / layer / input_case / f"{positive}{SUFFIX}"


def test_split_record(path: str | os.PathLike) -> dict:
    """File name, sha256 and object names of a test-split CSV (a ``name`` column)."""
    path = Path(path)
    if not path.is_file():
        return {"path": path.name, "sha256": None, "names": []}
    import pandas as pd

    names = pd.read_csv(path, dtype=str, keep_default_na=False)["name"].tolist()
    return {"path": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "names": names}


def save_classifier(
    path: str | os.PathLike,
    network: BinaryClassifier,
    *,
    layer: str,
    positive: str,
    label_map: Mapping,
    preprocessing,
    manifest: Mapping | None = None,
    test_split_file: str | os.PathLike | None = None,
    metrics: Mapping | None = None,
    training: Mapping | None = None,
    dataset_summary: Mapping | None = None,
    hierarchy: Mapping | None = None,
) -> Path:
    """Write ``network`` and its description to ``path`` (and ``path`` with ``.json``); returns path."""
    import ccsnscore

    label_map = plain(label_map)
    if positive not in label_map:
        raise ValueError(f"positive class {positive!r} is not in the label map {list(label_map)}")
    pp = PreprocessingConfig.from_dict(preprocessing)
    manifest = dict(manifest or {})
    state_dict = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in network.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "weights_sha256": weights_sha256(state_dict),
        "hparams": plain(network.config),
        "input_case": network.input_case,
        "channels": list(network.channels),
        "layer": layer,
        "positive": positive,
        "label_map": label_map,
        "hierarchy": plain(hierarchy) if hierarchy is not None else None,
        "preprocessing": pp.to_dict(),
        "wavelength_grid": pp.wavelength_grid.tolist(),
        "dataset": {
            "fingerprint": manifest.get("dataset_fingerprint"),
            "cache_key": manifest.get("cache_key"),
            "n_samples": manifest.get("n_samples"),
            "splits": plain(dataset_summary or {}),
        },
        "test_split": test_split_record(test_split_file) if test_split_file else None,
        "metrics": plain(dict(metrics or {})),
        "training": plain(dict(training or {})),
        "versions": {"ccsnscore": str(ccsnscore.__version__), "torch": str(torch.__version__)},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return _write(Path(path), metadata, state_dict)


def _write(path: Path, metadata: dict, state_dict: Mapping[str, torch.Tensor]) -> Path:
    """Write a classifier file and its ``.json`` description, each atomically; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({**metadata, "state_dict": dict(state_dict)}, tmp)
    os.replace(tmp, path)
    json_tmp = path.with_name(path.stem + ".json.tmp")
    json_tmp.write_text(json.dumps(metadata, indent=1))
    os.replace(json_tmp, path.with_suffix(".json"))
    return path


def _without_root(value: Any, root: str) -> Any:
    """``value`` with every string path under ``root`` made relative to it."""
    if isinstance(value, dict):
        return {k: _without_root(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_root(v, root) for v in value]
    if isinstance(value, str) and value.startswith(root):
        return value[len(root) :].lstrip("/")
    return value


def _is_tree_tensor(key: str) -> bool:
    """A tensor of a blend's trees (``tree.*``, or ``*.tree.*`` inside a container)."""
    return key.startswith("tree.") or ".tree." in key


def export_classifier(
    source: str | os.PathLike, target: str | os.PathLike, run_dir: str | os.PathLike, half_networks: bool = False
) -> Path:
    """Copy a verified classifier file to ``target`` (and its ``.json``) for distribution: paths
    inside ``run_dir`` that its record holds (checkpoints of the training rounds) become relative,
    so a shipped file names nothing of the machine it was trained on. Weights unchanged, unless
    ``half_networks``: the network's floating-point weights are then stored as float16 (half the
    size; loaded back into float32, so each weight moves by at most 2**-11 of itself), recorded as
    ``weights_storage: "float16"``; the trees' thresholds and values stay as they were."""
    payload = _read(Path(source))
    root = str(Path(run_dir).resolve())
    metadata = _without_root({k: v for k, v in payload.items() if k != "state_dict"}, root)
    state_dict = payload["state_dict"]
    if half_networks:
        state_dict = {
            k: v.half() if v.is_floating_point() and not _is_tree_tensor(k) else v for k, v in state_dict.items()
        }
        metadata.update(weights_storage="float16", weights_sha256=weights_sha256(state_dict))
    return _write(Path(target), metadata, state_dict)


def replace_network(
    source: str | os.PathLike,
    target: str | os.PathLike,
    network,
    training_note: Mapping | None = None,
    run_dir: str | os.PathLike | None = None,
) -> Path:
    """Write ``target``: the classifier file ``source`` with its network replaced by ``network`` (e.g.
    the same network blended with trees; same task, input case and channels) and ``training_note``
    added to its training record. Everything else the file records is kept; paths inside
    ``run_dir`` become relative to it (as :func:`export_classifier`)."""
    payload = _read(Path(source))
    if run_dir is not None:
        payload = _without_root(payload, str(Path(run_dir).resolve()))
    if network.input_case != payload["input_case"] or list(network.channels) != list(payload.get("channels", [])):
        raise ValueError(f"{source}: the new network reads other inputs than the classifier it replaces")
    state_dict = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in network.state_dict().items()}
    metadata = {k: v for k, v in payload.items() if k != "state_dict"}
    metadata.update(
        format=FORMAT,
        weights_sha256=weights_sha256(state_dict),
        hparams=plain(network.config),
        training={**(metadata.get("training") or {}), **plain(dict(training_note or {}))},
    )
    return _write(Path(target), metadata, state_dict)


def resolve_classifier(path_or_name: str | os.PathLike, model_dir: str | os.PathLike | None = None) -> Path:
    """The file of a classifier given as a path, or as a name ``<layer>/<case>/<positive>`` looked up
    in ``model_dir`` (if given) and then in the models shipped with the package."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    if path.is_dir():
        raise FileNotFoundError(f"{path} is a folder; give a classifier file (<layer>/<case>/<class>{SUFFIX})")
    name = str(path_or_name).removesuffix(SUFFIX)
    candidates = ([Path(model_dir) / f"{name}{SUFFIX}"] if model_dir is not None else []) + [
        shipped_models_dir() / f"{name}{SUFFIX}"
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no classifier {str(path_or_name)!r}: not a file, and not found as {[str(c) for c in candidates]}"
    )


def _read(path: Path, map_location="cpu") -> dict:
    """The verified payload of a classifier file; :class:`ClassifierFileError` otherwise."""
    try:
        with warnings.catch_warnings():  # torch's note on a foreign pickle protocol: the error below says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        RuntimeError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        OSError,
    ) as err:
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        if isinstance(err, pickle.UnpicklingError) or "weights_only" in str(err):
            reason = "it holds objects other than plain data and tensors (refused: loading it could run code)"
        raise ClassifierFileError(f"not a ccsnscore classifier file: {path} ({reason})") from None
    if not isinstance(payload, dict) or payload.get("format") not in READABLE_FORMATS:
        raise ClassifierFileError(f"not a ccsnscore classifier file: {path} (no {FORMAT} header)")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise ClassifierFileError(f"not a ccsnscore classifier file: {path} (lacks {missing})")
    state_dict = payload["state_dict"]
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise ClassifierFileError(f"not a ccsnscore classifier file: {path} (weights are not tensors)")
    if payload["format"] == FORMAT:
        if weights_sha256(state_dict) != payload.get("weights_sha256"):
            raise ClassifierFileError(
                f"corrupt classifier file: {path} (its weights do not match their "
                "recorded sha256: changed or damaged since it was saved)"
            )
    else:
        log.warning("%s: format %s has no checksum; its integrity cannot be checked", path, payload["format"])
    if not all(_usable(k, v) for k, v in state_dict.items() if v.is_floating_point()):
        raise ClassifierFileError(f"unusable classifier file: {path} (its weights hold NaN or infinity)")
    return payload


def _usable(key: str, tensor: torch.Tensor) -> bool:
    """Finite, except a tree threshold, which may be infinite (a split of present against missing
    values, :class:`ccsnscore.model.trees.TreeEnsemble`) but never NaN."""
    if _is_tree_tensor(key) and key.rsplit(".", 1)[-1] == "threshold":
        return not bool(torch.isnan(tensor).any())
    return bool(torch.isfinite(tensor).all())


def classifier_metadata(path_or_name: str | os.PathLike, model_dir: str | os.PathLike | None = None) -> dict:
    """Everything stored with a classifier except its weights (see the module docstring)."""
    payload = _read(resolve_classifier(path_or_name, model_dir))
    payload.pop("state_dict")
    return payload


def load_classifier(
    path_or_name: str | os.PathLike,
    model_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
) -> BinaryClassifier:
    """Rebuild a saved classifier, in eval mode (dropout off; see ``set_mc_dropout``).

    ``path_or_name``: a file, or a name ``"layer1/S/Hrich"`` (see :func:`resolve_classifier`).
    The metadata is also attached as ``model.metadata`` and the file as ``model.path``. Raises
    :class:`ClassifierFileError` for a file that is not a verified ccsnscore classifier.
    """
    path = resolve_classifier(path_or_name, model_dir)
    payload = _read(path, map_location)
    state_dict = payload.pop("state_dict")
    try:
        model = build_network(payload["hparams"])
        model.load_state_dict(state_dict)
        if hasattr(model, "validate"):
            model.validate()
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        reason = str(err).strip().splitlines()[0][:120]
        raise ClassifierFileError(
            f"not a ccsnscore classifier file: {path} (its settings do not build the network: {reason})"
        ) from None
    model.metadata = payload
    model.path = path
    return model.to(map_location).eval()


def check_placement(model: BinaryClassifier, layer: str, input_case: str, positive: str) -> None:
    """Refuse a classifier used where its own metadata says it does not belong (a renamed or moved
    file): layer, input case and positive class must match, and the class must be in its label map."""
    meta = model.metadata
    path = getattr(model, "path", "?")
    found = {"layer": meta.get("layer"), "input case": meta.get("input_case"), "positive class": meta.get("positive")}
    wanted = {"layer": layer, "input case": input_case, "positive class": positive}
    wrong = [f"{k} {found[k]!r} (expected {wanted[k]!r})" for k in wanted if found[k] != wanted[k]]
    if positive not in (meta.get("label_map") or {}):
        wrong.append(f"label map without {positive!r}")
    if model.input_case != input_case:
        wrong.append(f"network for input case {model.input_case!r}")
    if wrong:
        raise ClassifierFileError(f"{path}: this classifier does not belong here: " + "; ".join(wrong))
