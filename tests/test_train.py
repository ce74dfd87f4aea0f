"""Training configs and the training loop on the toy dataset (CPU, tiny limits)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from ccsnscore.data.datamodule import CCSNDataModule
from ccsnscore.model.checkpoints import classifier_metadata, load_classifier
from ccsnscore.model.network import BinaryClassifier
from ccsnscore.training.loop import build_module, train
from ccsnscore.training.module import ClassifierModule

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (REPO / "src" / "ccsnscore" / "conf" / "experiment").glob("*.yaml"))
EXPECTED = {f"layer{layer}_{case}" for layer in ("1", "2a", "2b") for case in ("S", "SL", "SD", "SLD")} | {
    "layer0_S",
    "layer0",
    "layer1",
    "layer2a",
    "layer2b",
}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory) -> Path:
    """One preprocessing cache of the toy dataset for the whole module (GP fits take a while)."""
    return tmp_path_factory.mktemp("train_cache")


def test_every_experiment_is_there():
    assert EXPECTED <= set(EXPERIMENTS)


def test_one_experiment_per_layer_takes_the_input_case(compose_cfg):
    cfg = compose_cfg("train", ["+experiment=layer2a", "data.input_case=SLD"])
    alias = compose_cfg("train", ["+experiment=layer2a_SLD"])
    assert cfg.data == alias.data and cfg.task_name == alias.task_name == "layer2a_SLD"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_instantiates(compose_cfg, experiment):
    cfg = compose_cfg("train", [f"+experiment={experiment}"])
    layer, case = experiment.rsplit("_", 1) if "_" in experiment else (experiment, "S")
    assert cfg.data.layer == layer and cfg.data.input_case == case
    assert cfg.task_name == f"{layer}_{case}"
    assert cfg.optimized_metric == "val/loss_best" and cfg.max_rounds == 3
    # the ccsnscore recipe by default
    assert cfg.trainer.max_epochs == 200 and cfg.trainer.accelerator == "cpu" and cfg.trainer.deterministic
    assert cfg.callbacks.early_stopping.patience == 20 and cfg.callbacks.early_stopping.monitor == "val/loss"
    assert cfg.data.batch_size == 64 and cfg.model.spectrum.architecture == "cnn" and cfg.balance == "weighted"
    assert list(cfg.data.val_sources) == ["sedm"] and not cfg.data.augment.enabled
    datamodule = instantiate(cfg.data)
    assert isinstance(datamodule, CCSNDataModule)
    model = build_module(cfg)
    assert isinstance(model, ClassifierModule) and model.network.input_case == case
    assert isinstance(model.network, BinaryClassifier) and callable(model.optimizer_factory)


@pytest.mark.parametrize("layer", ["layer0", "layer1", "layer2a", "layer2b"])
def test_the_paper_recipe_is_one_override_away(compose_cfg, layer):
    cfg = compose_cfg("train", [f"+experiment={layer}", "recipe=paper"])
    assert cfg.model.spectrum.architecture == "bilstm" and list(cfg.model.spectrum.lstm_units) == [24, 24]
    assert cfg.preprocessing.spectrum.n_wave == 256 and cfg.balance == "rounds" and cfg.data.val_sources is None
    assert cfg.trainer.max_epochs == 100 and cfg.trainer.min_epochs == 15
    assert cfg.callbacks.early_stopping.patience == 7 and not cfg.data.batch_augment.enabled
    # synthetic samples to balance the classes, except for the gate
    assert cfg.data.augment.enabled == (layer != "layer0")
    if layer != "layer0":
        assert cfg.data.augment.n_per_type == "balance"


@pytest.mark.parametrize("trainer", ["cpu", "gpu", "ddp"])
def test_trainer_configs_compose(compose_cfg, trainer):
    cfg = compose_cfg("train", ["+experiment=layer1_S", f"trainer={trainer}"])
    expected = {"cpu": ("cpu", 1), "gpu": ("gpu", 1), "ddp": ("gpu", "auto")}[trainer]
    assert (cfg.trainer.accelerator, cfg.trainer.devices) == expected
    if trainer == "ddp":
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.num_nodes == 1
    if trainer == "cpu":
        assert instantiate(cfg.trainer, logger=False).max_epochs == 200


def _toy_cfg(compose_cfg, toy_root, cache, *overrides):
    return compose_cfg("train", [f"paths.cache_dir={cache}", "trainer.min_epochs=1", *overrides], data_root=toy_root)


@pytest.mark.parametrize("input_case", ["S", "SL", "SD", "SLD"])
def test_fast_dev_run_each_input_case(compose_cfg, toy_root, shared_cache, tmp_path, input_case):
    cfg = _toy_cfg(
        compose_cfg,
        toy_root,
        shared_cache,
        f"+experiment=layer1_{input_case}",
        "classifiers=[Hrich]",
        "+trainer.fast_dev_run=true",
        f"run_dir={tmp_path / 'run'}",
    )
    metrics = train(cfg)
    assert {"val/loss_best", "val/auroc", "val/acc", "Hrich/val/auroc", "Hrich/path"} <= set(metrics)
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))
    meta = classifier_metadata(metrics["Hrich/path"])
    assert meta["input_case"] == input_case and meta["positive"] == "Hrich"


def test_rounds_checkpoints_and_resume(compose_cfg, toy_root, shared_cache, tmp_path):
    """Layer 0 of the toy data (1 Ia : 8 others) trains in 3 balanced rounds; the classifier file
    reloads with the validation result; a resumed run keeps finished work."""
    run = tmp_path / "run"
    overrides = [
        "+experiment=layer0_S",
        "classifiers=[Ia]",
        "trainer.max_epochs=2",
        "recipe=paper",
        "model.spectrum.lstm_units=[8,8]",
        f"run_dir={run}",
    ]
    cfg = _toy_cfg(compose_cfg, toy_root, shared_cache, *overrides)
    metrics = train(cfg)
    assert metrics["Ia/rounds"] == 3 and metrics["Ia/epochs"] == 6
    assert metrics["val/loss_best"] == pytest.approx(metrics["Ia/val/loss"], abs=1e-5)
    assert json.loads((run / "metrics.json").read_text())["Ia/rounds"] == 3
    assert len(list((run / "tensorboard" / "layer0_S" / "Ia").glob("events.out.tfevents.*"))) >= 1
    for k in (1, 2, 3):
        assert (run / "checkpoints" / "layer0" / "S" / "Ia" / f"round_{k}" / "last.ckpt").is_file()

    path = Path(metrics["Ia/path"])
    assert path == run / "classifiers" / "layer0" / "S" / "Ia.pt"
    meta = classifier_metadata(path)
    assert meta["training"]["rounds"][2]["n_train"] == 12 and meta["metrics"]["rounds"] == 3
    assert meta["dataset"]["cache_key"] and meta["dataset"]["fingerprint"]
    assert meta["test_split"]["names"] and meta["preprocessing"]["spectrum"]["n_wave"] == 256
    # the kept weights give the recorded validation loss
    model = load_classifier(path)
    datamodule = instantiate(cfg.data, positive="Ia")
    datamodule.setup()
    batch = datamodule.datasets["val"].tensors
    with torch.no_grad():
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch["label"])
    assert float(loss) == pytest.approx(metrics["Ia/val/loss"], abs=1e-5)

    # resume: a finished classifier is kept as it is
    resumed = train(_toy_cfg(compose_cfg, toy_root, shared_cache, *overrides, f"ckpt_resume={run}"))
    assert resumed["Ia/val/loss"] == metrics["Ia/val/loss"]
    # an interrupted classifier: finished rounds are kept, the last one goes on from last.ckpt
    path.unlink()
    (run / "checkpoints" / "layer0" / "S" / "Ia" / "round_3" / "summary.json").unlink()
    resumed = train(_toy_cfg(compose_cfg, toy_root, shared_cache, *overrides, f"ckpt_resume={run}"))
    assert path.is_file() and resumed["Ia/rounds"] == 3
    # Lightning restarts an epoch whose checkpoint was written before the epoch closed, so the
    # resumed round may train one epoch more; it never loses the best weights it had
    assert resumed["Ia/val/loss_best"] <= metrics["Ia/val/loss_best"] + 1e-6


def test_without_callbacks_and_with_csv_logger(compose_cfg, toy_root, shared_cache, tmp_path):
    cfg = _toy_cfg(
        compose_cfg,
        toy_root,
        shared_cache,
        "+experiment=layer1_S",
        "classifiers=[Hpoor]",
        "callbacks=none",
        "logger=csv",
        "trainer.max_epochs=1",
        "recipe=paper",
        "model.spectrum.lstm_units=[4,4]",
        "model.init=torch",
        f"run_dir={tmp_path / 'run'}",
    )
    metrics = train(cfg)
    assert metrics["Hpoor/epochs"] == 1
    assert (tmp_path / "run" / "csv" / "layer1_S" / "Hpoor" / "metrics.csv").is_file()
    assert classifier_metadata(metrics["Hpoor/path"])["hparams"]["init"] == "torch"


def test_multirun_over_experiments(toy_root, shared_cache, tmp_path):
    """``python -m ccsnscore.train -m +experiment=a,b`` runs both experiments."""
    out = tmp_path / "outputs"
    cmd = [
        sys.executable,
        "-m",
        "ccsnscore.train",
        "-m",
        "+experiment=layer1_S,layer2b_S",
        f"paths.data_root={toy_root}",
        f"paths.cache_dir={shared_cache}",
        f"paths.test_split_file={tmp_path / 'split.csv'}",
        f"paths.output_dir={out}",
        "+trainer.fast_dev_run=true",
        "recipe=paper",
        "model.spectrum.lstm_units=[4,4]",
        "num_threads=1",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    written = sorted(p.relative_to(out).parts[-3:] for p in out.rglob("classifiers/*/*/*.pt"))
    assert written == [
        ("layer1", "S", "Hpoor.pt"),
        ("layer1", "S", "Hrich.pt"),
        ("layer2b", "S", "Ib.pt"),
        ("layer2b", "S", "Ic-BL.pt"),
        ("layer2b", "S", "Ic.pt"),
    ]
    (launch,) = (out / "multirun" / "train").iterdir()
    assert sorted(p.name for p in launch.iterdir() if p.is_dir()) == ["0_layer1_S", "1_layer2b_S"]


def test_spectrum_encoder_starts_from_a_trained_classifier(compose_cfg, tmp_path):
    from ccsnscore.testing.toy_models import write_untrained_models

    models = write_untrained_models(tmp_path / "models")
    source = load_classifier(models / "layer0" / "S" / "CC.pt")
    small = ["recipe=paper", "model.spectrum.lstm_units=[4,4]", "model.spectrum.dense_units=[8]"]
    cfg = compose_cfg("train", ["+experiment=layer1", *small, f"init_spectrum_from={models / 'layer0/S/CC.pt'}"])
    module = build_module(cfg)
    for name, value in source.encoders["spectrum"].state_dict().items():
        assert torch.equal(module.network.encoders["spectrum"].state_dict()[name], value)
    other = compose_cfg(
        "train", ["+experiment=layer1", "recipe=paper", f"init_spectrum_from={models / 'layer0/S/CC.pt'}"]
    )
    with pytest.raises(ValueError, match="other settings"):
        build_module(other)


def test_an_ensemble_trains_its_members_and_ships_one_file(compose_cfg, toy_root, shared_cache, tmp_path):
    from ccsnscore.model.network import EnsembleClassifier

    cfg = _toy_cfg(
        compose_cfg,
        toy_root,
        shared_cache,
        "+experiment=layer1_S",
        "classifiers=[Hrich]",
        "ensemble=2",
        "trainer.max_epochs=2",
        "max_rounds=1",
        "recipe=paper",
        "model.spectrum.lstm_units=[4,4]",
        "logger=none",
        f"run_dir={tmp_path / 'run'}",
    )
    metrics = train(cfg)
    model = load_classifier(metrics["Hrich/path"])
    assert isinstance(model, EnsembleClassifier) and len(model.members) == 2
    assert model.metadata["training"]["seeds"] == [int(cfg.seed), int(cfg.seed) + 1]
    assert 0 <= model.metadata["metrics"]["val/auroc"] <= 1 and model.metadata["metrics"]["members"] == 2
    member_files = sorted((tmp_path / "run" / "members").glob("seed_*/classifiers/layer1/S/Hrich.pt"))
    assert len(member_files) == 2
    members = [load_classifier(f) for f in member_files]
    assert not torch.equal(next(members[0].parameters()), next(members[1].parameters()))


def test_a_layer_reads_and_hashes_the_dataset_once(compose_cfg, toy_root, shared_cache, tmp_path, monkeypatch):
    from ccsnscore.data import cache as cache_module

    calls = []
    real = cache_module.dataset_fingerprint
    monkeypatch.setattr(cache_module, "dataset_fingerprint", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = _toy_cfg(
        compose_cfg,
        toy_root,
        shared_cache,
        "+experiment=layer1_S",
        "+trainer.fast_dev_run=true",
        "logger=none",
        f"run_dir={tmp_path / 'run'}",
    )
    metrics = train(cfg)
    assert {"Hrich/path", "Hpoor/path"} <= set(metrics) and len(calls) == 1
