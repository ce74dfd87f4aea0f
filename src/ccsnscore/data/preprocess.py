"""Preprocess a whole dataset: every spectrum and light curve -> arrays, with a table of skips.

Data flow: ``metadata.csv`` + files -> :class:`PreparedDataset` (arrays aligned with a samples
table). Bad input never stops the batch: a bad spectrum drops its sample, a bad light curve zeroes
that sample's light-curve channels; each case is a row of ``skips`` with its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ccsnscore.data.config import PreprocessingConfig, SpectrumConfig
from ccsnscore.data.dmdt import dmdt_histogram
from ccsnscore.data.io import BadInputError, read_lightcurve, read_spectrum
from ccsnscore.data.lightcurves import flux_channel, interpolate_lightcurve
from ccsnscore.data.spectra import preprocess_spectrum

log = logging.getLogger(__name__)
MJD_OFFSET = 2400000.5


@dataclass
class PreparedDataset:
    """Preprocessed arrays, one row per kept spectrum.

    - ``samples``: metadata rows kept (with ``row`` = line in metadata.csv, ``has_lc_<band>``)
    - ``spectrum``: ``(n, n_wave)`` normalised flux on the wavelength grid
    - ``lc``: ``(n, n_bands, n_days, 2)`` normalised flux and error per band
    - ``lc_mag``: ``(n, n_bands, n_days, 2)`` interpolated mag and mag error (NaN outside detections)
    - ``dmdt``: ``(n, n_bands, n_dm, n_dt)`` delta-m/delta-t histograms
    - ``skips``: one row per problem (row, name, file, stage, reason, message)
    - ``bands``: band names in channel order
    """

    samples: pd.DataFrame
    spectrum: np.ndarray
    lc: np.ndarray
    lc_mag: np.ndarray
    dmdt: np.ndarray
    skips: pd.DataFrame
    bands: tuple[str, ...]


def _spectrum_task(rows: list[dict], root: Path, cfg: SpectrumConfig):
    out = []
    for r in rows:
        path = root / r["specfilename"]
        try:
            wave, flux, _ = read_spectrum(path)
            z = r["z"] if pd.notna(r["z"]) else None
            out.append((r["row"], preprocess_spectrum(wave, flux, z, r["instrument"], cfg, str(path)), None))
        except BadInputError as err:
            out.append((r["row"], None, (err.reason, str(err))))
    return out


def lightcurve_channels(lc: pd.DataFrame, cfg: PreprocessingConfig, until_mjd: float | None = None):
    """Channels of one light curve: ``(lc, lc_mag, dmdt, reasons)`` with shapes
    ``(n_bands, n_days, 2)``, ``(n_bands, n_days, 2)``, ``(n_bands, n_dm, n_dt)``; ``reasons`` lists
    why bands are empty."""
    lcc = cfg.lightcurve
    bands = interpolate_lightcurve(lc, lcc, until_mjd)
    n_dm, n_dt = cfg.dmdt.shape
    flux = np.zeros((len(lcc.bands), lcc.n_days, 2), np.float32)
    mags = np.full((len(lcc.bands), lcc.n_days, 2), np.nan, np.float32)
    hists = np.zeros((len(lcc.bands), n_dm, n_dt), np.float32)
    reasons = []
    for b, name in enumerate(lcc.bands):
        band = bands[name]
        if not band.ok:
            reasons.append(band.reason)
            continue
        flux[b] = flux_channel(band, name)
        mags[b, :, 0], mags[b, :, 1] = band.mag, band.mag_err
        days = np.flatnonzero(band.valid).astype(float)
        hists[b] = dmdt_histogram(days, band.mag[band.valid], cfg.dmdt.dm_edges, cfg.dmdt.dt_edges)
    return flux, mags, hists, reasons


def _lightcurve_task(path: Path, until_mjd: float | None, cfg: PreprocessingConfig):
    try:
        lc = read_lightcurve(path)
    except BadInputError as err:
        return None, [(err.reason, str(err))]
    flux, mags, hists, reasons = lightcurve_channels(lc, cfg, until_mjd)
    problems = [(r, f"{path}: {r.replace('_', ' ')}") for r in reasons]
    if lc.attrs.get("unknown_filter_rows"):
        problems.append(
            (
                "unknown_filter",
                f"{path}: {lc.attrs['unknown_filter_rows']} rows with a filter other than g/r were ignored",
            )
        )
    return (flux, mags, hists), problems


def _chunks(items: list, n: int) -> list[list]:
    size = max(1, -(-len(items) // n))
    return [items[i : i + size] for i in range(0, len(items), size)]


def prepare_dataset(meta: pd.DataFrame, root: str | Path, cfg: PreprocessingConfig, n_jobs: int = 1) -> PreparedDataset:
    """Preprocess every row of ``meta`` (from :func:`ccsnscore.data.io.read_metadata`); ``n_jobs``
    processes share the spectra and the light-curve fits."""
    root = Path(root)
    lcc = cfg.lightcurve
    records = meta[["row", "specfilename", "z", "instrument"]].to_dict("records")
    if n_jobs > 1:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs)
    else:  # in process: no worker start-up for a handful of spectra

        def parallel(tasks):
            return [function(*a, **k) for function, a, k in tasks]

        def delayed(function):
            return lambda *a, **k: (function, a, k)

    results = parallel(
        delayed(_spectrum_task)(chunk, root, cfg.spectrum) for chunk in _chunks(records, 8 * max(n_jobs, 1))
    )
    skips, spectra = [], {}
    for row, flux, problem in (item for chunk in results for item in chunk):
        if problem is None:
            spectra[row] = flux
        else:
            skips.append({"row": row, "stage": "spectrum", "reason": problem[0], "message": problem[1]})
    kept = meta[meta["row"].isin(spectra)].reset_index(drop=True)

    # one GP fit per light curve (per light curve and spectrum epoch in realtime mode)
    until = (kept["specjd"] - MJD_OFFSET) if lcc.realtime else pd.Series(np.nan, index=kept.index)
    keys = [(f, None if np.isnan(u) else float(u)) for f, u in zip(kept["lcfilename"], until)]
    unique_keys = sorted({k for k in keys if k[0]}, key=lambda k: (k[0], k[1] or 0.0))
    lc_results = parallel(delayed(_lightcurve_task)(root / f, u, cfg) for f, u in unique_keys)
    by_key = dict(zip(unique_keys, lc_results))

    n, nb = len(kept), len(lcc.bands)
    n_dm, n_dt = cfg.dmdt.shape
    lc = np.zeros((n, nb, lcc.n_days, 2), np.float32)
    lc_mag = np.full((n, nb, lcc.n_days, 2), np.nan, np.float32)
    dmdt = np.zeros((n, nb, n_dm, n_dt), np.float32)
    for i, key in enumerate(keys):
        if not key[0]:
            continue
        channels, problems = by_key[key]
        for reason, message in problems:
            skips.append({"row": kept["row"].iat[i], "stage": "lightcurve", "reason": reason, "message": message})
        if channels is not None:
            lc[i], lc_mag[i], dmdt[i] = channels
    for b, band in enumerate(lcc.bands):
        kept[f"has_lc_{band}"] = np.isfinite(lc_mag[:, b, :, 0]).any(axis=1)
    skip_table = pd.DataFrame(skips, columns=["row", "stage", "reason", "message"])
    skip_table = skip_table.merge(meta[["row", "name", "specfilename", "lcfilename"]], on="row", how="left")
    for message in skip_table.loc[skip_table["stage"] == "spectrum", "message"]:
        log.warning("skipped spectrum: %s", message)
    spectrum = np.stack([spectra[r] for r in kept["row"]]) if n else np.zeros((0, cfg.spectrum.n_wave), np.float32)
    return PreparedDataset(kept, spectrum, lc, lc_mag, dmdt, skip_table, tuple(lcc.bands))
