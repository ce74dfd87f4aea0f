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
