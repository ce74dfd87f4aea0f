"""Structured configs registered with Hydra: schemas whose defaults are the settings' only definition.

``preprocessing/default`` is :class:`ccsnscore.data.config.PreprocessingConfig`: Hydra composes it
like a YAML file of the ``preprocessing`` group, type-checks overrides against it
(``preprocessing.spectrum.n_wave=abc`` is refused) and the code receives the same fields.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from ccsnscore.data.config import PreprocessingConfig


def register_configs() -> None:
    """Store the structured configs in Hydra's ConfigStore (idempotent); call before composing."""
    ConfigStore.instance().store(group="preprocessing", name="default", node=PreprocessingConfig)
