"""On-disk cache of a :class:`PreparedDataset`, keyed by dataset content and preprocessing config.

A cache folder ``<cache_dir>/<key>/`` holds ``arrays.npz``, ``samples.csv``, ``skips.csv`` and
``manifest.json``; ``key`` hashes the dataset fingerprint, the preprocessing config and the cache
format version, so a changed dataset or config always makes a new cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from ccsnscore.dataset import dataset_fingerprint, read_metadata, resolve_data_root
from ccsnscore.preprocess import PreparedDataset, PreprocessingConfig, prepare_dataset

log = logging.getLogger(__name__)
CACHE_FORMAT = 2  # 2: unsorted and repeated wavelengths are sorted and averaged


def _plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def cache_key(fingerprint: str, preprocessing: dict) -> str:
    """16-hex-digit key of a dataset fingerprint and a preprocessing config."""
    pp = dict(preprocessing)
    pp["lightcurve"] = {k: v for k, v in pp["lightcurve"].items() if k != "n_jobs"}  # no effect on output
    text = json.dumps({"format": CACHE_FORMAT, "dataset": fingerprint, "preprocessing": pp}, sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def save_prepared(ds: PreparedDataset, folder: Path, manifest: dict) -> None:
    """Write ``ds`` into ``folder`` atomically (a temporary folder renamed into place)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        np.savez(tmp / "arrays.npz", spectrum=ds.spectrum, lc=ds.lc, lc_mag=ds.lc_mag, dmdt=ds.dmdt)
        ds.samples.to_csv(tmp / "samples.csv", index=False)
        ds.skips.to_csv(tmp / "skips.csv", index=False)
        (tmp / "manifest.json").write_text(json.dumps({**manifest, "bands": list(ds.bands)}, indent=2))
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_prepared(folder: str | Path) -> PreparedDataset:
    """Read a cache folder written by :func:`save_prepared`."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    with np.load(folder / "arrays.npz") as arrays:
        data = {k: arrays[k] for k in ("spectrum", "lc", "lc_mag", "dmdt")}
    samples = pd.read_csv(folder / "samples.csv", dtype={"name": str, "type": str, "lcfilename": str,
                                                         "specfilename": str, "instrument": str},
                          keep_default_na=False, na_values={"z": [""], "maxjd": [""], "phase": [""],
                                                            "specjd": [""]})
    skips = pd.read_csv(folder / "skips.csv", keep_default_na=False)
    return PreparedDataset(samples, skips=skips, bands=tuple(manifest["bands"]), **data)


def load_or_prepare(data_root: str | os.PathLike | None, cache_dir: str | os.PathLike,
                    preprocessing) -> tuple[PreparedDataset, dict]:
    """Return the prepared dataset for ``data_root`` + ``preprocessing``, building its cache once.

    Returns ``(dataset, manifest)``; the manifest records the dataset fingerprint, the cache key,
    the preprocessing config and where the cache lies.
    """
    root = resolve_data_root(data_root)
    meta = read_metadata(root)
    fingerprint = dataset_fingerprint(root, meta)
    pp = _plain(preprocessing)
    key = cache_key(fingerprint, pp)
    folder = Path(cache_dir) / key
    if (folder / "manifest.json").is_file():
        log.info("loading cached arrays from %s", folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        return load_prepared(folder), manifest
    log.info("preprocessing %d spectra from %s into %s", len(meta), root, folder)
    ds = prepare_dataset(meta, root, PreprocessingConfig.from_dict(pp))
    manifest = {"cache_key": key, "dataset_fingerprint": fingerprint, "data_root": str(root),
                "preprocessing": pp, "n_rows": len(meta), "n_samples": len(ds.samples),
                "cache_format": CACHE_FORMAT}
    save_prepared(ds, folder, manifest)
    return ds, {**manifest, "bands": list(ds.bands)}
