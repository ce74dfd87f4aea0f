"""Callbacks and loggers of the training loop."""

from __future__ import annotations

import logging

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

log = logging.getLogger("ccsnscore.training")
EPOCH_METRICS = ("train/loss", "val/loss", "val/auroc", "val/acc", "val/loss_best")


class RoundTensorBoardLogger(TensorBoardLogger):
    """TensorBoard logger whose steps continue across the balanced rounds of one classifier
    (each round is a new Lightning fit whose step count starts at 0): ``step_offset`` is added."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_offset = 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        super().log_metrics(metrics, None if step is None else step + self.step_offset)


class EpochSummary(Callback):
    """One log line per epoch (for runs without a progress bar, e.g. under nohup)."""

    def __init__(self, label: str = ""):
        self.label = label

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        shown = {k: float(v) for k, v in trainer.callback_metrics.items() if k in EPOCH_METRICS}
        log.info(
            "%s epoch %d: %s", self.label, trainer.current_epoch, " ".join(f"{k}={v:.4f}" for k, v in shown.items())
        )


class LearningRateHistory(Callback):
    """The learning rate of each training epoch (first optimizer, first parameter group), as
    :attr:`rates`; a refit replays it (:mod:`ccsnscore.training.refit`)."""

    def __init__(self):
        self.rates: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.optimizers:
            del self.rates[trainer.current_epoch :]  # a resumed fit repeats no epoch
            self.rates.append(float(trainer.optimizers[0].param_groups[0]["lr"]))

    def state_dict(self) -> dict:  # kept in Lightning checkpoints, so a resumed fit has every epoch
        return {"rates": list(self.rates)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rates = [float(r) for r in state_dict.get("rates", [])]
