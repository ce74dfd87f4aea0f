"""One-vs-rest binary classifier: the encoders of an input case, concatenated, dense 1 + sigmoid."""
from __future__ import annotations

from typing import Any, Callable, Mapping

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanMetric, MinMetric
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

from ccsnscore.datamodule import channel_names
from ccsnscore.encoders import DmdtEncoder, LightCurveEncoder, spectrum_encoder
from ccsnscore.layers import keras_init_

ENCODERS = {"spectrum": spectrum_encoder, "lc": LightCurveEncoder, "dmdt": DmdtEncoder}


class BinaryClassifier(L.LightningModule):
    """Probability that a sample belongs to the positive class of one binary task.

    ``input_case`` (``S``, ``SL``, ``SD``, ``SLD``) picks the channels (batch keys, see
    :func:`ccsnscore.datamodule.channel_names`): ``spectrum`` ``(B, 256, 1)``, ``lc_<band>``
    ``(B, 200, 2)``, ``dmdt_<band>`` ``(B, 1, 24, 24)``. Each channel has its own encoder
    (``spectrum``, ``lightcurve`` and ``dmdt`` hold the keyword arguments of
    :class:`SpectrumEncoder`, :class:`LightCurveEncoder`, :class:`DmdtEncoder`); the codes are
    concatenated in channel order and a dense layer gives one logit. ``init="keras"`` initialises
    the weights as the Keras original (:func:`ccsnscore.layers.keras_init_`); ``"torch"`` keeps
    PyTorch's defaults.

    Monte-Carlo dropout: ``forward_stochastic(encode_deterministic(batch))`` equals
    ``forward(batch)``; each value of the ``encode_deterministic`` dict is a tensor with the batch
    first, so it may be ``repeat_interleave``-d (all values alike) before ``forward_stochastic``.
    Switch dropout on in eval mode with :func:`ccsnscore.layers.set_mc_dropout`.
    """

    def __init__(self, input_case: str = "S", bands=("r", "g"), spectrum: Mapping | None = None,
                 lightcurve: Mapping | None = None, dmdt: Mapping | None = None,
                 init: str = "keras", optimizer: Callable[..., torch.optim.Optimizer] | None = None,
                 scheduler: Callable | None = None):
        super().__init__()
        # architecture only: the optimizer factory is not needed to rebuild the model
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.class_weight: tuple[float, float] | None = None  # (negative, positive) loss weights
        self.input_case, self.bands = input_case, tuple(bands)
        self.channels = channel_names(input_case, self.bands)
        settings = {"spectrum": dict(spectrum or {}), "lc": dict(lightcurve or {}), "dmdt": dict(dmdt or {})}
        self.encoders = nn.ModuleDict({name: ENCODERS[name.split("_")[0]](**settings[name.split("_")[0]])
                                       for name in self.channels})
        width = sum(encoder.out_features for encoder in self.encoders.values())
        self.head = nn.Linear(width, 1)
        if init == "keras":
            keras_init_(self)
        elif init != "torch":
            raise ValueError(f"init must be 'keras' or 'torch', got {init!r}")
        self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
        self.val_auroc, self.val_acc = BinaryAUROC(), BinaryAccuracy()
        self.val_loss_best = MinMetric()

    # -- inference ----------------------------------------------------------------------------
    def encode_deterministic(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The dropout-free first part of every encoder: ``{channel: tensor (B, ...)}``."""
        return {name: encoder.forward_deterministic(batch[name]) for name, encoder in self.encoders.items()}

    def forward_stochastic(self, encoded: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)`` from the output of :meth:`encode_deterministic` (possibly repeated)."""
        codes = [encoder.forward_stochastic(encoded[name]) for name, encoder in self.encoders.items()]
        return self.head(torch.cat(codes, dim=-1)).squeeze(-1)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)``."""
        return self.forward_stochastic(self.encode_deterministic(batch))

    @torch.no_grad()
    def predict_proba(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Probabilities ``(B,)`` of the positive class (one pass, dropout as currently set)."""
        return torch.sigmoid(self(batch))

    # -- training -----------------------------------------------------------------------------
    def _loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch)
        weight = None
        if self.class_weight is not None:
            negative, positive = self.class_weight
            weight = negative + (positive - negative) * batch["label"]
        return F.binary_cross_entropy_with_logits(logits, batch["label"], weight=weight), logits

    def on_train_start(self) -> None:
        # the sanity-check validation must not count as a best value
        self.val_loss.reset()
        self.val_auroc.reset()
        self.val_acc.reset()
        self.val_loss_best.reset()

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
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
        optimizer = (torch.optim.Adam(self.parameters(), lr=1e-3) if self.optimizer_factory is None
                     else self.optimizer_factory(params=self.parameters()))
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer), "monitor": "val/loss"}}
