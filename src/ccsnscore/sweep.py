"""Hyperparameter sweeps with Optuna over the training config (paper section 4, Table 2).

    python -m ccsnscore.sweep hparams_search=layer1_optuna +experiment=layer1_S [n_trials=30]
        [classifiers=[Hrich]] [trainer.max_epochs=15] [any other train override]
    python -m ccsnscore.sweep summary outputs/sweeps/layer1_S [--out DIR]
    python -m ccsnscore.sweep summary postgresql://host/db --study layer1_S --out DIR

Every argument of a sweep is a Hydra override of the ``train`` config; ``n_trials``,
``direction``, ``storage``, ``study_name`` and ``sweep_dir`` are short for
``hparams_search.<key>`` (see ``conf/hparams_search/optuna.yaml``). A trial composes
``train`` with the sweep's overrides plus its sampled values (e.g.
``model.spectrum.lstm_units.0=8``) and ``run_dir=<sweep_dir>/trial_<k>``, calls
:func:`ccsnscore.train.train` and returns ``result[optimized_metric]``.

- The study lives in ``hparams_search.storage`` (default ``sqlite:///<sweep_dir>/optuna.db``) and
  is loaded if it exists: ``n_trials`` is the total number of finished trials of the study, so an
  interrupted study runs only the missing ones. Several machines can share one RDB study.
- With ``seeds`` (e.g. ``[12345, 1, 2]``) each trial trains once per seed (``<run_dir>/seed_<s>``)
  and the objective is the mean: single runs of these classifiers differ a lot from seed to seed,
  and a one-seed study tends to pick a lucky seed rather than better hyperparameters.
- With ``enqueue_defaults`` the first trial of a new study trains the config's own values (the
  experiment's defaults), a baseline under the same budget.
- A trial whose objective is NaN or infinite (a diverging loss) is pruned; one that raises is
  marked failed; neither stops the study (``max_consecutive_failures`` failures in a row do).
- The objective's metric as logged after every epoch of the first classifier's first round (e.g.
  ``val/loss_best``, the best validation loss so far) is the intermediate value (step = epoch) for
  the pruner.
- At the end, and with ``summary``: ``best_params.yaml`` (an experiment override file: copy it to
  ``conf/experiment/<name>.yaml`` and train with ``+experiment=<name>``), ``trials.csv``,
  ``optimization_history.png`` and ``param_importances.png``.

Why not Hydra's Optuna sweeper plugin: ``hydra-optuna-sweeper`` 1.3.0 (the latest) requires
``optuna>=2.10,<3``; installing it downgrades optuna 5.0.0 to 2.10.1, whose RDB storage fails with
the installed SQLAlchemy 2.x (``AssertionError`` in ``get_current_version`` on a new sqlite
study) and older SQLAlchemy conflicts with the installed alembic; with the hydra-core 1.4
pre-release it does not even compose its own config. Resumable studies need that storage, so
Optuna 5 is driven directly and configs come from Hydra's compose API, which gives the same
overrides and config groups as ``python -m ccsnscore.train``.
"""
from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import optuna
import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict
from optuna.trial import TrialState

log = logging.getLogger(__name__)
CONF_DIR = Path(__file__).resolve().parent / "conf"
SHORT_KEYS = ("n_trials", "direction", "storage", "study_name", "sweep_dir")
DEFAULT_SEARCH = "optuna"
METRIC_KEYS = ("val/loss_best", "val/loss", "val/auroc", "val/acc")
SUMMARY_FILES = ("best_params.yaml", "trials.csv", "optimization_history.png", "param_importances.png")


# -- the search space ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: the value sampled under ``name`` is set at every key of ``keys``."""

    name: str
    keys: tuple[str, ...]
    type: str                     # int, float, categorical
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple | None = None
    channel: str | None = None    # S, L or D: only for input cases with that channel

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
        param = Param(name, tuple(keys), kind, entry.pop("low", None), entry.pop("high", None),
                      entry.pop("step", None), log_scale, None if choices is None else tuple(choices), channel)
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
    return {p.name: _plain(OmegaConf.select(cfg, p.keys[0])) for p in params}


