"""The LightningModule that trains a :class:`~ccsnscore.model.network.BinaryClassifier`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch.nn import functional as F
from torchmetrics import MeanMetric, MinMetric
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

from ccsnscore.model.network import BinaryClassifier


def _mixup_parameter(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"model.mixup must be a number >= 0 (0: off), got {value!r}")
    return number


class ClassifierModule(L.LightningModule):
    """Training of one binary classifier: binary cross-entropy (optionally class-weighted, and
    weighted per sample by a batch's ``weight`` when it has one), the
    ``train/loss``, ``val/loss``, ``val/auroc``, ``val/acc`` and ``val/loss_best`` metrics, and the
    optimizer and learning-rate schedule of the config.

    The keyword arguments of :class:`BinaryClassifier` build :attr:`network`; ``optimizer`` and
    ``scheduler`` are factories (Hydra ``_partial_``) called with the parameters / the optimizer.
    ``mixup`` > 0 trains on mixed samples (:meth:`mixed`, Beta(``mixup``, ``mixup``)); 0: off.
    """

    def __init__(
        self,
        input_case: str = "S",
        bands=("r", "g"),
        spectrum: Mapping | None = None,
        lightcurve: Mapping | None = None,
        dmdt: Mapping | None = None,
        init: str = "keras",
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable | None = None,
        mc_scope: str = "all",
        mixup: float = 0.0,
    ):
        super().__init__()
        self.mixup = _mixup_parameter(mixup)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.network = BinaryClassifier(input_case, bands, spectrum, lightcurve, dmdt, init, mc_scope)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.class_weight: tuple[float, float] | None = None
        """``(negative, positive)`` loss weights; None: unweighted."""
        self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
        self.val_auroc, self.val_acc = BinaryAUROC(), BinaryAccuracy()
        self.val_loss_best = MinMetric()

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)``."""
        return self.network(batch)

    def _loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch)
        weight = batch.get("weight")  # per-sample loss weights of the training split, when set
        if self.class_weight is not None:
            negative, positive = self.class_weight
            by_class = negative + (positive - negative) * batch["label"]
            weight = by_class if weight is None else weight * by_class
        return F.binary_cross_entropy_with_logits(logits, batch["label"], weight=weight), logits

    def on_train_start(self) -> None:
        # the sanity-check validation must not count as a best value
        self.val_loss.reset()
        self.val_auroc.reset()
        self.val_acc.reset()
        self.val_loss_best.reset()

    def mixed(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """mixup (Zhang et al. 2018): every sample of a training batch becomes ``lam * itself +
        (1 - lam) * a random partner`` of the same batch, input channels, label (then soft) and
        per-sample weight alike; ``lam ~ Beta(mixup, mixup)`` per sample, folded to ``lam >= 0.5`` so
        that each mixed sample stays mostly itself. Draws from torch's global generator (seeded with
        the run)."""
        n = batch["label"].shape[0]
        beta = torch.distributions.Beta(torch.tensor(self.mixup), torch.tensor(self.mixup))
        lam = beta.sample((n,)).to(batch["label"].device)
        lam = torch.maximum(lam, 1 - lam)
        partner = torch.randperm(n).to(batch["label"].device)
        out = dict(batch)
        for key in [*self.network.channels, "label", "weight"]:
            if key in batch:
                x = batch[key]
                share = lam.view(-1, *([1] * (x.dim() - 1))).to(x.dtype)
                out[key] = share * x + (1 - share) * x[partner]
        return out

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.mixup > 0:
            batch = self.mixed(batch)
        loss, _ = self._loss(batch)
        self.train_loss(loss, weight=len(batch["label"]))
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> None:
        loss, logits = self._loss(batch)
        target = batch["label"].long()
        self.val_loss(loss, weight=len(target))
        probability = torch.sigmoid(logits)
        self.val_auroc(probability, target)
        self.val_acc(probability, target)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/auroc", self.val_auroc, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True)

    def on_validation_epoch_end(self) -> None:
        self.val_loss_best(self.val_loss.compute())
        self.log("val/loss_best", self.val_loss_best.compute(), sync_dist=True, prog_bar=True)

    def configure_optimizers(self) -> Any:
        optimizer = (
            torch.optim.Adam(self.parameters(), lr=1e-3)
            if self.optimizer_factory is None
            else self.optimizer_factory(params=self.parameters())
        )
        if self.scheduler_factory is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "monitor": "val/loss"},
        }
