"""Readers for spectrum and light-curve files. Each raises :class:`BadInputError` naming the file."""
from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd

BAND_ALIASES = {"g": "g", "r": "r", "ztfg": "g", "ztfr": "r", "ztf_g": "g", "ztf_r": "r",
                "1": "g", "2": "r"}


class BadInputError(ValueError):
    """A file or sample that cannot be used; ``reason`` is a short key for skip tables."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
        return raw.decode("utf-8", errors="replace")
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise BadInputError("unreadable_file", f"{path}: cannot read ({err})") from err


def read_spectrum(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Read an ascii spectrum (plain or ``.gz``): ``#`` header lines then wavelength (Angstrom) and flux.

    Returns ``(wave, flux, header)``; ``header`` maps ``KEY: value`` comment lines (SEDM writes its
    SNID results there) to strings.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError("missing_file", f"{path}: spectrum file not found")
    text = _read_text(path)
    header: dict[str, str] = {}
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line.lstrip("#").partition(":")
            if sep:
                header[key.strip()] = value.strip()
            continue
        rows.append(line.replace(",", " ").split()[:2])
    try:
        data = np.array(rows, dtype=float)
    except ValueError as err:
        raise BadInputError("non_numeric", f"{path}: non-numeric spectrum data ({err})") from err
    if data.ndim != 2 or data.shape[1] < 2:
        raise BadInputError("too_few_points", f"{path}: no (wavelength, flux) columns found")
    return data[:, 0], data[:, 1], header


def read_lightcurve(path: str | Path) -> pd.DataFrame:
    """Read a light-curve CSV with columns ``mjd, mag, emag, filter``.

    Filters are mapped to ``g``/``r`` (``ztfg``/``ztfr`` accepted); rows of other filters are dropped
    and their count is kept in ``df.attrs['unknown_filter_rows']``.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError("missing_file", f"{path}: light-curve file not found")
    try:
        lc = pd.read_csv(io.StringIO(_read_text(path)), comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise BadInputError("unreadable_file", f"{path}: cannot parse light curve ({err})") from err
    lc.columns = [c.strip().lower() for c in lc.columns]
    missing = {"mjd", "mag", "emag", "filter"} - set(lc.columns)
    if missing:
        raise BadInputError("bad_columns", f"{path}: light curve lacks columns {sorted(missing)}")
    for col in ("mjd", "mag", "emag"):
        lc[col] = pd.to_numeric(lc[col], errors="coerce")
    band = lc["filter"].astype(str).str.strip().str.lower().map(BAND_ALIASES)
    unknown = int(band.isna().sum())
    lc = lc.assign(band=band).dropna(subset=["band", "mjd", "mag", "emag"])
    lc.attrs["unknown_filter_rows"] = unknown
    lc.attrs["path"] = str(path)
    return lc[["mjd", "mag", "emag", "band"]].reset_index(drop=True)
