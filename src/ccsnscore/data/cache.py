"""On-disk cache of a :class:`PreparedDataset`, keyed by dataset content and preprocessing config.

A cache folder ``<cache_dir>/<key>/`` holds ``arrays.npz``, ``samples.csv``, ``skips.csv`` and
``manifest.json``; ``key`` hashes the dataset fingerprint, the preprocessing config and the cache
format version, so a changed dataset or config always makes a new cache.

The manifest records the size and sha256 of every file; a folder whose files do not match (a
truncated or edited file, a missing one) is rebuilt, never loaded out of step. A folder is written
under a temporary name and renamed into place; temporary folders left by a killed run are removed.
Concurrent builders of one key coordinate through a lock file: the second waits, then loads what the
first wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.data.io import dataset_fingerprint, read_metadata, resolve_data_root
from ccsnscore.data.preprocess import PreparedDataset, prepare_dataset

log = logging.getLogger(__name__)
CACHE_FORMAT = 3  # 2: unsorted and repeated wavelengths sorted; 3: file checksums in the manifest
CACHE_FILES = ("arrays.npz", "samples.csv", "skips.csv")
STALE_TMP_SECONDS = 3600.0


class CacheError(RuntimeError):
    """A cache folder that cannot be used (its files do not match its manifest)."""


def cache_key(fingerprint: str, preprocessing) -> str:
    """16-hex-digit key of a dataset fingerprint and a preprocessing config."""
    pp = PreprocessingConfig.from_dict(preprocessing).to_dict()
    text = json.dumps({"format": CACHE_FORMAT, "dataset": fingerprint, "preprocessing": pp}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _file_record(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def save_prepared(ds: PreparedDataset, folder: Path, manifest: dict) -> None:
    """Write ``ds`` into ``folder`` atomically (a temporary folder renamed into place)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        np.savez(tmp / "arrays.npz", spectrum=ds.spectrum, lc=ds.lc, lc_mag=ds.lc_mag, dmdt=ds.dmdt)
        ds.samples.to_csv(tmp / "samples.csv", index=False)
        ds.skips.to_csv(tmp / "skips.csv", index=False)
        files = {name: _file_record(tmp / name) for name in CACHE_FILES}
        (tmp / "manifest.json").write_text(json.dumps({**manifest, "bands": list(ds.bands), "files": files}, indent=2))
        if folder.exists():  # an invalid folder being replaced
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def verify_cache(folder: str | Path) -> dict:
    """The manifest of ``folder`` after checking every file's size and sha256 against it; raises
    :class:`CacheError` saying what does not match."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as err:
        raise CacheError(f"{folder}: unreadable manifest ({type(err).__name__})") from err
    files = manifest.get("files")
    if not isinstance(files, dict) or set(files) != set(CACHE_FILES):
        raise CacheError(f"{folder}: manifest lists no file checksums")
    for name, record in files.items():
        path = folder / name
        if not path.is_file():
            raise CacheError(f"{folder}: {name} is missing")
        if path.stat().st_size != record.get("bytes") or _file_record(path)["sha256"] != record.get("sha256"):
            raise CacheError(f"{folder}: {name} does not match its checksum (truncated or changed)")
    return manifest


def load_prepared(folder: str | Path) -> tuple[PreparedDataset, dict]:
    """Read a cache folder written by :func:`save_prepared` (verified first): ``(dataset, manifest)``."""
    folder = Path(folder)
    manifest = verify_cache(folder)
    with np.load(folder / "arrays.npz") as arrays:
        data = {k: arrays[k] for k in ("spectrum", "lc", "lc_mag", "dmdt")}
    samples = pd.read_csv(
        folder / "samples.csv",
        dtype={"name": str, "type": str, "lcfilename": str, "specfilename": str, "instrument": str},
        keep_default_na=False,
        na_values={"z": [""], "maxjd": [""], "phase": [""], "specjd": [""]},
    )
    skips = pd.read_csv(folder / "skips.csv", keep_default_na=False)
    if len(samples) != len(data["spectrum"]):
        raise CacheError(f"{folder}: samples.csv has {len(samples)} rows for {len(data['spectrum'])} spectra")
    return PreparedDataset(samples, skips=skips, bands=tuple(manifest["bands"]), **data), manifest


def remove_stale_temporaries(cache_dir: Path, older_than: float = STALE_TMP_SECONDS) -> int:
    """Remove ``.tmp-*`` folders older than ``older_than`` seconds (left by a killed run)."""
    removed = 0
    now = time.time()
    for tmp in cache_dir.glob(".tmp-*"):
        try:
            if tmp.is_dir() and now - tmp.stat().st_mtime > older_than:
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (created); blocks while another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_or_prepare(
    data_root: str | os.PathLike | None, cache_dir: str | os.PathLike, preprocessing, n_jobs: int = 1
) -> tuple[PreparedDataset, dict]:
    """Return the prepared dataset for ``data_root`` + ``preprocessing``, building its cache when it
    is missing or does not verify (``n_jobs`` processes).

    Returns ``(dataset, manifest)``; the manifest records the dataset fingerprint, the cache key,
    the preprocessing config and the data root. The dataset is read and hashed once per call.
    """
    root = resolve_data_root(data_root)
    meta = read_metadata(root)
    fingerprint = dataset_fingerprint(root, meta)
    pp = PreprocessingConfig.from_dict(preprocessing)
    key = cache_key(fingerprint, pp)
    cache_dir = Path(cache_dir)
    folder = cache_dir / key
    with _locked(cache_dir / f"{key}.lock"):
        remove_stale_temporaries(cache_dir)
        if folder.is_dir():
            try:
                loaded = load_prepared(folder)
                log.info("loaded cached arrays from %s", folder)
                return loaded
            except CacheError as err:
                log.warning("rebuilding the cache: %s", err)
        log.info("preprocessing %d spectra from %s into %s", len(meta), root, folder)
        ds = prepare_dataset(meta, root, pp, n_jobs=n_jobs, progress=True)
        manifest = {
            "cache_key": key,
            "dataset_fingerprint": fingerprint,
            "data_root": str(root),
            "preprocessing": pp.to_dict(),
            "n_rows": len(meta),
            "n_samples": len(ds.samples),
            "cache_format": CACHE_FORMAT,
        }
        save_prepared(ds, folder, manifest)
        return ds, {**manifest, "bands": list(ds.bands)}
