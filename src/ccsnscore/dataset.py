"""Locating a dataset root and reading its metadata table."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

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
    meta = pd.read_csv(root / "metadata.csv", dtype={"name": str, "type": str, "specfilename": str,
                                                      "lcfilename": str, "instrument": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in meta.columns]
    if missing:
        raise ValueError(f"{root / 'metadata.csv'} lacks the columns {missing}; "
                         f"the CCSNscore layout needs {list(REQUIRED_COLUMNS)}")
    meta["type"] = meta["type"].fillna("").astype(str).str.strip()
    meta["lcfilename"] = meta["lcfilename"].fillna("")
    meta["instrument"] = meta["instrument"].fillna("")
    if "source" not in meta.columns:
        meta["source"] = meta["instrument"].map(lambda s: "sedm" if s == "P60" else "other")
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
