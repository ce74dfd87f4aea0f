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


DEBUG_VARIABLES = ("CCSNSCORE_DEBUG", "HYDRA_FULL_ERROR")
"""Set either to 1 to see the full traceback of an error instead of its one-line summary."""
EXIT_USER_ERROR = 2


def one_line(err: BaseException) -> str:
    """The root cause of ``err`` (following ``__cause__``/``__context__``) as one line."""
    seen = set()
    while (err.__cause__ or err.__context__) is not None and id(err) not in seen:
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def report_user_errors(command: str):
    """Decorator for the entry points' task functions: an exception ends the program with one line
    on stderr (``ccsnscore <command>: ...``) and exit status 2, unless a variable of
    :data:`DEBUG_VARIABLES` is set to 1 (then the traceback is shown)."""
    import functools
    import sys

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except KeyboardInterrupt:
                print(f"ccsnscore {command}: interrupted", file=sys.stderr)
                sys.exit(130)
            except Exception as err:  # noqa: BLE001 - reported in one line, never silently
                if any(os.environ.get(v) == "1" for v in DEBUG_VARIABLES):
                    raise
                print(f"ccsnscore {command}: {one_line(err)} (set CCSNSCORE_DEBUG=1 for details)", file=sys.stderr)
                sys.exit(EXIT_USER_ERROR)

        return wrapper

    return decorate
