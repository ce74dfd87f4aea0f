"""Hyperparameter sweeps (ccsnscore.sweep): search configs, a resumed study on the toy dataset,
bad trials, the pruning callback and the best-parameters experiment file."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import optuna
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from optuna.trial import TrialState

from ccsnscore import sweep
from ccsnscore.runtime import configure_malloc
from ccsnscore.training.loop import train as real_train
from ccsnscore.tuning import space
from ccsnscore.tuning import study as study_module
from ccsnscore.tuning.objective import TrialReport
from ccsnscore.tuning.summary import SUMMARY_FILES

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "src" / "ccsnscore" / "conf"
SEARCHES = sorted(p.stem for p in (CONF_DIR / "hparams_search").glob("*.yaml"))

configure_malloc()


@pytest.fixture(scope="module")
def sweep_cache(tmp_path_factory) -> Path:
    """One preprocessing cache of the toy dataset for the module."""
    return tmp_path_factory.mktemp("sweep_cache")


def _overrides(tmp_path, data_root=None, cache=None, *extra) -> list[str]:
    overrides = [
        f"paths.test_split_file={tmp_path / 'split.csv'}",
        f"paths.output_dir={tmp_path / 'outputs'}",
        "hparams_search=layer1_optuna",
        "+experiment=layer1_S",
        "classifiers=[Hrich]",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=2",
        "logger=none",
        f"sweep_dir={tmp_path / 'sweep'}",
        "hparams_search.sampler.n_startup_trials=1",
    ]
    if data_root is not None:
        overrides += [f"paths.data_root={data_root}", f"paths.cache_dir={cache}"]
    return overrides + list(extra)


def _stored(tmp_path) -> optuna.Study:
    return optuna.load_study(study_name="layer1_S", storage=f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}")


# -- configs and pure helpers -------------------------------------------------------------------
@pytest.mark.parametrize("search", SEARCHES)
def test_search_configs_compose_and_name_real_keys(compose_cfg, search):
    cfg = compose_cfg("train", [f"hparams_search={search}", "+experiment=layer1_SLD"])
    assert cfg.optimized_metric == "val/loss_best" and cfg.hparams_search.direction == "minimize"
    assert str(cfg.hparams_search.storage) == f"sqlite:///{cfg.hparams_search.sweep_dir}/optuna.db"
    params = space.parse_params(cfg.hparams_search.params)
    assert {p.name for p in params} >= {"spectrum_bilstm_1", "dmdt_conv_1", "lightcurve_lstm", "lr", "batch_size"}
    for p in params:
        for key in p.keys:
            assert space.OmegaConf.select(cfg, key, default="<missing>") != "<missing>", key
    by_name = {p.name: p for p in params}
    # Table 2 ranges
    assert (by_name["spectrum_bilstm_1"].low, by_name["spectrum_bilstm_1"].high, by_name["spectrum_bilstm_1"].step) == (
        4,
        24,
        4,
    )
    assert (by_name["dmdt_conv_1"].low, by_name["dmdt_conv_1"].high, by_name["dmdt_conv_1"].step) == (16, 64, 16)
    assert (by_name["dmdt_conv_2"].low, by_name["dmdt_conv_2"].high, by_name["dmdt_conv_2"].step) == (8, 32, 8)
    assert (by_name["spectrum_dense"].low, by_name["spectrum_dense"].high, by_name["spectrum_dense"].step) == (8, 64, 8)
    assert (by_name["spectrum_dropout_1"].low, by_name["spectrum_dropout_1"].high) == (0.1, 0.9)
    assert by_name["lr"].log and by_name["batch_size"].choices == (32, 64, 128)
    # case S searches only the spectrum encoder (and lr, batch size)
    case_s = {p.name for p in space.active_params(params, "S")}
    assert case_s == {n for n, p in by_name.items() if p.channel in (None, "S")}
    assert len(space.active_params(params, "SLD")) == len(params)


def test_helpers():
    assert space.container_key("model.spectrum.lstm_units.0") == "model.spectrum.lstm_units"
    assert space.container_key("model.optimizer.lr") == "model.optimizer.lr"
    params = space.parse_params(
        {
            "units": {"keys": ["a.0", "a.1"], "type": "int", "low": 4, "high": 8, "step": 4},
            "lr": {"key": "o.lr", "type": "log", "low": 1e-4, "high": 1e-2},
            "act": {"key": "o.act", "type": "categorical", "choices": ["relu", "a b"]},
            "gone": None,
        }
    )
    assert [p.name for p in params] == ["units", "lr", "act"] and params[1].log and params[1].type == "float"
    assert space.trial_overrides(params, {"units": 8, "lr": 0.001, "act": "a b"}) == [
        "a.0=8",
        "a.1=8",
        "o.lr=0.001",
        "o.act='a b'",
    ]
    assert study_module.expand_short_keys(["n_trials=3", "+experiment=x"]) == [
        "hparams_search=optuna",
        "hparams_search.n_trials=3",
        "+experiment=x",
    ]
    assert study_module.expand_short_keys(["hparams_search=layer1_optuna"]) == ["hparams_search=layer1_optuna"]
    assert study_module.experiments_of(["+experiment=[layer1_S,extra]", "x=1"]) == ["layer1_S", "extra"]
    for bad in (
        {"type": "int", "low": 1},
        {"key": "a", "type": "cube", "low": 0, "high": 1},
        {"key": "a", "type": "categorical"},
        {"key": "a", "type": "int", "low": 0, "high": 1, "lo": 2},
        {"key": "a", "type": "int", "low": 0, "high": 1, "channel": "X"},
    ):
        with pytest.raises(ValueError):
            space.parse_params({"p": bad})


def test_report_callback_prunes_on_nan_and_on_pruner():
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.5))
    trial = study.ask()
    callback = TrialReport(trial, metric="val/loss_best")
    trainer = SimpleNamespace(
        sanity_checking=False,
        current_epoch=0,
        datamodule=SimpleNamespace(positive="Hrich"),
        callback_metrics={"val/loss": torch.tensor(0.45), "val/loss_best": torch.tensor(0.4)},
    )
    callback.on_validation_end(trainer, None)  # reported, below the threshold
    assert study.trials[0].intermediate_values == {0: pytest.approx(0.4)}
    trainer.current_epoch, trainer.callback_metrics = (
        1,
        {"val/loss": torch.tensor(0.9), "val/loss_best": torch.tensor(0.9)},
    )
    with pytest.raises(optuna.TrialPruned):
        callback.on_validation_end(trainer, None)
    trainer.callback_metrics = {"val/loss": torch.tensor(float("nan"))}
    with pytest.raises(optuna.TrialPruned, match="nan"):
        callback.on_validation_end(trainer, None)
    trainer.sanity_checking = True  # the sanity check is never reported
    callback.on_validation_end(trainer, None)


# -- studies ------------------------------------------------------------------------------------
def test_study_resumes_and_writes_a_usable_best_params(toy_root, sweep_cache, tmp_path):
    calls = []

    def counting_train(cfg, extra_callbacks=()):
        calls.append(str(cfg.run_dir))
        return real_train(cfg, extra_callbacks)

    overrides = _overrides(tmp_path, toy_root, sweep_cache)
    first = study_module.run_sweep([*overrides, "n_trials=2"], train_fn=counting_train)
    assert [t.state for t in first.trials] == [TrialState.COMPLETE] * 2 and len(calls) == 2
    sweep_dir = tmp_path / "sweep"
    assert (sweep_dir / "trial_000" / "classifiers" / "layer1" / "S" / "Hrich.pt").is_file()
    for name in SUMMARY_FILES:
        assert (sweep_dir / name).is_file(), name
    first_params = [t.params for t in first.trials]
    # trial 0 is the baseline: layer1_S's own values
    assert first.trials[0].user_attrs["baseline"] and first_params[0] == {
        "spectrum_bilstm_1": 24,
        "spectrum_bilstm_2": 24,
        "spectrum_dropout_1": 0.5,
        "spectrum_dropout_2": 0.1,
        "spectrum_dense": 64,
        "spectrum_dense_dropout": 0.1,
        "lr": 0.001,
        "batch_size": 64,
    }
    for t in first.trials:  # val/loss_best (the best so far) was reported after every epoch
        reported = list(t.intermediate_values.values())
        assert len(reported) == 2 and reported == sorted(reported, reverse=True)
    assert first.trials[0].user_attrs["overrides"][0].startswith("model.spectrum.lstm_units.0=")
    assert first.user_attrs["recipe"] == "paper"  # Table 2 is the paper's architecture

    # resume: the stored study has 2 trials, n_trials=3 runs one more
    calls.clear()
    study_module.run_sweep([*overrides, "n_trials=3"], train_fn=counting_train)
    stored = _stored(tmp_path)
    assert len(stored.trials) == 3 and len(calls) == 1 and calls[0].endswith("trial_002")
    assert [t.params for t in stored.trials[:2]] == first_params
    assert all(t.state == TrialState.COMPLETE for t in stored.trials)
    table = pd.read_csv(sweep_dir / "trials.csv")
    assert list(table["number"]) == [0, 1, 2] and {"val/auroc", "params_lr", "state"} <= set(table.columns)
    calls.clear()
    study_module.run_sweep([*overrides, "n_trials=3"], train_fn=counting_train)  # nothing left to do
    assert not calls and len(_stored(tmp_path).trials) == 3

    # the summary command, from the sweep directory
    out = tmp_path / "summary"
    assert sweep.main(["summary", str(sweep_dir), "--out", str(out)]) == 0
    assert (out / "best_params.yaml").read_text() == (sweep_dir / "best_params.yaml").read_text()

    # best_params.yaml is an experiment override file: alone, or after layer1_S
    best = stored.best_trial
    search = tmp_path / "searchpath"
    (search / "experiment").mkdir(parents=True)
    shutil.copy(out / "best_params.yaml", search / "experiment" / "layer1_S_tuned.yaml")
    for experiment in ("+experiment=layer1_S_tuned", "+experiment=[layer1_S,layer1_S_tuned]"):
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose("train", [experiment, "recipe=paper", f"hydra.searchpath=[file://{search}]"])
        assert cfg.data.layer == "layer1" and cfg.data.augment.n_per_type == "balance"
        assert list(cfg.model.spectrum.lstm_units) == best.user_attrs["config"]["model.spectrum.lstm_units"]
        assert cfg.model.optimizer.lr == pytest.approx(best.params["lr"])
        assert cfg.data.batch_size == best.params["batch_size"]
        assert cfg.trainer.max_epochs == 100  # the sweep's budget overrides are not carried over


def test_bad_trials_are_pruned_or_failed_and_the_study_goes_on(tmp_path):
    outcomes = iter([float("nan"), RuntimeError("loss diverged"), 0.25, float("inf")])

    def fake_train(cfg, extra_callbacks=()):
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return {"val/loss_best": outcome, "val/auroc": 0.5}

    study = study_module.run_sweep([*_overrides(tmp_path), "n_trials=4"], train_fn=fake_train)
    states = [t.state for t in study.trials]
    assert states == [TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE, TrialState.PRUNED]
    assert "nan" in study.trials[0].user_attrs["failure"]
    assert "loss diverged" in study.trials[1].user_attrs["failure"]
    assert study.best_value == 0.25 and math.isnan(study.trials[0].user_attrs["metrics"]["val/loss_best"] or math.nan)
    assert (tmp_path / "sweep" / "best_params.yaml").is_file()


def test_failures_in_a_row_stop_the_study(tmp_path):
    def broken_train(cfg, extra_callbacks=()):
        raise KeyError("typo")

    with pytest.raises(RuntimeError, match="3 trials failed in a row"):
        study_module.run_sweep([*_overrides(tmp_path), "n_trials=10"], train_fn=broken_train)
    assert [t.state for t in _stored(tmp_path).trials] == [TrialState.FAIL] * 3


def test_unknown_parameter_key_is_refused_before_any_trial(tmp_path):
    with pytest.raises(KeyError, match="model.spectrum.nope"):
        study_module.run_sweep(
            [
                *_overrides(tmp_path),
                "+hparams_search.params.bad={key: model.spectrum.nope, type: int, low: 1, high: 2, channel: S}",
            ]
        )


def test_seeds_average_the_objective(tmp_path):
    runs = []

    def fake_train(cfg, extra_callbacks=()):
        runs.append((int(cfg.seed), Path(cfg.run_dir).name))
        return {"val/loss_best": 0.1 * (1 + int(cfg.seed)), "val/auroc": 0.5}

    study = study_module.run_sweep(
        [*_overrides(tmp_path), "n_trials=1", "hparams_search.seeds=[1,2]"], train_fn=fake_train
    )
    assert runs == [(1, "seed_1"), (2, "seed_2")]
    assert study.trials[0].value == pytest.approx(0.25)
    assert study.trials[0].user_attrs["seed_values"] == {"1": pytest.approx(0.2), "2": pytest.approx(0.3)}
    table = pd.read_csv(tmp_path / "sweep" / "trials.csv")
    assert table.loc[0, "value_seed2"] == pytest.approx(0.3)
