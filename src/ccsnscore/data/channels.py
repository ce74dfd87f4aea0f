"""Input cases and the model inputs (channels) built from prepared arrays."""

from __future__ import annotations

import numpy as np
import torch

INPUT_CASES = {
    "S": ("spectrum",),
    "SL": ("spectrum", "lc"),
    "SD": ("spectrum", "dmdt"),
    "SLD": ("spectrum", "lc", "dmdt"),
}


def channel_names(input_case: str, bands=("r", "g")) -> list[str]:
    """Batch keys of an input case, e.g. ``['spectrum', 'lc_r', 'lc_g']`` for ``SL``."""
    if input_case not in INPUT_CASES:
        raise ValueError(f"unknown input case {input_case!r}; choose one of {list(INPUT_CASES)}")
    return [
        c if c == "spectrum" else f"{c}_{b}"
        for c in INPUT_CASES[input_case]
        for b in (("",) if c == "spectrum" else bands)
    ]


def build_channels(arrays: dict[str, np.ndarray], input_case: str, bands=("r", "g")) -> dict[str, torch.Tensor]:
    """Model inputs from prepared arrays: ``spectrum`` ``(n, n_wave, 1)``, ``lc_<band>``
    ``(n, n_days, 2)``, ``dmdt_<band>`` ``(n, 1, n_dm, n_dt)``."""
    out = {}
    for key in channel_names(input_case, bands):
        if key == "spectrum":
            out[key] = torch.as_tensor(arrays["spectrum"][:, :, None], dtype=torch.float32)
            continue
        kind, band = key.split("_")
        b = list(bands).index(band)
        if kind == "lc":
            out[key] = torch.as_tensor(arrays["lc"][:, b], dtype=torch.float32)
        else:
            out[key] = torch.as_tensor(arrays["dmdt"][:, b, None], dtype=torch.float32)
    return out
