"""A sweep's Optuna study: created or resumed in its storage, run until it has ``n_trials``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import optuna
from hydra.utils import instantiate
from omegaconf import OmegaConf
from optuna.trial import TrialState

from ccsnscore.training.loop import train
from ccsnscore.tuning.objective import chosen_recipe, compose_train, make_objective
from ccsnscore.tuning.space import active_params, baseline_values, parse_params
from ccsnscore.tuning.summary import write_summary

log = logging.getLogger("ccsnscore.tuning")
SHORT_KEYS = ("n_trials", "direction", "storage", "study_name", "sweep_dir")
DEFAULT_SEARCH = "optuna"


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


class _FailureGuard:
    """Stops the study after ``limit`` failed trials in a row."""

    def __init__(self, limit: int):
        self.limit, self.in_a_row, self.tripped = int(limit), 0, False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.in_a_row = self.in_a_row + 1 if trial.state == TrialState.FAIL else 0
        if self.limit and self.in_a_row >= self.limit:
            self.tripped = True
            study.stop()


def run_sweep(overrides: Sequence[str], train_fn: Callable[..., dict] = train) -> optuna.Study:
    """Create or resume the study of ``overrides`` (train overrides, :data:`SHORT_KEYS` allowed),
    run trials (each calling ``train_fn``) until it has ``n_trials`` finished ones, write the summary
    into the sweep dir."""
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
    study = optuna.create_study(
        storage=storage, study_name=str(search.study_name), direction=direction, load_if_exists=True
    )
    if study.direction.name.lower() != direction:
        raise ValueError(f"study {search.study_name!r} is {study.direction.name.lower()}, not {direction}")
    space = {
        p.name: {
            "keys": list(p.keys),
            "type": p.type,
            "low": p.low,
            "high": p.high,
            "step": p.step,
            "log": p.log,
            "choices": None if p.choices is None else list(p.choices),
        }
        for p in params
    }
    if study.user_attrs.get("params") not in (None, space):
        log.warning("the search space differs from the one this study was started with")
    study.set_user_attr("params", space)
    study.set_user_attr("optimized_metric", metric)
    study.set_user_attr("overrides", [o for o in overrides])
    study.set_user_attr("experiments", experiments_of(overrides))
    study.set_user_attr("recipe", chosen_recipe(base_overrides))
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
    log.info(
        "study %s (%s): %d of %d trials done; %s %s; parameters %s",
        study.study_name,
        storage_url or "in memory",
        done,
        n_trials,
        direction,
        metric,
        [p.name for p in params],
    )
    seeds = [int(s) for s in (search.get("seeds") or [])]
    objective = make_objective(base_overrides, params, metric, sweep_dir, seeds, train_fn)
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
    if not any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve() for h in root.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
        root.addHandler(handler)


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
