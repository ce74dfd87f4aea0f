"""The search space of a sweep: parameters, their Hydra overrides and the config's own values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from omegaconf import DictConfig, ListConfig, OmegaConf


def plain_value(value: Any) -> Any:
    """A config node as plain Python containers; anything else unchanged."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def tidy_value(value: Any) -> Any:
    """Floats of a stepped range as they are meant (0.30000000000000004 -> 0.3)."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: the value sampled under ``name`` is set at every key of ``keys``."""

    name: str
    keys: tuple[str, ...]
    type: str  # int, float, categorical
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple | None = None
    channel: str | None = None  # S, L or D: only for input cases with that channel

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        value = trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)
        return round(value, 10) if self.step else value  # 0.30000000000000004 -> 0.3


def parse_params(spec: Any) -> list[Param]:
    """The ``hparams_search.params`` mapping as :class:`Param` objects (checked)."""
    spec = OmegaConf.to_container(spec, resolve=True) if isinstance(spec, DictConfig) else dict(spec or {})
    params = []
    for name, entry in spec.items():
        if entry is None:  # removed with hparams_search.params.<name>=null
            continue
        entry = dict(entry)
        keys = entry.pop("keys", None) or [entry.pop("key", None)]
        entry.pop("key", None)
        if not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"hparams_search.params.{name}: give key: <config key> or keys: [...]")
        kind = str(entry.pop("type", "float"))
        log_scale = bool(entry.pop("log", False))
        if kind == "log":
            kind, log_scale = "float", True
        if kind not in ("int", "float", "categorical"):
            raise ValueError(f"hparams_search.params.{name}: type {kind!r} is not int, float, categorical or log")
        choices = entry.pop("choices", None)
        if kind == "categorical" and not choices:
            raise ValueError(f"hparams_search.params.{name}: a categorical parameter needs choices")
        if kind != "categorical" and (entry.get("low") is None or entry.get("high") is None):
            raise ValueError(f"hparams_search.params.{name}: give low and high")
        channel = entry.pop("channel", None)
        if channel is not None and channel not in ("S", "L", "D"):
            raise ValueError(f"hparams_search.params.{name}: channel {channel!r} is not S, L or D")
        param = Param(
            name,
            tuple(keys),
            kind,
            entry.pop("low", None),
            entry.pop("high", None),
            entry.pop("step", None),
            log_scale,
            None if choices is None else tuple(choices),
            channel,
        )
        if entry:
            raise ValueError(f"hparams_search.params.{name}: unknown fields {sorted(entry)}")
        params.append(param)
    return params


def active_params(params: Sequence[Param], input_case: str) -> list[Param]:
    """The parameters that matter for ``input_case`` (e.g. no dm-dt sizes for case S)."""
    return [p for p in params if p.channel is None or p.channel in input_case]


def container_key(key: str) -> str:
    """The key that holds a whole value: ``model.spectrum.lstm_units.0`` -> ``model.spectrum.lstm_units``."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[:i])
    return key


def override_value(value: Any) -> str:
    """A Python value as it is written in a Hydra override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    return text if re.fullmatch(r"[\w./-]+", text) else "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def trial_overrides(params: Sequence[Param], values: dict[str, Any]) -> list[str]:
    """Hydra overrides that set the sampled ``values`` (by parameter name) at their keys."""
    return [f"{key}={override_value(values[p.name])}" for p in params for key in p.keys]


def baseline_values(cfg: DictConfig, params: Sequence[Param]) -> dict[str, Any]:
    """The composed config's own values of the searched parameters (those of its first key)."""
    return {p.name: plain_value(OmegaConf.select(cfg, p.keys[0])) for p in params}
