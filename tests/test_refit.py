"""Refitting a classifier on training + validation objects (``refit=true``) on the toy dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from ccsnscore.model.checkpoints import classifier_metadata, load_classifier
from ccsnscore.training.loop import check_config, train
from ccsnscore.training.refit import ReplayedRates
from ccsnscore.training.sampling import class_weight

STEP_SCHEDULE = (
    "+model.scheduler={_target_: torch.optim.lr_scheduler.StepLR, _partial_: true, step_size: 1, gamma: 0.5}"
)


def _cfg(compose_cfg, toy_root, tmp_path, *overrides):
    return compose_cfg(
        "train",
        [
            f"paths.cache_dir={tmp_path / 'cache'}",
            "+experiment=layer1_S",
            "classifiers=[Hpoor]",
            "trainer.min_epochs=1",
            "trainer.max_epochs=3",
            "logger=none",
            f"run_dir={tmp_path / 'run'}",
            *overrides,
        ],
        data_root=toy_root,
    )


def test_replayed_rates_follow_the_record_and_hold_the_last():
    replay = ReplayedRates([1e-3, 1e-3, 5e-4])
    assert [replay(e) for e in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="no learning rates"):
        ReplayedRates([])


def test_class_weight_gives_each_class_half_the_loss():
    negative, positive = class_weight(np.array([0, 0, 0, 1]))
    assert 3 * negative == pytest.approx(positive) and 3 * negative + positive == pytest.approx(4)
    with pytest.raises(ValueError, match="no training samples"):
        class_weight(np.zeros(3))


def test_train_on_val_adds_the_validation_objects_and_keeps_the_test_split(compose_cfg, toy_root, tmp_path):
    cfg = _cfg(compose_cfg, toy_root, tmp_path)
    held_out = instantiate(cfg.data, positive="Hpoor")
    held_out.setup()
    refit = instantiate(cfg.data, positive="Hpoor", train_on_val=True)
    refit.setup()
    names = {split: set(table["name"]) for split, table in held_out.tables.items()}
    assert names["val"] and not names["val"] & names["train"]
    assert set(refit.tables["train"]["name"]) == names["train"] | names["val"]
    assert refit.tables["test"].equals(held_out.tables["test"])
    assert len(refit.tables["train"]) > len(held_out.tables["train"])


def test_refit_replays_the_first_fit_on_train_and_val(compose_cfg, toy_root, tmp_path):
    cfg = _cfg(compose_cfg, toy_root, tmp_path, "refit=true", "~model.scheduler", STEP_SCHEDULE)
    metrics = train(cfg)
    run = tmp_path / "run"
    first = json.loads((run / "checkpoints" / "layer1" / "S" / "Hpoor" / "round_1" / "summary.json").read_text())
    assert first["learning_rates"] == pytest.approx([1e-3, 5e-4, 2.5e-4])  # StepLR, one halving per epoch
    meta = classifier_metadata(metrics["Hpoor/path"])
    record = meta["training"]["refit"]
    assert record["epochs"] == first["best_epochs"] >= 1
    assert len(record["learning_rates"]) == record["epochs"]  # the rates the refit trained with
    assert record["learning_rates"] == pytest.approx(first["learning_rates"][: record["epochs"]])
    datamodule = instantiate(cfg.data, positive="Hpoor")
    datamodule.setup()
    assert record["n_train"] == len(datamodule.tables["train"]) + len(datamodule.tables["val"])
    # the validation metrics are the held-out first fit's; the shipped weights are the refit's
    assert metrics["Hpoor/val/loss_best"] == pytest.approx(first["best_score"])
    best = torch.load(first["best_model_path"], map_location="cpu", weights_only=True)["state_dict"]
    refit_weights = load_classifier(metrics["Hpoor/path"]).state_dict()
    assert any(not torch.equal(best[f"network.{k}"], v) for k, v in refit_weights.items())


def test_refit_needs_a_single_fit(compose_cfg, toy_root, tmp_path):
    with pytest.raises(ValueError, match="balance=weighted"):
        check_config(_cfg(compose_cfg, toy_root, tmp_path, "refit=true", "balance=rounds"))
