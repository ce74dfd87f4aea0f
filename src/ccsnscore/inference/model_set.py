"""Sets of trained classifiers and the score tables they give.

A *model set* is a folder ``<root>/<layer>/<case>/<positive>.pt`` (what training writes under
``<run_dir>/classifiers``; the models shipped with the package are one). Scoring runs every
classifier's Monte-Carlo-dropout passes and returns a table with one row per spectrum and the
columns ``<positive>`` (mean probability) and ``<positive>_std``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.inference.decisions import Hierarchy
from ccsnscore.model.checkpoints import SUFFIX, check_placement, load_classifier, shipped_models_dir

LABELS_CONFIG = Path(__file__).resolve().parents[1] / "conf" / "labels" / "default.yaml"


def default_hierarchy() -> Hierarchy:
    """The hierarchy of the labels config (for classifier files that do not record one)."""
    return Hierarchy.from_config(yaml.safe_load(LABELS_CONFIG.read_text())["hierarchy"])


def unclassified_types() -> list[str]:
    """The types the labels config treats as unclassified (no usable label)."""
    return list(yaml.safe_load(LABELS_CONFIG.read_text())["unclassified"])


@dataclass
class ModelSet:
    """Classifiers of one input case: ``layers[layer][positive] -> BinaryClassifier``.

    Every file was checked against where it lies (layer, case, class; see
    :func:`ccsnscore.model.checkpoints.check_placement`) and its weights against their checksum."""

    input_case: str
    layers: dict[str, dict] = field(default_factory=dict)
    root: Path | None = None
    gate_case: str | None = None
    """Input case of the gate's classifiers when they come from another case (the case-S gate in
    front of SL/SD/SLD models); None when the set has its own."""

    @property
    def classifiers(self) -> dict:
        """``{positive: model}`` over all layers."""
        return {pos: m for models in self.layers.values() for pos, m in models.items()}

    @property
    def preprocessing(self) -> PreprocessingConfig:
        """The preprocessing constants shared by every classifier of the set."""
        settings = {
            json.dumps(PreprocessingConfig.from_dict(m.metadata["preprocessing"]).to_dict(), sort_keys=True)
            for m in self.classifiers.values()
        }
        if len(settings) != 1:
            raise ValueError(
                f"classifiers in {self.root} were trained with different preprocessing; "
                "score them as separate model sets"
            )
        return PreprocessingConfig.from_dict(json.loads(settings.pop()))

    @property
    def hierarchy(self) -> Hierarchy:
        """The decision hierarchy recorded in the classifiers (the labels config's for older files)."""
        recorded = {
            json.dumps(m.metadata.get("hierarchy"), sort_keys=True)
            for m in self.classifiers.values()
            if m.metadata.get("hierarchy")
        }
        if len(recorded) > 1:
            raise ValueError(f"classifiers in {self.root} record different decision hierarchies")
        return Hierarchy.from_config(json.loads(recorded.pop())) if recorded else default_hierarchy()

    def layer_classes(self) -> dict[str, list[str]]:
        return {layer: list(models) for layer, models in self.layers.items()}

    def without(self, *layers: str) -> ModelSet:
        """The same set without the classifiers of ``layers`` (e.g. the gate switched off)."""
        return ModelSet(
            self.input_case, {k: v for k, v in self.layers.items() if k not in layers}, self.root, self.gate_case
        )

    def check_complete(self) -> None:
        """Refuse a set that cannot run its hierarchy: a layer lacking some classifier of its label
        map, or no classifiers for the layer the hierarchy starts at (or reaches first)."""
        for layer, models in self.layers.items():
            label_map = next(iter(models.values())).metadata.get("label_map") or {}
            missing = sorted(set(label_map) - set(models))
            if missing or len(models) < 2:
                where = self.root / layer / self.input_case if self.root else layer
                raise FileNotFoundError(
                    f"{where}: classifiers {missing or 'of a second class'} missing "
                    f"(a layer needs one per class: {sorted(label_map)})"
                )
        entry, _ = self.hierarchy.entry(list(self.layers))
        if entry is None:
            raise FileNotFoundError(
                f"{self.root}: no classifiers of the layers the hierarchy starts with "
                f"({', '.join(self.hierarchy.layers()[:2])}) for case {self.input_case}"
            )


def _load_layers(found: ModelSet, folders: list[Path], case: str, layers, map_location) -> None:
    """Add ``<folder>/<layer>/<case>/*.pt`` of every folder to ``found`` (checked files)."""
    for folder in folders:
        for layer_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if layers is not None and layer_dir.name not in layers:
                continue
            for f in sorted((layer_dir / case).glob(f"*{SUFFIX}")):
                models = found.layers.setdefault(layer_dir.name, {})
                if f.stem in models:
                    raise ValueError(f"classifier {layer_dir.name}/{case}/{f.stem} found twice (in {folders})")
                model = load_classifier(f, map_location=map_location)
                check_placement(model, layer_dir.name, case, f.stem)
                models[f.stem] = model


def load_model_set(
    root=None,
    input_case: str = "S",
    layers=None,
    map_location: str | torch.device = "cpu",
    gate_case: str | None = None,
) -> ModelSet:
    """Load ``<root>/<layer>/<input_case>/*.pt`` for every layer found (or only ``layers``).

    ``root``: a model folder or a training run directory, a list of them (their layers are merged;
    a classifier found twice is an error), or None for the classifiers shipped with the package.
    ``gate_case``: when the set has no classifiers of the hierarchy's first layer (the gate), take
    that layer's classifiers of this input case instead (e.g. ``"S"`` for SL/SD/SLD models; they
    read the spectrum only); recorded as :attr:`ModelSet.gate_case`.
    """
    roots = [root] if root is None or isinstance(root, (str, os.PathLike)) else list(root)
    found = ModelSet(input_case)
    folders = []
    for one in roots:
        one = Path(one) if one is not None else shipped_models_dir()
        if (one / "classifiers").is_dir():  # a training run directory
            one = one / "classifiers"
        if not one.is_dir():
            raise FileNotFoundError(f"{one}: no such model folder (expected <layer>/<case>/<class>{SUFFIX} inside)")
        folders.append(one)
    found.root = folders[0]
    _load_layers(found, folders, input_case, layers, map_location)
    if not found.layers:
        cases = sorted({p.name for f in folders for p in f.glob("*/*") if p.is_dir()})
        raise FileNotFoundError(
            f"no classifiers for input case {input_case!r} in {', '.join(map(str, folders))} "
            f"(expected <layer>/{input_case}/<class>{SUFFIX}; cases there: {cases or 'none'})"
        )
    gate = found.hierarchy.root
    if gate_case and gate_case != input_case and gate not in found.layers and (layers is None or gate in layers):
        borrowed = ModelSet(gate_case)
        _load_layers(borrowed, folders, gate_case, [gate], map_location)
        if gate in borrowed.layers:
            found.layers = {gate: borrowed.layers[gate], **found.layers}
            found.gate_case = gate_case
    return found


def load_observed_model_set(
    root=None, input_case: str = "S", map_location: str | torch.device = "cpu"
) -> ModelSet | None:
    """The observed-frame models for spectra without a usable redshift: ``root`` (default: the
    shipped ``observed-frame`` folder), for ``input_case`` when it has classifiers of that case,
    else its case-S classifiers (those spectra then go without their light curves). None when the
    folder does not exist. Checked complete."""
    root = Path(root) if root is not None else shipped_models_dir() / "observed-frame"
    if not root.is_dir():
        return None
    case = input_case if any(root.glob(f"*/{input_case}/*{SUFFIX}")) else "S"
    observed = load_model_set(root, case, map_location=map_location, gate_case="S")
    observed.check_complete()
    return observed
