"""Refit a classifier on every labelled spectrum outside the test split.

Early stopping needs held-out validation spectra, so the classifier it picks never learnt from
them. With ``refit=true`` the training loop trains a second time from the same initial weights on
training + validation objects (``train_on_val`` of the data module) for exactly the epochs that
early stopping chose, replaying the learning rate of each of those epochs: the validation set then
fixes the number of epochs and the schedule, and its spectra also teach the shipped classifier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from ccsnscore.training.callbacks import EpochSummary, LearningRateHistory
from ccsnscore.training.sampling import class_weight

log = logging.getLogger("ccsnscore.training")


class ReplayedRates:
    """``LambdaLR`` factor of epoch ``e``: the recorded rate of epoch ``e`` over the first one (the
    last recorded rate after the record ends)."""

    def __init__(self, rates: Sequence[float]):
        if not rates or rates[0] <= 0:
            raise ValueError("refit: no learning rates were recorded for the first fit")
        self.factors = [float(r) / float(rates[0]) for r in rates]

    def __call__(self, epoch: int) -> float:
        return self.factors[min(epoch, len(self.factors) - 1)]


def refit_classifier(
    cfg: DictConfig, build_module, prepared: tuple | None, epochs: int, rates: Sequence[float], label: str
) -> tuple[L.LightningModule, dict]:
    """Train ``cfg``'s classifier anew on training + validation objects for ``epochs`` epochs with the
    learning rates ``rates`` (one per epoch, from the first fit); returns the module and a record
    (``epochs``, ``n_train``, ``n_positive``, the ``learning_rates`` it used) for the classifier file."""
    if epochs < 1:
        raise ValueError(f"refit: {epochs} epochs")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data, prepared=prepared, n_jobs=int(cfg.get("n_jobs") or 1), train_on_val=True)
    datamodule.setup("fit")
    module = build_module(cfg)
    labels = datamodule.train_labels
    module.class_weight = class_weight(labels)
    replay = ReplayedRates(list(rates)[:epochs])
    module.scheduler_factory = lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, replay)
    used_rates = LearningRateHistory()
    trainer = instantiate(
        cfg.trainer,
        max_epochs=epochs,
        min_epochs=None,
        callbacks=[EpochSummary(f"{label} refit"), used_rates],
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
    )
    log.info("%s: refit on %d samples (%d positive) for %d epochs", label, len(labels), int(labels.sum()), epochs)
    trainer.fit(module, datamodule=datamodule, weights_only=True)
    record = {
        "epochs": int(epochs),
        "n_train": int(len(labels)),
        "n_positive": int(labels.sum()),
        "learning_rates": used_rates.rates,  # as the refit used them
    }
    return module, record
