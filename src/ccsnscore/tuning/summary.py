"""What a study found: a table of its trials, the best values as an experiment file, plots."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import optuna
import pandas as pd
from omegaconf import OmegaConf
from optuna.trial import TrialState

from ccsnscore.training.loop import SUMMARY_KEYS as METRIC_KEYS
from ccsnscore.tuning.space import tidy_value

log = logging.getLogger("ccsnscore.tuning")
SUMMARY_FILES = ("best_params.yaml", "trials.csv", "optimization_history.png", "param_importances.png")


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, duration, sampled parameters, training metrics,
    failure reason and run directory."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        row = {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "duration_s": None if duration is None else round(duration, 1),
        }
        row.update({f"params_{k}": tidy_value(v) for k, v in t.params.items()})
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
    lines = [
        "# @package _global_",
        f"# Best of Optuna study {study.study_name!r} (python -m ccsnscore.sweep): trial {best.number}, "
        f"{study.user_attrs.get('optimized_metric', 'value')} = {best.value:.6g} ({study.direction.name.lower()}).",
        f"# Trials: {', '.join(f'{n} {s.lower()}' for s, n in sorted(states.items()))}.",
        f"# Sweep overrides: {overrides}",
        "# Use: copy to conf/experiment/<name>.yaml, then python -m ccsnscore.train +experiment=<name>"
        + (f" recipe={study.user_attrs['recipe']}" if study.user_attrs.get("recipe") else ""),
        f"# Sampled: {', '.join(f'{k}={tidy_value(v)}' for k, v in best.params.items())}",
    ]
    if experiments:
        lines += ["defaults:", *[f"  - {name}" for name in experiments], "  - _self_"]
    return "\n".join(lines) + "\n" + OmegaConf.to_yaml(nested)


def _save_plot(make_axes: Callable, path: Path) -> str | None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import warnings

    import matplotlib.pyplot as plt

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
        log.info(
            "best trial %d: %s = %.6g, %s",
            best.number,
            study.user_attrs.get("optimized_metric", "value"),
            best.value,
            best.params,
        )
    else:
        log.warning("study %s has no complete trial: no best_params.yaml", study.study_name)
    plots = {
        "optimization_history.png": lambda: optuna_plots.plot_optimization_history(study),
        "param_importances.png": lambda: optuna_plots.plot_param_importances(study),
    }
    for name, make_axes in plots.items():
        if len(complete) < (2 if "importances" in name else 1):
            log.warning(
                "%s: needs at least %d complete trials, the study has %d",
                name,
                2 if "importances" in name else 1,
                len(complete),
            )
            continue
        problem = _save_plot(make_axes, out_dir / name)
        if problem:
            log.warning("%s not written: %s", name, problem)
        else:
            written[name] = out_dir / name
    log.info("summary of %d trials in %s", len(table), out_dir)
    return written
