"""Building blocks shared by the encoders: switchable (Monte-Carlo) dropout and zero masking."""

from __future__ import annotations

import torch
from torch import nn

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit constant as torch's int64 holds it."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def _shift_right(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 values (torch shifts arithmetically)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser on int64 tensors (wrapping arithmetic): a well-mixed 64-bit hash."""
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def stream_keys(keys: torch.Tensor, n: int, first: int = 0) -> torch.Tensor:
    """``(len(keys) * n,)`` keys of sub-streams ``first .. first + n - 1`` of each key (row-major:
    key 0's first)."""
    index = torch.arange(first, first + n, device=keys.device, dtype=torch.int64)
    return mix64(keys.repeat_interleave(n) * _GOLDEN + index.repeat(len(keys)) + 1)


_HASH32 = 0x045D9F3B
_INDEX32 = 0x9E3779B9 - (1 << 32)  # as int32


def _hash32(z: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (two multiply-xorshift rounds) on int32 tensors, wrapping arithmetic."""
    z = (z ^ ((z >> 16) & 0xFFFF)) * _HASH32
    z = (z ^ ((z >> 16) & 0xFFFF)) * _HASH32
    return z ^ ((z >> 16) & 0xFFFF)


def hashed_keep_mask(keys: torch.Tensor, salt: int, shape: torch.Size, p: float) -> torch.Tensor:
    """Boolean keep mask of shape ``shape`` (``shape[0] == len(keys)``), each element kept with
    probability ``1 - p``: element ``i`` of row ``b`` depends on ``(keys[b], salt, i)`` only, so a
    row's masks never depend on the other rows of the batch. Vectorised int32 hashing."""
    elements = 1
    for size in shape[1:]:
        elements *= int(size)
    row_keys = (mix64(keys + _signed((salt + 1) * _GOLDEN)) & 0xFFFFFFFF).to(torch.int32)  # low 32 bits
    index = torch.arange(elements, device=keys.device, dtype=torch.int32) * _INDEX32
    bits = _hash32(row_keys[:, None] ^ index[None, :]) & 0xFFFFFF
    return (bits >= int(p * (1 << 24))).view(shape)


class MCDropout(nn.Module):
    """Element-wise dropout that can stay on at inference (Monte-Carlo dropout).

    Active when the module is training **or** when ``mc`` is set (see :func:`set_mc_dropout`);
    otherwise the identity. Kept values are scaled by ``1 / (1 - p)``. The keep mask is
    ``u >= p`` with ``u`` from ``torch.rand`` (so a row repeated ``n`` times along the batch gets
    ``n`` independent masks), or, when :attr:`streams` holds one int64 key per row (see
    :func:`set_mc_streams`), from a hash of that row's key: each row's masks are then
    fixed by its key alone, whatever else is in the batch (:func:`hashed_keep_mask`).
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.mc = False
        self.streams: torch.Tensor | None = None
        self.salt = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not (self.training or self.mc):
            return x
        if self.streams is not None and not self.training:
            if len(self.streams) != x.shape[0]:
                raise ValueError(f"{len(self.streams)} dropout streams for a batch of {x.shape[0]} rows")
            keep = hashed_keep_mask(self.streams, self.salt, x.shape, self.p)
        else:
            keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}, mc={self.mc}"


MC_SCOPES = ("all", "head")
"""Where Monte-Carlo dropout acts at inference: every dropout layer, or only those of the dense
layers after the recurrent/convolutional feature extractors (the networks' ``dense_dropouts``)."""


def set_mc_dropout(model: nn.Module, on: bool, scope: str = "all") -> int:
    """Switch Monte-Carlo dropout on or off in the :class:`MCDropout` layers of ``model`` within
    ``scope`` (:data:`MC_SCOPES`; switching off always reaches every layer); returns how many were
    switched on or off. Independent of ``model.train()`` / ``model.eval()``."""
    if scope not in MC_SCOPES:
        raise ValueError(f"MC dropout scope must be one of {MC_SCOPES}, got {scope!r}")
    chosen = None
    if on and scope == "head":
        chosen = {id(m) for module in model.modules() for m in getattr(module, "dense_dropouts", [])}
    n = 0
    for module in model.modules():
        if isinstance(module, MCDropout):
            module.mc = bool(on) and (chosen is None or id(module) in chosen)
            n += module.mc or not on
    return n


def set_mc_streams(model: nn.Module, keys: torch.Tensor | None) -> None:
    """Give every :class:`MCDropout` of ``model`` the per-row keys ``keys`` ``(B,)`` int64 (None:
    back to ``torch.rand``); each layer hashes them with its own salt (its position in the model)."""
    for salt, module in enumerate(m for m in model.modules() if isinstance(m, MCDropout)):
        module.streams, module.salt = keys, salt


def compact_nonzero(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the timesteps of ``x`` ``(B, T, F)`` that are not all zero to the front, in order.

    Returns ``(x_compact, lengths)``: ``x_compact`` ``(B, T', F)`` with ``T'`` the largest number
    of non-zero steps in the batch (at least 1), zero after each row's ``lengths`` ``(B,)`` (int64,
    on ``x.device``). An LSTM run over ``x_compact`` and read at step ``length - 1`` sees exactly
    the steps a Keras ``Masking(mask_value=0.)`` layer lets through.
    """
    valid = (x != 0).any(dim=-1)  # (B, T)
    lengths = valid.sum(dim=1)
    # stable sort puts valid steps first and keeps their order
    order = torch.sort((~valid).to(torch.uint8), dim=1, stable=True).indices
    t_max = max(int(lengths.max()) if lengths.numel() else 1, 1)
    order = order[:, :t_max]
    x_compact = torch.gather(x, 1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    keep = torch.arange(t_max, device=x.device)[None, :] < lengths[:, None]
    return x_compact * keep.unsqueeze(-1).to(x.dtype), lengths


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row of ``x`` ``(B, T, F)`` within its first ``lengths`` steps; steps after a
    row's length stay in place (their contents are never read by the callers)."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    last = (lengths.clamp(min=1) - 1)[:, None]
    index = torch.where(steps <= last, last - steps, steps)
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def last_step(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``x[b, lengths[b] - 1]`` for each row of ``x`` ``(B, T, F)``; ``(B, F)``, zero where
    ``lengths == 0`` (a Keras LSTM over a fully masked sequence returns its zero initial state)."""
    index = (lengths.clamp(min=1) - 1).view(-1, 1, 1).expand(-1, 1, x.shape[-1])
    out = torch.gather(x, 1, index).squeeze(1)
    return out * (lengths > 0).unsqueeze(-1).to(out.dtype)


@torch.no_grad()
def keras_init_(module: nn.Module) -> nn.Module:
    """Re-initialise ``module``'s LSTM, dense and convolution weights as Keras does by default (the
    published models were Keras ones): Glorot-uniform input and dense/convolution kernels,
    orthogonal recurrent kernels, zero biases except a forget-gate bias of 1 (``unit_forget_bias``).
    PyTorch's own defaults (uniform +-1/sqrt(fan)) learn markedly slower on 256-step spectra."""
    for m in module.modules():
        if isinstance(m, nn.LSTM):
            for name, param in m.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                elif name.startswith("bias"):
                    param.zero_()
                    if name.startswith("bias_ih"):
                        param[m.hidden_size : 2 * m.hidden_size] = 1.0  # gate order i, f, g, o
        elif isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                m.bias.zero_()
    return module
