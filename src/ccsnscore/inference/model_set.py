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


@dataclass
class ModelSet:
    """Classifiers of one input case: ``layers[layer][positive] -> BinaryClassifier``.

    Every file was checked against where it lies (layer, case, class; see
    :func:`ccsnscore.model.checkpoints.check_placement`) and its weights against their checksum."""

    input_case: str
    layers: dict[str, dict] = field(default_factory=dict)
    root: Path | None = None

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
        return ModelSet(self.input_case, {k: v for k, v in self.layers.items() if k not in layers}, self.root)


def load_model_set(root=None, input_case: str = "S", layers=None, map_location: str | torch.device = "cpu") -> ModelSet:
    """Load ``<root>/<layer>/<input_case>/*.pt`` for every layer found (or only ``layers``).

    ``root``: a model folder or a training run directory, a list of them (their layers are merged;
    a classifier found twice is an error), or None for the classifiers shipped with the package.
    """
    roots = [root] if root is None or isinstance(root, (str, os.PathLike)) else list(root)
    found = ModelSet(input_case)
    for one in roots:
        one = Path(one) if one is not None else shipped_models_dir()
        if (one / "classifiers").is_dir():  # a training run directory
            one = one / "classifiers"
        found.root = one if found.root is None else found.root
        for layer_dir in sorted(p for p in one.iterdir() if p.is_dir()) if one.is_dir() else []:
            if layers is not None and layer_dir.name not in layers:
                continue
            for f in sorted((layer_dir / input_case).glob(f"*{SUFFIX}")):
                models = found.layers.setdefault(layer_dir.name, {})
                if f.stem in models:
                    raise ValueError(f"classifier {layer_dir.name}/{input_case}/{f.stem} found twice (in {roots})")
                model = load_classifier(f, map_location=map_location)
                check_placement(model, layer_dir.name, input_case, f.stem)
                models[f.stem] = model
    if not found.layers:
        raise FileNotFoundError(
            f"no classifiers for input case {input_case!r} under {roots} "
            f"(expected <layer>/{input_case}/<class>{SUFFIX})"
        )
    return found
