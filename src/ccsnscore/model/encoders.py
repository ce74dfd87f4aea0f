"""Per-channel encoders of a binary classifier (paper section 3, Figure 3).

Each encoder maps one input channel to an ``out_features``-wide code (8 in the published model)
and is split for Monte-Carlo dropout into

* ``forward_deterministic(x)``: everything before the first dropout layer (run once per sample);
* ``forward_stochastic(h)``: the rest, which may be run on ``h.repeat_interleave(n, 0)``;

with ``forward(x) == forward_stochastic(forward_deterministic(x))``. ``h`` is always one plain
tensor with the batch first, so the MC evaluator can repeat and chunk it without knowing the
encoder. When Monte-Carlo dropout acts in the dense head only, the split moves to the head's input:
``forward(x) == head_code(head_input(x))``, and only ``head_code`` is repeated per pass.

Defaults follow the published CCSNscore models (Keras): two bidirectional LSTMs of 24 units for the
spectrum, three LSTMs of 24 units per light-curve band, two 3x3 convolutions per dm-dt histogram,
ReLU on every dense and convolutional layer including the 8-wide output, and dropout after each
recurrent / convolutional / hidden dense layer.

Zero masking (``mask_zeros=True``, the default for both recurrent encoders): the Keras original
puts ``Masking(mask_value=0.)`` in front of the LSTMs, which skips every all-zero timestep. Our
zeros are padding only (spectrum outside its wavelength coverage; light curve before the band's
first and after its last detection, or the whole band when it is missing), so the valid steps of
a row are contiguous. We move them to the front (:func:`~ccsnscore.model.layers.compact_nonzero`), run
fused single-layer ``nn.LSTM`` s over the batch's longest valid stretch and read each row at its
own last valid step; the backward direction of a bidirectional layer runs over the row reversed
within its length. A unidirectional LSTM's output at step ``t`` depends only on steps ``<= t``, so
the padding after a row's length never reaches what is read: this reproduces Keras masking exactly,
without ``pack_padded_sequence`` (slower on CPU) and without a Python loop over samples. A fully
empty light curve (missing band) has length 0 and, as in Keras, its recurrent state is the zero
initial state, so the band's code is a learned constant (the output layer's bias through ReLU):
the model can tell "no data" apart from any real light curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import torch
from torch import nn
from torch.nn import functional as F

from ccsnscore.model.layers import MCDropout, compact_nonzero, last_step, reverse_padded


def _as_list(value, n: int, name: str) -> list:
    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value] * n
    if len(values) != n:
        raise ValueError(f"{name}: expected {n} values, got {len(values)}")
    return values


class DenseHead(nn.Module):
    """The encoders' common end: hidden dense layers (ReLU, each followed by ``MCDropout``) and a
    dense ``out_features`` layer; attributes ``dense``, ``dense_dropouts`` and ``out``."""

    def _build_head(self, width: int, dense_units, dense_dropout: float, out_features: int) -> None:
        self.dense = nn.ModuleList()
        self.dense_dropouts = nn.ModuleList()
        for units in dense_units:
            self.dense.append(nn.Linear(width, int(units)))
            self.dense_dropouts.append(MCDropout(dense_dropout))
            width = int(units)
        self.out = nn.Linear(width, out_features)
        self.out_features = out_features

    def _head(self, code: torch.Tensor) -> torch.Tensor:
        """The output layer's pre-activation."""
        for dense, dropout in zip(self.dense, self.dense_dropouts):
            code = dropout(F.relu(dense(code)))
        return self.out(code)

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        """The dense head's input ``(B, width)`` from the output of ``forward_deterministic``."""
        raise NotImplementedError

    def head_input(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the dense head ``(B, width)``: with dropout in the head only, the
        deterministic part of a Monte-Carlo pass."""
        return self._features(self.forward_deterministic(x))

    def head_code(self, features: torch.Tensor) -> torch.Tensor:
        """The code ``(B, out_features)`` from the head's input (hidden dense layers and output)."""
        return F.relu(self._head(features))

    def forward_stochastic(self, h: torch.Tensor) -> torch.Tensor:
        return self.head_code(self._features(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_stochastic(self.forward_deterministic(x))


class RecurrentEncoder(DenseHead):
    """Stacked (bi)LSTMs over ``(B, T, in_features)``, read at the last valid step, then dense layers.

    ``lstm_units[i]`` units per direction in layer ``i``, followed by ``MCDropout(lstm_dropout[i])``;
    then hidden dense layers ``dense_units`` (ReLU, each followed by ``MCDropout(dense_dropout)``)
    and a dense ``out_features`` layer (ReLU).

    ``forward_deterministic`` returns ``(B, T', D + 1)``: the first LSTM layer's outputs (``D`` =
    ``lstm_units[0]`` times 1 or 2 directions, zero after each row's length) with the validity mask
    (1.0 / 0.0) as the last feature; ``T'`` is the longest valid stretch in the batch (``T`` without
    masking). The mask travels inside the tensor so that it is repeated with the outputs.
    """

    def __init__(
        self,
        in_features: int = 1,
        lstm_units: Sequence[int] = (24, 24),
        lstm_dropout: Sequence[float] | float = (0.5, 0.1),
        bidirectional: bool = False,
        dense_units: Sequence[int] = (),
        dense_dropout: float = 0.1,
        out_features: int = 8,
        mask_zeros: bool = True,
    ):
        super().__init__()
        lstm_units = [int(u) for u in lstm_units]
        if not lstm_units:
            raise ValueError("need at least one LSTM layer")
        n = len(lstm_units)
        self.bidirectional, self.mask_zeros = bool(bidirectional), bool(mask_zeros)
        directions = 2 if bidirectional else 1
        self.forward_lstms = nn.ModuleList()
        self.backward_lstms = nn.ModuleList() if bidirectional else None
        width = in_features
        for units in lstm_units:
            self.forward_lstms.append(nn.LSTM(width, units, batch_first=True))
            if bidirectional:
                self.backward_lstms.append(nn.LSTM(width, units, batch_first=True))
            width = units * directions
        self.lstm_dropouts = nn.ModuleList(MCDropout(p) for p in _as_list(lstm_dropout, n, "lstm_dropout"))
        self._build_head(width, dense_units, dense_dropout, out_features)

    def _lstm_layer(self, i: int, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Outputs of layer ``i`` over ``x`` ``(B, T, F)``, both directions aligned in time."""
        forward_out, _ = self.forward_lstms[i](x)
        if not self.bidirectional:
            return forward_out
        backward_out, _ = self.backward_lstms[i](reverse_padded(x, lengths))
        return torch.cat([forward_out, reverse_padded(backward_out, lengths)], dim=-1)

    def _readout(self, seq: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Final states: forward at the last valid step, backward at the first (its last processed)."""
        if not self.bidirectional:
            return last_step(seq, lengths)
        units = seq.shape[-1] // 2
        backward = seq[:, 0, units:] * (lengths > 0).unsqueeze(-1).to(seq.dtype)
        return torch.cat([last_step(seq[..., :units], lengths), backward], dim=-1)

    def forward_deterministic(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask_zeros:
            x, lengths = compact_nonzero(x)
        else:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
        valid = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(x.dtype)
        seq = self._lstm_layer(0, x, lengths) * valid.unsqueeze(-1)
        return torch.cat([seq, valid.unsqueeze(-1)], dim=-1)

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        seq, valid = h[..., :-1], h[..., -1]
        lengths = valid.sum(dim=1).round().long()
        for i in range(1, len(self.forward_lstms)):
            seq = self._lstm_layer(i, self.lstm_dropouts[i - 1](seq), lengths)
        return self.lstm_dropouts[-1](self._readout(seq, lengths))


class SpectrumEncoder(RecurrentEncoder):
    """Spectrum ``(B, n_wave, 1)`` (flux on the 256-point rest-frame grid) -> ``(B, out_features)``.

    Published model: biLSTM 24 -> dropout 0.5 -> biLSTM 24 -> dropout 0.1 -> dense 64 (ReLU) ->
    dropout 0.1 -> dense 8 (ReLU). Zero flux outside the coverage is masked as in Keras.
    """

    def __init__(
        self,
        lstm_units: Sequence[int] = (24, 24),
        lstm_dropout: Sequence[float] | float = (0.5, 0.1),
        bidirectional: bool = True,
        dense_units: Sequence[int] = (64,),
        dense_dropout: float = 0.1,
        out_features: int = 8,
        mask_zeros: bool = True,
        in_features: int = 1,
    ):
        super().__init__(
            in_features, lstm_units, lstm_dropout, bidirectional, dense_units, dense_dropout, out_features, mask_zeros
        )


class LightCurveEncoder(RecurrentEncoder):
    """One band's light curve ``(B, n_days, 2)`` (flux, flux error) -> ``(B, out_features)``.

    Published model: LSTM 24 -> dropout 0.5 -> LSTM 24 -> dropout 0.5 -> LSTM 24 -> dropout 0.5 ->
    dense 8 (ReLU). Zero days (before the band's first / after its last detection, or the whole
    band when missing) are masked as in Keras; see the module docstring.
    """

    def __init__(
        self,
        lstm_units: Sequence[int] = (24, 24, 24),
        lstm_dropout: Sequence[float] | float = 0.5,
        bidirectional: bool = False,
        dense_units: Sequence[int] = (),
        dense_dropout: float = 0.1,
        out_features: int = 8,
        mask_zeros: bool = True,
        in_features: int = 2,
    ):
        super().__init__(
            in_features, lstm_units, lstm_dropout, bidirectional, dense_units, dense_dropout, out_features, mask_zeros
        )


class DmdtEncoder(DenseHead):
    """One band's dm-dt histogram ``(B, 1, n_dm, n_dt)`` -> ``(B, out_features)``.

    Published model: conv 16 (3x3, ReLU) -> dropout 0.5 -> conv 8 (3x3, ReLU) -> dropout 0.1 ->
    max-pool 2 -> flatten -> dense 64 (ReLU) -> dropout 0.1 -> dense 8 (ReLU). Convolutions are
    unpadded ('valid'), as in Keras. ``forward_deterministic`` returns the first convolution's
    activations ``(B, conv_channels[0], n_dm - k + 1, n_dt - k + 1)``.
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (24, 24),
        conv_channels: Sequence[int] = (16, 8),
        kernel_size: int = 3,
        conv_dropout: Sequence[float] | float = (0.5, 0.1),
        pool: int = 2,
        dense_units: Sequence[int] = (64,),
        dense_dropout: float = 0.1,
        out_features: int = 8,
    ):
        super().__init__()
        conv_channels = [int(c) for c in conv_channels]
        if not conv_channels:
            raise ValueError("need at least one convolution")
        self.convs = nn.ModuleList()
        height, width, channels = int(input_shape[0]), int(input_shape[1]), 1
        for c in conv_channels:
            self.convs.append(nn.Conv2d(channels, c, kernel_size))
            channels, height, width = c, height - kernel_size + 1, width - kernel_size + 1
        self.conv_dropouts = nn.ModuleList(
            MCDropout(p) for p in _as_list(conv_dropout, len(conv_channels), "conv_dropout")
        )
        self.pool = nn.MaxPool2d(pool)
        size = channels * (height // pool) * (width // pool)
        if size <= 0:
            raise ValueError(f"input {tuple(input_shape)} too small for {len(conv_channels)} convolutions")
        self._build_head(size, dense_units, dense_dropout, out_features)

    def forward_deterministic(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.convs[0](x))

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        for i in range(1, len(self.convs)):
            h = F.relu(self.convs[i](self.conv_dropouts[i - 1](h)))
        return torch.flatten(self.pool(self.conv_dropouts[-1](h)), 1)


class SpectrumCNNEncoder(DenseHead):
    """Spectrum ``(B, n_wave, 1)`` -> ``(B, out_features)`` with 1-D convolutions.

    The coverage mask (1 where the flux is non-zero) is an input channel, so that zero flux outside
    the coverage is not mistaken for data; with ``continuum_window`` (odd, pixels) the flux minus
    its running mean over that window (the lines without the continuum) is another; with
    ``wavelength_channel`` each pixel's place on the wavelength grid (-1 at the blue end, 1 at the
    red) is one more, so that features pooled over the whole spectrum can still depend on where
    they lie (a line at H-alpha and one at He I 5876 are otherwise the same after global pooling).

    Blocks: conv (``kernel_sizes[i]``, 'same' padding, ReLU) -> max-pool ``pool`` ->
    ``MCDropout(conv_dropout[i])``; then the global max and mean over wavelength, hidden dense
    layers ``dense_units`` (ReLU, ``MCDropout(dense_dropout)``) and a dense ``out_features`` layer
    (ReLU as in the paper's encoders, or linear with ``out_activation="none"``: a ReLU on the 8-wide
    code can die as a whole and leave the classifier constant). ``forward_deterministic`` returns
    the first block's pooled activations ``(B, conv_channels[0], n_wave // pool)``.

    With ``readout_positions`` > 0 the head also reads the last block's features averaged over that
    many equal stretches of the spectrum (blue to red) beside their global max and mean: a
    position-aware readout, as in classic spectral CNNs, independent of ``n_wave``.

    With ``recurrent_units`` > 0 the encoder is a CNN + LSTM hybrid: a fused bidirectional LSTM reads
    the last block's feature sequence (shorter than the spectrum by the pooling, so cheap) and its
    last forward and first backward states join the global max and mean, giving the head the order
    of the features along the spectrum as well as their strength.
    """

    def __init__(
        self,
        conv_channels: Sequence[int] = (32, 64, 64, 64),
        kernel_sizes: Sequence[int] = (7, 5, 5, 3),
        conv_dropout: Sequence[float] | float = (0.1, 0.1, 0.1, 0.1),
        pool: int = 2,
        dense_units: Sequence[int] = (64,),
        dense_dropout: float = 0.1,
        out_features: int = 8,
        in_features: int = 1,
        continuum_window: int = 0,
        out_activation: str = "relu",
        recurrent_units: int = 0,
        wavelength_channel: bool = False,
        readout_positions: int = 0,
    ):
        super().__init__()
        conv_channels = [int(c) for c in conv_channels]
        if not isinstance(wavelength_channel, bool):
            raise ValueError(f"wavelength_channel must be true or false, got {wavelength_channel!r}")
        self.wavelength_channel = wavelength_channel
        if int(recurrent_units) < 0:
            raise ValueError(f"recurrent_units must be >= 0, got {recurrent_units}")
        if isinstance(readout_positions, bool) or not isinstance(readout_positions, Integral) or readout_positions < 0:
            raise ValueError(f"readout_positions must be a whole number >= 0, got {readout_positions!r}")
        self.readout_positions = int(readout_positions)
        kernel_sizes = [int(k) for k in _as_list(kernel_sizes, len(conv_channels), "kernel_sizes")]
        if not conv_channels:
            raise ValueError("need at least one convolution")
        if continuum_window and (int(continuum_window) < 3 or int(continuum_window) % 2 == 0):
            raise ValueError(f"continuum_window must be an odd number of pixels >= 3, got {continuum_window}")
        self.continuum_window = int(continuum_window)
        if out_activation not in ("relu", "none"):
            raise ValueError(f"out_activation must be 'relu' or 'none', got {out_activation!r}")
        self.out_activation = out_activation
        self.convs = nn.ModuleList()
        channels = in_features + 1 + (in_features if self.continuum_window else 0) + int(wavelength_channel)
        for c, k in zip(conv_channels, kernel_sizes):
            self.convs.append(nn.Conv1d(channels, c, k, padding=k // 2))
            channels = c
        self.conv_dropouts = nn.ModuleList(
            MCDropout(p) for p in _as_list(conv_dropout, len(conv_channels), "conv_dropout")
        )
        self.pool = nn.MaxPool1d(pool, ceil_mode=True)
        self.recurrent_units = int(recurrent_units)
        self.lstm = (
            nn.LSTM(channels, self.recurrent_units, batch_first=True, bidirectional=True)
            if self.recurrent_units
            else None
        )
        readout = (2 + self.readout_positions) * channels + 2 * self.recurrent_units
        self._build_head(readout, dense_units, dense_dropout, out_features)

    def forward_deterministic(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != 0).any(dim=-1, keepdim=True).to(x.dtype)
        parts = [x, mask]
        if self.continuum_window:
            parts.insert(1, (x - self._continuum(x, mask)) * mask)
        if self.wavelength_channel:
            grid = torch.linspace(-1.0, 1.0, x.shape[1], dtype=x.dtype, device=x.device)
            parts.append(grid.view(1, -1, 1).expand(x.shape[0], -1, 1))
        h = torch.cat(parts, dim=-1).transpose(1, 2)
        return self.pool(F.relu(self.convs[0](h)))

    def _continuum(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Running mean over ``continuum_window`` covered pixels ``(B, T, F)`` (uncovered ones left out)."""
        k, pad = self.continuum_window, self.continuum_window // 2
        num = F.avg_pool1d((x * mask).transpose(1, 2), k, stride=1, padding=pad, count_include_pad=False)
        den = F.avg_pool1d(mask.transpose(1, 2), k, stride=1, padding=pad, count_include_pad=False)
        return (num / den.clamp_min(1e-6)).transpose(1, 2)

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        h = self.conv_dropouts[0](h)
        for conv, dropout in zip(self.convs[1:], self.conv_dropouts[1:]):
            h = dropout(self.pool(F.relu(conv(h))))
        parts = [h.amax(dim=-1), h.mean(dim=-1)]
        if self.readout_positions:
            parts.append(F.adaptive_avg_pool1d(h, self.readout_positions).flatten(1))
        if self.lstm is not None:
            seq, _ = self.lstm(h.transpose(1, 2))
            units = self.recurrent_units
            parts += [seq[:, -1, :units], seq[:, 0, units:]]
        return torch.cat(parts, dim=-1)

    def head_code(self, features: torch.Tensor) -> torch.Tensor:
        code = self._head(features)
        return F.relu(code) if self.out_activation == "relu" else code


SPECTRUM_ARCHITECTURES = {"bilstm": SpectrumEncoder, "cnn": SpectrumCNNEncoder}


def spectrum_encoder(architecture: str = "bilstm", **settings) -> nn.Module:
    """The spectrum encoder named by ``architecture`` (``bilstm``: the paper's; ``cnn``)."""
    if architecture not in SPECTRUM_ARCHITECTURES:
        raise ValueError(
            f"unknown spectrum architecture {architecture!r}; choose one of {list(SPECTRUM_ARCHITECTURES)}"
        )
    return SPECTRUM_ARCHITECTURES[architecture](**settings)
