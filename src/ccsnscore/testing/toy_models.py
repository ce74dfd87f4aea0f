"""Untrained classifiers saved as training saves them, for tests of scoring and evaluation."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.model.checkpoints import classifier_path, save_classifier
from ccsnscore.model.network import BinaryClassifier

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
SMALL = {"spectrum": {"lstm_units": [4, 4], "dense_units": [8]}, "lightcurve": {"lstm_units": [4, 4, 4]}}


def write_untrained_models(
    root: str | Path, cases=("S",), all_layers_for=("S",), test_split_file=None, seed: int = 0, sizes: dict = SMALL
) -> Path:
    """Save small untrained classifiers ``<root>/<layer>/<case>/<class>.pt``: every layer of the
    default label map for the cases in ``all_layers_for``, layer 1 only for the other ``cases``."""
    torch.manual_seed(seed)
    pp = PreprocessingConfig()
    labels = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "labels" / "default.yaml"))
    for case in cases:
        for layer, classes in labels["layers"].items():
            if case not in all_layers_for and layer != "layer1":
                continue
            for positive in classes:
                model = BinaryClassifier(case, **sizes)
                save_classifier(
                    classifier_path(root, layer, case, positive),
                    model,
                    layer=layer,
                    positive=positive,
                    label_map=classes,
                    preprocessing=pp,
                    test_split_file=test_split_file,
                    hierarchy=labels["hierarchy"],
                )
    return Path(root)
