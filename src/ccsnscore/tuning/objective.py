"""The objective of a sweep: compose the train config of a trial, train, return the metric."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf

from ccsnscore.training.loop import train
from ccsnscore.tuning.space import Param, container_key, plain_value, trial_overrides

log = logging.getLogger("ccsnscore.tuning")
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_train(overrides: Sequence[str]) -> DictConfig:
    """The ``train`` config of ``conf/`` with Hydra overrides (Hydra's compose API)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="sweep"):
        return compose(config_name="train", overrides=list(overrides))


def chosen_recipe(overrides: Sequence[str]) -> str:
    """The ``recipe`` config group that ``overrides`` end up with (e.g. ``paper`` for Table 2 searches)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="sweep"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    return str(cfg.hydra.runtime.choices.get("recipe"))


class TrialReport(Callback):
    """Reports ``metric`` (as logged per epoch, e.g. ``val/loss_best`` or ``val/auroc``) of each
    epoch to the running Optuna ``trial`` and raises :class:`optuna.TrialPruned` when the pruner
    says so, or at once when ``val/loss`` is not finite. The objective gives it to the first fit of a
    trial (first classifier, first balanced round) through ``train(cfg, extra_callbacks=...)``."""

    def __init__(self, trial: optuna.Trial, metric: str = "val/loss"):
        self.trial, self.metric = trial, str(metric)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        metrics, epoch = trainer.callback_metrics, trainer.current_epoch
        positive = getattr(trainer.datamodule, "positive", "?")
        loss = float(metrics["val/loss"]) if "val/loss" in metrics else 0.0
        if not math.isfinite(loss):
            self.trial.set_user_attr("failure", f"val/loss = {loss} ({positive}, epoch {epoch})")
            raise optuna.TrialPruned(f"val/loss is {loss} at epoch {epoch} of {positive}")
        if self.metric in metrics:
            value = float(metrics[self.metric])
            self.trial.report(value, epoch)
            if self.trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} of {positive}: {self.metric} = {value:.4f}")


def _finite_metrics(result: dict[str, Any]) -> dict[str, float | None]:
    metrics = {}
    for key, value in result.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[key] = float(value) if math.isfinite(value) else None
    return metrics


def _mean_metrics(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The numeric metrics averaged over several training runs (NaN if any run's is not finite)."""
    if len(results) == 1:
        return dict(results[0])
    keys = [k for k, v in results[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: float(np.mean([float(r.get(k, math.nan)) for r in results])) for k in keys}


def make_objective(
    base_overrides: Sequence[str],
    params: Sequence[Param],
    metric: str,
    sweep_dir: Path,
    seeds: Sequence[int] = (),
    train_fn: Callable[..., dict] = train,
) -> Callable[[optuna.Trial], float]:
    """The objective: compose, ``train_fn(cfg, extra_callbacks=[report])`` (once per seed of
    ``seeds``, or once with the config's seed), return ``result[metric]`` (the mean over the seeds)."""

    # per epoch the metric is logged without the classifier prefix (Hrich/val/auroc -> val/auroc)
    epoch_metric = metric.split("/", 1)[1] if metric.count("/") >= 2 else metric

    def objective(trial: optuna.Trial) -> float:
        values = {p.name: p.suggest(trial) for p in params}
        overrides = trial_overrides(params, values)
        run_dir = sweep_dir / f"trial_{trial.number:03d}"
        runs = [([], run_dir)] if not seeds else [([f"seed={s}"], run_dir / f"seed_{s}") for s in seeds]
        configs = []
        for seed_override, seed_dir in runs:
            configs.append(compose_train([*base_overrides, *overrides, *seed_override, f"run_dir={seed_dir}"]))
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr(
            "config",
            {
                k: plain_value(OmegaConf.select(configs[0], k))
                for k in dict.fromkeys(container_key(key) for p in params for key in p.keys)
            },
        )
        log.info("trial %d: %s%s", trial.number, " ".join(overrides), f" (seeds {list(seeds)})" if seeds else "")
        results = []
        try:
            for k, cfg in enumerate(configs):
                report = [TrialReport(trial, epoch_metric)] if k == 0 else []
                results.append(train_fn(cfg, extra_callbacks=report))
        except optuna.TrialPruned:
            raise
        except Exception as err:  # noqa: BLE001 - a bad trial must not end the study
            trial.set_user_attr("failure", f"{type(err).__name__}: {err}"[:1000])
            log.exception("trial %d failed", trial.number)
            raise
        result = _mean_metrics(results)
        trial.set_user_attr("metrics", _finite_metrics(result))
        if metric not in result:
            trial.set_user_attr("failure", f"no {metric} in the result")
            raise KeyError(f"train() gave no {metric!r}; it gave {sorted(result)}")
        if seeds:
            trial.set_user_attr("seed_values", {str(s): _finite_metrics(r).get(metric) for s, r in zip(seeds, results)})
        value = float(result[metric])
        if not math.isfinite(value):
            trial.set_user_attr("failure", f"{metric} = {value}")
            raise optuna.TrialPruned(f"{metric} is {value}")
        return value

    return objective
