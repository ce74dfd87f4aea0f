"""Building blocks shared by the encoders: switchable (Monte-Carlo) dropout and zero masking."""
from __future__ import annotations

import torch
from torch import nn


class MCDropout(nn.Module):
    """Element-wise dropout that can stay on at inference (Monte-Carlo dropout).

    Active when the module is training **or** when ``mc`` is set (see :func:`set_mc_dropout`);
    otherwise the identity. The keep mask is ``torch.rand(x.shape) >= p`` and kept values are
    scaled by ``1 / (1 - p)``, so a row repeated ``n`` times along the batch dimension gets ``n``
    independent masks.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.mc = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not (self.training or self.mc):
            return x
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p}, mc={self.mc}"


def set_mc_dropout(model: nn.Module, on: bool) -> int:
    """Switch Monte-Carlo dropout on or off in every :class:`MCDropout` of ``model``; returns how
    many modules were switched. Independent of ``model.train()`` / ``model.eval()``."""
    n = 0
    for module in model.modules():
        if isinstance(module, MCDropout):
            module.mc = bool(on)
            n += 1
    return n


def compact_nonzero(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the timesteps of ``x`` ``(B, T, F)`` that are not all zero to the front, in order.

    Returns ``(x_compact, lengths)``: ``x_compact`` ``(B, T', F)`` with ``T'`` the largest number
    of non-zero steps in the batch (at least 1), zero after each row's ``lengths`` ``(B,)`` (int64,
    on ``x.device``). An LSTM run over ``x_compact`` and read at step ``length - 1`` sees exactly
    the steps a Keras ``Masking(mask_value=0.)`` layer lets through.
    """
    valid = (x != 0).any(dim=-1)                                    # (B, T)
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
                        param[m.hidden_size:2 * m.hidden_size] = 1.0  # gate order i, f, g, o
        elif isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                m.bias.zero_()
    return module
