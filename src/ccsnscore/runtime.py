"""Process settings for fast CPU work (glibc malloc), shared by the entry points, tests and benchmarks."""

from __future__ import annotations

import ctypes
import os

MALLOC_SETTINGS = {
    "MALLOC_TRIM_THRESHOLD_": (-1, 4294967296),
    "MALLOC_TOP_PAD_": (-2, 268435456),
    "MALLOC_MMAP_THRESHOLD_": (-3, 33554432),
}
"""The glibc malloc variables (also exported by the Makefile): ``{variable: (mallopt parameter, value)}``."""


def malloc_environment() -> dict[str, str]:
    """:data:`MALLOC_SETTINGS` as environment variables, for child processes."""
    return {variable: str(value) for variable, (_, value) in MALLOC_SETTINGS.items()}


def configure_malloc() -> bool:
    """Apply the glibc malloc settings of the Makefile (``MALLOC_*_`` variables) at run time when
    they are not in the environment: without them every LSTM step maps and unmaps its buffers and
    CPU training runs several times slower. Returns whether anything was set (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    changed = False
    for variable, (param, value) in MALLOC_SETTINGS.items():
        if variable not in os.environ:
            changed |= bool(libc.mallopt(ctypes.c_int(param), ctypes.c_int(min(value, 2**31 - 1))))
    return changed