def expand_short_keys(overrides: Sequence[str]) -> list[str]:
    """``n_trials=5`` -> ``hparams_search.n_trials=5`` (and the other :data:`SHORT_KEYS`);
    ``hparams_search=optuna`` is added when no search config is chosen."""
    expanded = []
    for item in overrides:
        key, sep, value = item.partition("=")
        expanded.append(f"hparams_search.{key}={value}" if sep and key in SHORT_KEYS else item)
    if not any(re.match(r"^\+{0,2}hparams_search=", item) for item in expanded):
        expanded.insert(0, f"hparams_search={DEFAULT_SEARCH}")
    return expanded


def experiments_of(overrides: Sequence[str]) -> list[str]:
    """The experiment configs named by ``+experiment=a`` or ``+experiment=[a,b]``."""
    names = []
    for item in overrides:
        match = re.match(r"^\+{0,2}experiment=(.*)$", item)
        if match:
            names += [n.strip() for n in match.group(1).strip("[]").split(",") if n.strip()]
    return names


def compose_train(overrides: Sequence[str]) -> DictConfig:
    """The ``train`` config of ``conf/`` with Hydra overrides (Hydra's compose API)."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR), job_name="sweep"):
        return compose(config_name="train", overrides=list(overrides))


# -- reporting from inside training -------------------------------------------------------------
_LIVE_TRIALS: dict[int, dict] = {}  # trial number -> {"trial": optuna.Trial, "fits": int}


class TrialReport(Callback):
    """Reports ``metric`` (as logged per epoch, e.g. ``val/loss_best`` or ``val/auroc``) of each
    epoch of the first fit (first classifier, first balanced round) to the running Optuna trial
    ``trial_number`` and raises :class:`optuna.TrialPruned` when the pruner says so; any fit whose
    ``val/loss`` is not finite prunes the trial at once. Added to a trial's ``callbacks`` by the
    sweep; a no-op outside it (no live trial of that number)."""

    def __init__(self, trial_number: int, metric: str = "val/loss"):
        self.trial_number, self.metric = int(trial_number), str(metric)
        self.first_fit = False

    def on_fit_start(self, trainer, pl_module) -> None:
        live = _LIVE_TRIALS.get(self.trial_number)
        if live is not None:
            self.first_fit = live["fits"] == 0
            live["fits"] += 1

    def on_validation_end(self, trainer, pl_module) -> None:
        live = _LIVE_TRIALS.get(self.trial_number)
        if live is None or trainer.sanity_checking:
            return
        metrics, epoch = trainer.callback_metrics, trainer.current_epoch
        positive = getattr(trainer.datamodule, "positive", "?")
        loss = float(metrics["val/loss"]) if "val/loss" in metrics else 0.0
        if not math.isfinite(loss):
            live["trial"].set_user_attr("failure", f"val/loss = {loss} ({positive}, epoch {epoch})")
            raise optuna.TrialPruned(f"val/loss is {loss} at epoch {epoch} of {positive}")
        if self.first_fit and self.metric in metrics:
            value = float(metrics[self.metric])
            live["trial"].report(value, epoch)
            if live["trial"].should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} of {positive}: {self.metric} = {value:.4f}")


# -- the study ----------------------------------------------------------------------------------
def make_storage(url: str | None, heartbeat_interval: int | None):
    """An Optuna storage: None -> in memory; an RDB URL (sqlite:///..., postgresql://...) with a
    heartbeat so that trials of a killed process are failed and run again."""
    if not url:
        return None
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {}
    kwargs = {"heartbeat_interval": int(heartbeat_interval)} if heartbeat_interval else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)


def counted_trials(study: optuna.Study, heartbeat: bool) -> int:
    """Trials that count towards ``n_trials``: complete, pruned, failed with a recorded reason, and
    (with a heartbeat) running elsewhere. Trials failed by an interruption run again."""
    count = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            count += 1
        elif trial.state == TrialState.FAIL and "failure" in trial.user_attrs:
            count += 1
        elif trial.state == TrialState.RUNNING and heartbeat:
            count += 1
    return count


def _plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _tidy(value: Any) -> Any:
    """Floats of a stepped range as they are meant (0.30000000000000004 -> 0.3)."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _finite_metrics(result: dict[str, Any]) -> dict[str, float | None]:
    metrics = {}
    for key, value in result.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[key] = float(value) if math.isfinite(value) else None
    return metrics


class _FailureGuard:
    """Stops the study after ``limit`` failed trials in a row."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row, self.tripped = int(limit), 0, False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.limit and self.in_a_row >= self.limit:
            self.tripped = True
            study.stop()


def _mean_metrics(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The numeric metrics averaged over several training runs (NaN if any run's is not finite)."""
    if len(results) == 1:
        return dict(results[0])
    keys = [k for k, v in results[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: float(np.mean([float(r.get(k, math.nan)) for r in results])) for k in keys}


def make_objective(base_overrides: Sequence[str], params: Sequence[Param], metric: str,
                   sweep_dir: Path, seeds: Sequence[int] = ()) -> Callable[[optuna.Trial], float]:
    """The objective: compose, train (once per seed of ``seeds``, or once with the config's seed),
    return ``result[metric]`` (the mean over the seeds)."""
    from ccsnscore import train as train_module  # looked up per call (tests replace train)

    # per epoch the metric is logged without the classifier prefix (Hrich/val/auroc -> val/auroc)
    epoch_metric = metric.split("/", 1)[1] if metric.count("/") >= 2 else metric

    def objective(trial: optuna.Trial) -> float:
        values = {p.name: p.suggest(trial) for p in params}
        overrides = trial_overrides(params, values)
        run_dir = sweep_dir / f"trial_{trial.number:03d}"
        runs = [([], run_dir)] if not seeds else [([f"seed={s}"], run_dir / f"seed_{s}") for s in seeds]
        configs = []
        for seed_override, seed_dir in runs:
            cfg = compose_train([*base_overrides, *overrides, *seed_override, f"run_dir={seed_dir}"])
            with open_dict(cfg):
                if cfg.get("callbacks") is None:
                    cfg.callbacks = {}
                # __name__, not a fixed path: under `python -m` this module is __main__, and the
                # callback must find the live trial in this module's _LIVE_TRIALS
                cfg.callbacks.optuna_report = {"_target_": f"{__name__}.TrialReport",
                                               "trial_number": trial.number, "metric": epoch_metric}
            configs.append(cfg)
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("config", {k: _plain(OmegaConf.select(configs[0], k))
                                       for k in dict.fromkeys(container_key(key) for p in params for key in p.keys)})
        log.info("trial %d: %s%s", trial.number, " ".join(overrides), f" (seeds {list(seeds)})" if seeds else "")
        _LIVE_TRIALS[trial.number] = {"trial": trial, "fits": 0}
        results = []
        try:
            for cfg in configs:
                results.append(train_module.train(cfg))
        except optuna.TrialPruned:
            raise
        except Exception as err:  # noqa: BLE001 - a bad trial must not end the study
            trial.set_user_attr("failure", f"{type(err).__name__}: {err}"[:1000])
            log.exception("trial %d failed", trial.number)
            raise
        finally:
            _LIVE_TRIALS.pop(trial.number, None)
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


def run_sweep(overrides: Sequence[str]) -> optuna.Study:
    """Create or resume the study of ``overrides`` (train overrides, :data:`SHORT_KEYS` allowed),
    run trials until it has ``n_trials`` finished ones, write the summary into the sweep dir."""
    base_overrides = expand_short_keys(overrides)
    cfg = compose_train(base_overrides)
    search = cfg.hparams_search
    sweep_dir = Path(search.sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(sweep_dir / "sweep.log")
    params = active_params(parse_params(search.params), str(cfg.data.input_case))
    if not params:
        raise ValueError("hparams_search.params has no parameter for input case " + str(cfg.data.input_case))
    for p in params:
        for key in p.keys:
            if OmegaConf.select(cfg, key, default="<missing>") == "<missing>":
                raise KeyError(f"hparams_search.params.{p.name}: no key {key!r} in the train config")
    metric, direction = str(cfg.optimized_metric), str(search.direction)
    heartbeat = search.get("heartbeat_interval")
    storage_url = search.get("storage")
    storage = make_storage(storage_url, heartbeat)
    study = optuna.create_study(storage=storage, study_name=str(search.study_name), direction=direction,
                                load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ValueError(f"study {search.study_name!r} is {study.direction.name.lower()}, not {direction}")
    space = {p.name: {"keys": list(p.keys), "type": p.type, "low": p.low, "high": p.high, "step": p.step,
                      "log": p.log, "choices": None if p.choices is None else list(p.choices)} for p in params}
    if study.user_attrs.get("params") not in (None, space):
        log.warning("the search space differs from the one this study was started with")
    study.set_user_attr("params", space)
    study.set_user_attr("optimized_metric", metric)
    study.set_user_attr("overrides", [o for o in overrides])
    study.set_user_attr("experiments", experiments_of(overrides))
    if heartbeat and storage is not None:
        optuna.storages.fail_stale_trials(study)
    sampler_cfg = OmegaConf.to_container(search.sampler, resolve=True)
    if sampler_cfg.get("seed") is not None:  # a resumed study must not draw its first trials again
        sampler_cfg["seed"] = int(sampler_cfg["seed"]) + len(study.trials)
    study.sampler = instantiate(sampler_cfg)
    study.pruner = instantiate(search.pruner) if search.get("pruner") else optuna.pruners.NopPruner()
    if search.get("enqueue_defaults") and not study.trials:
        study.enqueue_trial(baseline_values(cfg, params), user_attrs={"baseline": True})
        log.info("trial 0 trains the config's own values (the baseline)")

    n_trials = int(search.n_trials)
    done = counted_trials(study, bool(heartbeat and storage is not None))
    log.info("study %s (%s): %d of %d trials done; %s %s; parameters %s", study.study_name,
             storage_url or "in memory", done, n_trials, direction, metric, [p.name for p in params])
    seeds = [int(s) for s in (search.get("seeds") or [])]
    objective = make_objective(base_overrides, params, metric, sweep_dir, seeds)
    guard = _FailureGuard(int(search.get("max_consecutive_failures") or 0))
    while counted_trials(study, bool(heartbeat and storage is not None)) < n_trials:
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[guard], gc_after_trial=True)
        if guard.tripped:
            write_summary(study, sweep_dir)
            raise RuntimeError(f"{guard.in_a_row} trials failed in a row; see {sweep_dir / 'sweep.log'}")
    write_summary(study, sweep_dir)
    return study


def _log_to_file(path: Path) -> None:
    root = logging.getLogger()
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve()
               for h in root.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        root.addHandler(handler)


# -- summary ------------------------------------------------------------------------------------
def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, duration, sampled parameters, training metrics,
    failure reason and run directory."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        row = {"number": t.number, "state": t.state.name, "value": t.value,
               "duration_s": None if duration is None else round(duration, 1)}
        row.update({f"params_{k}": _tidy(v) for k, v in t.params.items()})
        metrics = t.user_attrs.get("metrics") or {}
        row.update({k: metrics.get(k) for k in METRIC_KEYS if k in metrics})
        row.update({k: v for k, v in metrics.items() if k not in METRIC_KEYS and "/val/" in k})
        row["last_step"] = t.last_step
        row["baseline"] = bool(t.user_attrs.get("baseline", False))
        for seed, value in (t.user_attrs.get("seed_values") or {}).items():
            row[f"value_seed{seed}"] = value
        row["failure"] = t.user_attrs.get("failure", "")
        row["run_dir"] = t.user_attrs.get("run_dir", "")
        rows.append(row)
    return pd.DataFrame(rows)


def best_params_yaml(study: optuna.Study) -> str:
    """The best trial's values as an experiment override file (``# @package _global_``)."""
    best = study.best_trial
    config = best.user_attrs.get("config")
    if not config:
        raise ValueError(f"trial {best.number} has no recorded config values")
    nested = OmegaConf.create({})
    for key, value in config.items():
        OmegaConf.update(nested, key, value, force_add=True)
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    experiments = study.user_attrs.get("experiments") or []
    overrides = " ".join(study.user_attrs.get("overrides") or [])
    lines = ["# @package _global_",
             f"# Best of Optuna study {study.study_name!r} (python -m ccsnscore.sweep): trial {best.number}, "
             f"{study.user_attrs.get('optimized_metric', 'value')} = {best.value:.6g} ({study.direction.name.lower()}).",
             f"# Trials: {', '.join(f'{n} {s.lower()}' for s, n in sorted(states.items()))}.",
             f"# Sweep overrides: {overrides}",
             "# Use: copy to conf/experiment/<name>.yaml, then python -m ccsnscore.train +experiment=<name>",
             f"# Sampled: {', '.join(f'{k}={_tidy(v)}' for k, v in best.params.items())}"]
    if experiments:
        lines += ["defaults:", *[f"  - {name}" for name in experiments], "  - _self_"]
    return "\n".join(lines) + "\n" + OmegaConf.to_yaml(nested)


def _save_plot(make_axes: Callable, path: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            axes = make_axes()
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.set_size_inches(8, 5)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
        return None
    except Exception as err:  # noqa: BLE001 - a missing plot must not lose the other results
        plt.close("all")
        return f"{type(err).__name__}: {err}"


def write_summary(study: optuna.Study, out_dir: str | Path) -> dict[str, Path]:
    """Write ``best_params.yaml``, ``trials.csv`` and the two PNGs into ``out_dir``; returns the
    files written (a plot that cannot be made, e.g. importances with fewer than 2 complete trials,
    is logged and skipped)."""
    from optuna.visualization import matplotlib as optuna_plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    table = trials_table(study)
    table.to_csv(out_dir / "trials.csv", index=False)
    written["trials.csv"] = out_dir / "trials.csv"
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        (out_dir / "best_params.yaml").write_text(best_params_yaml(study))
        written["best_params.yaml"] = out_dir / "best_params.yaml"
        best = study.best_trial
        log.info("best trial %d: %s = %.6g, %s", best.number, study.user_attrs.get("optimized_metric", "value"),
                 best.value, best.params)
    else:
        log.warning("study %s has no complete trial: no best_params.yaml", study.study_name)
    plots = {"optimization_history.png": lambda: optuna_plots.plot_optimization_history(study),
             "param_importances.png": lambda: optuna_plots.plot_param_importances(study)}
    for name, make_axes in plots.items():
        if len(complete) < (2 if "importances" in name else 1):
            log.warning("%s: needs at least %d complete trials, the study has %d", name,
                        2 if "importances" in name else 1, len(complete))
            continue
        problem = _save_plot(make_axes, out_dir / name)
        if problem:
            log.warning("%s not written: %s", name, problem)
        else:
            written[name] = out_dir / name
    log.info("summary of %d trials in %s", len(table), out_dir)
    return written


def load_study(target: str, study_name: str | None = None) -> optuna.Study:
    """A stored study: ``target`` is a sweep directory (with ``optuna.db``) or a storage URL;
    ``study_name`` may be left out when the storage holds one study."""
    url = target if "://" in target else f"sqlite:///{Path(target) / 'optuna.db'}"
    if "://" not in target and not (Path(target) / "optuna.db").is_file():
        raise FileNotFoundError(f"no optuna.db in {target}")
    if study_name is None:
        names = optuna.study.get_all_study_names(url)
        if len(names) != 1:
            raise ValueError(f"{url} holds studies {names}: choose one with --study")
        study_name = names[0]
    return optuna.load_study(study_name=study_name, storage=url)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    if argv[:1] == ["summary"]:
        parser = argparse.ArgumentParser(prog="python -m ccsnscore.sweep summary",
                                         description="Write best_params.yaml, trials.csv and plots of a study.")
        parser.add_argument("target", help="a sweep directory (with optuna.db) or a storage URL")
        parser.add_argument("--study", help="the study name (needed when the storage holds several)")
        parser.add_argument("--out", help="where to write (default: the sweep directory, or "
                                          "outputs/sweeps/<study> for a URL)")
        args = parser.parse_args(argv[1:])
        study = load_study(args.target, args.study)
        out = args.out or (args.target if "://" not in args.target else f"outputs/sweeps/{study.study_name}")
        for path in write_summary(study, out).values():
            print(path)
        return 0
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    from ccsnscore.train import configure_malloc

    configure_malloc()
    study = run_sweep(argv)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        print(f"best trial {study.best_trial.number}: {study.best_value:.6g} {study.best_trial.params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
