"""Reading a dataset: its root folder, metadata table and fingerprint, and spectrum and light-curve
files. Readers raise :class:`BadInputError` naming the file."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ccsnscore.data.config import SEDM_INSTRUMENT, SEDM_SOURCE

DATA_ROOT_ENV = "CCSNSCORE_DATA_ROOT"
REQUIRED_COLUMNS = ("name", "type", "z", "specjd", "maxjd", "instrument", "specfilename", "lcfilename")


class DatasetNotFoundError(FileNotFoundError):
    """Raised when no dataset is found where the configuration points."""


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """Return the dataset root folder (holding ``metadata.csv``).

    ``data_root`` comes from config (``paths.data_root``); when it is None the environment variable
    ``CCSNSCORE_DATA_ROOT`` is used.
    """
    if data_root is None:
        data_root = os.environ.get(DATA_ROOT_ENV)
    if data_root is None or not (Path(data_root) / "metadata.csv").is_file():
        raise DatasetNotFoundError(
            f"No dataset found at {data_root!r} (it needs a metadata.csv in the CCSNscore layout). "
            f"Point ccsnscore at one with the environment variable {DATA_ROOT_ENV}=/path/to/ccsn-public "
            "or the Hydra key paths.data_root=/path/to/ccsn-public. The public dataset "
            "(SEDM + Open Supernova Catalog spectra, ZTF light curves) is described in the README, "
            "section 'Data'."
        )
    return Path(data_root).resolve()


def read_metadata(data_root: str | os.PathLike) -> pd.DataFrame:
    """Read ``metadata.csv``: one row per spectrum; extra columns are kept.

    Adds ``row`` (position in the file) and ``source`` (``sedm`` for instrument P60 where absent).
    """
    root = resolve_data_root(data_root)
    meta = pd.read_csv(
        root / "metadata.csv",
        dtype={"name": str, "type": str, "specfilename": str, "lcfilename": str, "instrument": str},
    )
    missing = [c for c in REQUIRED_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(
            f"{root / 'metadata.csv'} lacks the columns {missing}; the CCSNscore layout needs {list(REQUIRED_COLUMNS)}"
        )
    meta["type"] = meta["type"].fillna("").astype(str).str.strip()
    meta["lcfilename"] = meta["lcfilename"].fillna("")
    meta["instrument"] = meta["instrument"].fillna("")
    if "source" not in meta.columns:
        meta["source"] = meta["instrument"].map(lambda s: SEDM_SOURCE if s == SEDM_INSTRUMENT else "other")
    meta.insert(0, "row", range(len(meta)))
    return meta


def dataset_fingerprint(data_root: str | os.PathLike, meta: pd.DataFrame | None = None) -> str:
    """Content hash of ``metadata.csv`` and every file it names (16 hex digits)."""
    root = resolve_data_root(data_root)
    if meta is None:
        meta = read_metadata(root)
    digest = hashlib.blake2b(digest_size=8)
    digest.update((root / "metadata.csv").read_bytes())
    files = sorted(set(meta["specfilename"].dropna()) | set(f for f in meta["lcfilename"] if f))
    for rel in files:
        path = root / rel
        digest.update(rel.encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


BAND_ALIASES = {"g": "g", "r": "r", "ztfg": "g", "ztfr": "r", "ztf_g": "g", "ztf_r": "r", "1": "g", "2": "r"}


class BadInputError(ValueError):
    """A file or sample that cannot be used; ``reason`` is a short key for skip tables."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


MAX_FILE_BYTES = 200_000_000
"""Larger input files are refused (a spectrum or light curve is a few hundred kB at most)."""


def check_input_file(path: str | os.PathLike, what: str = "spectrum") -> Path:
    """``path`` as a Path if it names a readable regular file; else :class:`BadInputError` saying
    why in one line (missing, a folder, a name the system refuses, too large)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise BadInputError("not_a_file", f"{path}: is a folder, not a {what} file")
        if not path.is_file():
            raise BadInputError("missing_file", f"{path}: {what} file not found")
        size = path.stat().st_size
    except OSError as err:  # e.g. a file name too long for the system
        raise BadInputError(
            "bad_path", f"{str(path)[:200]}: unusable path ({err.strerror or type(err).__name__})"
        ) from None
    if size > MAX_FILE_BYTES:
        raise BadInputError("file_too_large", f"{path}: {size} bytes, more than a {what} file holds")
    return path


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if path.suffix.lower() == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise BadInputError("unreadable_file", f"{path}: cannot read ({reason})") from None
    if b"\x00" in raw[:4096]:
        raise BadInputError("not_text", f"{path}: binary content where a text table was expected")
    return raw.decode("utf-8", errors="replace")


def read_spectrum(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Read an ascii spectrum (plain or ``.gz``): ``#`` header lines then wavelength (Angstrom) and flux.

    Returns ``(wave, flux, header)``; ``header`` maps ``KEY: value`` comment lines (SEDM writes its
    SNID results there) to strings. Errors name the file and the line, never its content.
    """
    path = check_input_file(path, "spectrum")
    text = _read_text(path)
    header: dict[str, str] = {}
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line.lstrip("#").partition(":")
            if sep:
                header[key.strip()] = value.strip()
            continue
        fields = line.replace(",", " ").split()
        try:
            rows.append((float(fields[0]), float(fields[1])))
        except (ValueError, IndexError):
            raise BadInputError(
                "non_numeric", f"{path}: line {number} is not two numbers (wavelength in Angstrom, flux)"
            ) from None
    if not rows:
        raise BadInputError("too_few_points", f"{path}: no (wavelength, flux) rows found")
    data = np.asarray(rows, dtype=float)
    return data[:, 0], data[:, 1], header


def read_lightcurve(path: str | Path) -> pd.DataFrame:
    """Read a light-curve CSV with columns ``mjd, mag, emag, filter``.

    Filters are mapped to ``g``/``r`` (``ztfg``/``ztfr`` accepted). Rows of other filters, and rows
    whose ``mjd``, ``mag`` or ``emag`` is not a finite number (or ``emag`` not positive), are dropped;
    their counts are kept in ``df.attrs['unknown_filter_rows']`` and ``df.attrs['bad_rows']``.
    """
    path = check_input_file(path, "light-curve")
    try:
        lc = pd.read_csv(io.StringIO(_read_text(path)), comment="#")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, ValueError) as err:
        raise BadInputError("unreadable_file", f"{path}: cannot parse as a CSV table ({type(err).__name__})") from None
    lc.columns = [str(c).strip().lower() for c in lc.columns]
    missing = {"mjd", "mag", "emag", "filter"} - set(lc.columns)
    if missing:
        raise BadInputError(
            "bad_columns", f"{path}: light curve lacks columns {sorted(missing)} (needs mjd,mag,emag,filter)"
        )
    for col in ("mjd", "mag", "emag"):
        lc[col] = pd.to_numeric(lc[col], errors="coerce")
    band = lc["filter"].astype(str).str.strip().str.lower().map(BAND_ALIASES)
    unknown = int(band.isna().sum())
    finite = np.isfinite(lc[["mjd", "mag", "emag"]].to_numpy(float)).all(axis=1) & (lc["emag"] > 0).to_numpy()
    bad = int((~finite & band.notna().to_numpy()).sum())
    lc = lc.assign(band=band)[finite & band.notna().to_numpy()]
    lc.attrs["unknown_filter_rows"] = unknown
    lc.attrs["bad_rows"] = bad
    lc.attrs["path"] = str(path)
    return lc[["mjd", "mag", "emag", "band"]].reset_index(drop=True)
