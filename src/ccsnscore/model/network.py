"""One-vs-rest binary classifier network: the encoders of an input case, concatenated, dense 1.

A plain ``nn.Module``: using a trained classifier needs neither Lightning nor Hydra
(:class:`ccsnscore.training.module.ClassifierModule` wraps it for training).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ccsnscore.data.channels import channel_names
from ccsnscore.model.encoders import DmdtEncoder, LightCurveEncoder, spectrum_encoder
from ccsnscore.model.layers import MC_SCOPES, keras_init_
from ccsnscore.model.trees import TreeEnsemble

ENCODERS = {"spectrum": spectrum_encoder, "lc": LightCurveEncoder, "dmdt": DmdtEncoder}


class BinaryClassifier(nn.Module):
    """Probability that a sample belongs to the positive class of one binary task.

    ``input_case`` (``S``, ``SL``, ``SD``, ``SLD``) picks the channels (batch keys, see
    :func:`ccsnscore.data.channels.channel_names`): ``spectrum`` ``(B, 256, 1)``, ``lc_<band>``
    ``(B, 200, 2)``, ``dmdt_<band>`` ``(B, 1, 24, 24)``. Each channel has its own encoder
    (``spectrum``, ``lightcurve`` and ``dmdt`` hold the keyword arguments of
    :class:`SpectrumEncoder`, :class:`LightCurveEncoder`, :class:`DmdtEncoder`); the codes are
    concatenated in channel order and a dense layer gives one logit. ``init="keras"`` initialises
    the weights as the Keras original (:func:`ccsnscore.model.layers.keras_init_`); ``"torch"`` keeps
    PyTorch's defaults.

    Monte-Carlo dropout: ``forward_stochastic(encode_deterministic(batch))`` equals
    ``forward(batch)``; each value of the ``encode_deterministic`` dict is a tensor with the batch
    first, so it may be ``repeat_interleave``-d (all values alike) before ``forward_stochastic``.
    With ``mc_scope="head"`` the deterministic part runs up to the encoders' dense heads (their
    convolutions and LSTMs run once per sample, not once per pass).
    Switch dropout on in eval mode with :func:`ccsnscore.model.layers.set_mc_dropout`.
    """

    def __init__(
        self,
        input_case: str = "S",
        bands=("r", "g"),
        spectrum: Mapping | None = None,
        lightcurve: Mapping | None = None,
        dmdt: Mapping | None = None,
        init: str = "keras",
        mc_scope: str = "all",
    ):
        super().__init__()
        if mc_scope not in MC_SCOPES:
            raise ValueError(f"mc_scope must be one of {MC_SCOPES}, got {mc_scope!r}")
        self.mc_scope = mc_scope
        """Where Monte-Carlo dropout acts at inference (:data:`ccsnscore.model.layers.MC_SCOPES`)."""
        self.config = {
            "input_case": input_case,
            "bands": list(bands),
            "spectrum": dict(spectrum or {}),
            "lightcurve": dict(lightcurve or {}),
            "dmdt": dict(dmdt or {}),
            "init": init,
            "mc_scope": mc_scope,
        }
        """Everything needed to rebuild the network: ``BinaryClassifier(**config)``."""
        self.input_case, self.bands = input_case, tuple(bands)
        self.channels = channel_names(input_case, self.bands)
        settings = {"spectrum": dict(spectrum or {}), "lc": dict(lightcurve or {}), "dmdt": dict(dmdt or {})}
        self.encoders = nn.ModuleDict(
            {name: ENCODERS[name.split("_")[0]](**settings[name.split("_")[0]]) for name in self.channels}
        )
        width = sum(encoder.out_features for encoder in self.encoders.values())
        self.head = nn.Linear(width, 1)
        if init == "keras":
            keras_init_(self)
        elif init != "torch":
            raise ValueError(f"init must be 'keras' or 'torch', got {init!r}")

    # -- inference ----------------------------------------------------------------------------
    def encode_deterministic(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The part of every encoder that Monte-Carlo dropout leaves alone: ``{channel: tensor (B,
        ...)}``, up to the first dropout layer, or (``mc_scope="head"``) up to the dense head."""
        if self.mc_scope == "head":
            return {name: encoder.head_input(batch[name]) for name, encoder in self.encoders.items()}
        return {name: encoder.forward_deterministic(batch[name]) for name, encoder in self.encoders.items()}

    def forward_stochastic(self, encoded: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)`` from the output of :meth:`encode_deterministic` (possibly repeated)."""
        if self.mc_scope == "head":
            codes = [encoder.head_code(encoded[name]) for name, encoder in self.encoders.items()]
        else:
            codes = [encoder.forward_stochastic(encoded[name]) for name, encoder in self.encoders.items()]
        return self.head(torch.cat(codes, dim=-1)).squeeze(-1)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)``."""
        return self.forward_stochastic(self.encode_deterministic(batch))

    @torch.no_grad()
    def predict_proba(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Probabilities ``(B,)`` of the positive class (one pass, dropout as currently set)."""
        return torch.sigmoid(self(batch))


class EnsembleClassifier(nn.Module):
    """A deep ensemble: ``members`` binary classifiers of one architecture trained with different
    seeds. Its probability is the members' mean; with Monte-Carlo dropout the passes are shared out
    among the members at the cost of a single network, and the spread is the members' own
    Monte-Carlo spread (:func:`ccsnscore.inference.mc_dropout.member_moments`).
    """

    def __init__(self, members: int = 3, **config):
        super().__init__()
        if int(members) < 1:
            raise ValueError(f"an ensemble needs at least one member, got {members}")
        self.members = nn.ModuleList(BinaryClassifier(**config) for _ in range(int(members)))
        self.config = {**self.members[0].config, "members": int(members)}
        self.input_case, self.bands, self.channels = (
            self.members[0].input_case,
            self.members[0].bands,
            self.members[0].channels,
        )

    @classmethod
    def from_members(cls, networks: list[BinaryClassifier]) -> EnsembleClassifier:
        """An ensemble holding copies of ``networks`` (same architecture required)."""
        configs = {repr(sorted(n.config.items())) for n in networks}
        if len(configs) != 1:
            raise ValueError("ensemble members must share one architecture")
        ensemble = cls(len(networks), **networks[0].config)
        for member, network in zip(ensemble.members, networks):
            member.load_state_dict(network.state_dict())
        return ensemble

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)`` of the members' mean probability."""
        return torch.logit(self.predict_proba(batch), eps=1e-7)

    @torch.no_grad()
    def predict_proba(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The members' mean probability ``(B,)`` (one pass each, dropout as currently set)."""
        return torch.stack([member.predict_proba(batch) for member in self.members]).mean(dim=0)


class BlendedClassifier(nn.Module):
    """A network (single or deep ensemble) blended with gradient-boosted trees on the same inputs:
    probability ``(1 - tree_weight) * network + tree_weight * trees``.

    The trees are deterministic, so with Monte-Carlo dropout every pass is the network's pass moved
    by the same amount: the mean is the blend of the means and the spread is ``1 - tree_weight``
    times the network's (:func:`ccsnscore.inference.mc_dropout.mc_dropout_scores`).
    ``tree`` holds :class:`~ccsnscore.model.trees.TreeEnsemble`'s settings; the other keyword
    arguments are the network's (:func:`build_network`).
    """

    def __init__(self, tree: Mapping, tree_weight: float = 0.5, **network_config):
        super().__init__()
        if not 0.0 <= float(tree_weight) <= 1.0:
            raise ValueError(f"tree_weight must lie in [0, 1], got {tree_weight}")
        self.network = build_network(network_config)
        self.tree = TreeEnsemble(**tree)
        self.tree_weight = float(tree_weight)
        self.config = {**self.network.config, "tree": dict(self.tree.config), "tree_weight": self.tree_weight}
        self.input_case, self.bands, self.channels = self.network.input_case, self.network.bands, self.network.channels

    @classmethod
    def from_parts(cls, network: nn.Module, tree: TreeEnsemble, tree_weight: float = 0.5) -> BlendedClassifier:
        """A blend holding copies of a trained ``network`` and fitted ``tree``."""
        blend = cls(tree=tree.config, tree_weight=tree_weight, **network.config)
        blend.network.load_state_dict(network.state_dict())
        blend.tree.load_state_dict(tree.state_dict())
        return blend

    @property
    def mc_scope(self) -> str:
        return getattr(self.network, "mc_scope", self.network.config.get("mc_scope", "all"))

    @mc_scope.setter
    def mc_scope(self, scope: str) -> None:
        for module in self.network.modules():
            if isinstance(module, BinaryClassifier):
                module.mc_scope = scope

    def validate(self) -> None:
        """Raise ``ValueError`` for trees whose stored indices do not fit (see TreeEnsemble)."""
        self.tree.validate()

    @torch.no_grad()
    def tree_proba(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The trees' probabilities ``(B,)``."""
        return self.tree(self.tree.features(batch, self.channels))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)`` of the blended probability."""
        return torch.logit(self.predict_proba(batch), eps=1e-7)

    @torch.no_grad()
    def predict_proba(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The blended probability ``(B,)`` (one network pass, dropout as currently set)."""
        weight = self.tree_weight
        return (1.0 - weight) * self.network.predict_proba(batch) + weight * self.tree_proba(batch)


def build_network(config: Mapping[str, Any]) -> nn.Module:
    """The network a classifier file describes: a network + tree blend when ``config`` has
    ``tree``, an ensemble when it has ``members``."""
    config = dict(config)
    if "tree" in config:
        return BlendedClassifier(**config)
    if "members" in config:
        return EnsembleClassifier(**config)
    return BinaryClassifier(**config)
