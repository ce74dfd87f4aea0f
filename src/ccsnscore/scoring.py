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
from importlib import resources
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from ccsnscore.checkpoints import SUFFIX, load_classifier
from ccsnscore.mc_dropout import mc_dropout_scores


def shipped_models_dir() -> Path:
    """The folder of the classifiers shipped with the package."""
    return Path(str(resources.files("ccsnscore") / "models"))


@dataclass
class ModelSet:
    """Classifiers of one input case: ``layers[layer][positive] -> BinaryClassifier``."""

    input_case: str
    layers: dict[str, dict] = field(default_factory=dict)
    root: Path | None = None

    @property
    def classifiers(self) -> dict:
        """``{positive: model}`` over all layers."""
        return {pos: m for models in self.layers.values() for pos, m in models.items()}

    @property
    def preprocessing(self) -> dict:
        """The preprocessing constants shared by every classifier of the set."""
        settings = {json.dumps(m.metadata["preprocessing"], sort_keys=True) for m in self.classifiers.values()}
        if len(settings) != 1:
            raise ValueError(f"classifiers in {self.root} were trained with different preprocessing; "
                             "score them as separate model sets")
        return json.loads(settings.pop())

    def layer_classes(self) -> dict[str, list[str]]:
        return {layer: list(models) for layer, models in self.layers.items()}


def load_model_set(root=None, input_case: str = "S", layers=None,
                   map_location: str | torch.device = "cpu") -> ModelSet:
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
                models[f.stem] = load_classifier(f, map_location=map_location)
    if not found.layers:
        raise FileNotFoundError(f"no classifiers for input case {input_case!r} under {roots} "
                                f"(expected <layer>/{input_case}/<class>{SUFFIX})")
    return found


def score_table(models: Mapping, channels: Mapping[str, torch.Tensor], n_passes: int = 100,
                seed: int | None = 0, chunk_rows: int | None = None, index=None) -> pd.DataFrame:
    """Monte-Carlo-dropout scores of every classifier in ``models`` (``{positive: model}``).

    ``channels``: model inputs for ``n`` spectra (each model reads its own channels). Returns a
    frame of ``n`` rows with ``<positive>`` and ``<positive>_std`` columns. Classifier ``k`` uses
    seed ``seed + k`` so that runs repeat exactly.
    """
    columns = {}
    for k, (positive, model) in enumerate(models.items()):
        mean, std = mc_dropout_scores(model, channels, n_passes, chunk_rows,
                                      None if seed is None else seed + k)
        columns[positive], columns[f"{positive}_std"] = mean, std
    return pd.DataFrame(columns, index=index)
