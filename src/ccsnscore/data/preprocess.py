"""Preprocess a whole dataset: every spectrum and light curve -> arrays, with a table of skips.

Data flow: ``metadata.csv`` + files -> :class:`PreparedDataset` (arrays aligned with a samples
table). Bad input never stops the batch: a bad spectrum drops its sample, a bad light curve zeroes
that sample's light-curve channels; each case is a row of ``skips`` with its reason.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ccsnscore.data.config import PreprocessingConfig, SpectrumConfig
from ccsnscore.data.dmdt import dmdt_histogram
from ccsnscore.data.formats import read_spectrum_file
from ccsnscore.data.io import BadInputError, read_lightcurve
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


PHOTOMETRY_GAP_DAYS = 100.0
"""A light curve whose detections all lie further than this from the spectrum's epoch is flagged."""
NEGATIVE_FLUX_FRACTION = 0.5
"""A spectrum with more than this fraction of negative flux values is flagged."""


def resolve_input_path(root: Path, name, confine: bool = True) -> Path:
    """The file a metadata cell names: relative to ``root``; with ``confine`` it must stay inside
    ``root`` (no ``..`` escapes, no absolute paths elsewhere; symbolic links inside ``root`` are the
    data owner's and are followed). :class:`BadInputError` otherwise."""
    text = "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name).strip()
    if not text:
        raise BadInputError("missing_filename", "no file name given")
    if "\x00" in text:
        raise BadInputError("bad_path", "the file name holds a NUL character")
    path = root / text
    if confine:  # lexically: links that the data's owner put inside the folder are followed
        base = os.path.abspath(root)
        if os.path.commonpath([base, os.path.abspath(path)]) != base:
            raise BadInputError(
                "outside_root", f"{text[:200]}: lies outside the data folder {root} (refused; see --allow-outside-root)"
            )
    return path


def parse_number(value, what: str, allow_missing: bool = True) -> float:
    """A metadata cell as a float (NaN when empty and ``allow_missing``); :class:`BadInputError` for
    text that is not a number (the value itself is not repeated)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if allow_missing:
            return float("nan")
        raise BadInputError(f"missing_{what}", f"no {what} given")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"bad_{what}", f"{what} is not a number") from None
    return number


def _spectrum_task(rows: list[dict], root: Path, cfg: SpectrumConfig, confine: bool, given: dict | None = None):
    """``(row, flux_grid | None, problem | None, warnings)`` for each row."""
    out = []
    for r in rows:
        warnings = []
        try:
            z = parse_number(r["z"], "z")
            if given and r["row"] in given:
                wave, flux, source = given[r["row"]].wave, given[r["row"]].flux, given[r["row"]].source
            else:
                path = resolve_input_path(root, r["specfilename"], confine)
                read = read_spectrum_file(path)
                wave, flux, source = read.wave, read.flux, str(path)
            finite = np.isfinite(flux)
            if finite.any() and (flux[finite] < 0).mean() > NEGATIVE_FLUX_FRACTION:
                warnings.append(("negative_flux", "flux mostly negative (sky over-subtracted?)"))
            grid = preprocess_spectrum(wave, flux, None if np.isnan(z) else z, str(r["instrument"]), cfg, source)
            out.append((r["row"], grid, None, warnings))
        except BadInputError as err:
            out.append((r["row"], None, (err.reason, str(err)), warnings))
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


def _lightcurve_task(path: Path, until_mjd: float | None, spectrum_mjd: float | None, cfg: PreprocessingConfig):
    """``(channels | None, problems, warnings)`` of one light curve; a GP that cannot be fitted is a
    problem of that light curve, never an exception."""
    try:
        lc = read_lightcurve(path)
    except BadInputError as err:
        return None, [(err.reason, str(err))], []
    warnings = []
    if lc.attrs.get("bad_rows"):
        warnings.append(
            ("lightcurve_rows_dropped", f"{lc.attrs['bad_rows']} light-curve rows without finite mjd/mag/emag dropped")
        )
    if (
        spectrum_mjd is not None
        and len(lc)
        and np.min(np.abs(lc["mjd"].to_numpy() - spectrum_mjd)) > PHOTOMETRY_GAP_DAYS
    ):
        warnings.append(("photometry_far", f"no photometry within {PHOTOMETRY_GAP_DAYS:.0f} days of the spectrum"))
    try:
        flux, mags, hists, reasons = lightcurve_channels(lc, cfg, until_mjd)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as err:
        return None, [("gp_failed", f"{path}: the light-curve fit failed ({type(err).__name__})")], warnings
    problems = [(r, f"{path}: {r.replace('_', ' ')}") for r in reasons]
    if lc.attrs.get("unknown_filter_rows"):
        problems.append(
            (
                "unknown_filter",
                f"{path}: {lc.attrs['unknown_filter_rows']} rows with a filter other than g/r were ignored",
            )
        )
    return (flux, mags, hists), problems, warnings


def _bar(items: list, progress: bool, description: str):
    """``items``, with a progress bar on a terminal when ``progress``."""
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=description, disable=None, leave=False)


def _chunks(items: list, n: int) -> list[list]:
    size = max(1, -(-len(items) // n))
    return [items[i : i + size] for i in range(0, len(items), size)]


def prepare_dataset(
    meta: pd.DataFrame,
    root: str | Path,
    cfg: PreprocessingConfig,
    n_jobs: int = 1,
    confine: bool = True,
    given: dict | None = None,
    progress: bool = False,
) -> PreparedDataset:
    """Preprocess every row of ``meta`` (from :func:`ccsnscore.data.io.read_metadata`); ``n_jobs``
    processes share the spectra and the light-curve fits.

    Every per-row value is parsed before use: a bad spectrum, file name or redshift drops its row, a
    bad light curve (or ``specjd`` in realtime mode) zeroes its channels, and each case is a row of
    ``skips`` (stage ``spectrum`` or ``lightcurve``) with its reason; ``warning`` rows flag samples
    kept despite a doubt (mostly negative flux, dropped photometry rows, photometry far from the
    spectrum, realtime without ``specjd``). With ``confine`` file names must stay inside ``root``.
    ``given`` maps rows to spectra already read (:class:`ccsnscore.data.formats.SpectrumData`).
    ``progress``: bars over the spectra and the light-curve fits (on a terminal only).
    """
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

    chunks = _chunks(records, 8 * max(n_jobs, 1))
    results = parallel(
        delayed(_spectrum_task)(chunk, root, cfg.spectrum, confine, given)
        for chunk in _bar(chunks, progress, f"spectra ({len(records)})")
    )
    skips, spectra = [], {}
    for row, flux, problem, warnings in (item for chunk in results for item in chunk):
        skips += [{"row": row, "stage": "warning", "reason": r, "message": m} for r, m in warnings]
        if problem is None:
            spectra[row] = flux
        else:
            skips.append({"row": row, "stage": "spectrum", "reason": problem[0], "message": problem[1]})
    kept = meta[meta["row"].isin(spectra)].reset_index(drop=True)

    # one GP fit per light curve (per light curve and spectrum epoch in realtime mode)
    keys, epochs = [], []
    for row, name, specjd in zip(kept["row"], kept["lcfilename"], kept["specjd"]):
        if not isinstance(name, str) or not name.strip():
            keys.append(("", None))
            epochs.append(None)
            continue
        try:
            path = resolve_input_path(root, name, confine)
            jd = parse_number(specjd, "specjd")
        except BadInputError as err:
            skips.append({"row": row, "stage": "lightcurve", "reason": err.reason, "message": str(err)})
            keys.append(("", None))
            epochs.append(None)
            continue
        mjd = None if np.isnan(jd) else jd - MJD_OFFSET
        if lcc.realtime and mjd is None:
            skips.append(
                {
                    "row": row,
                    "stage": "warning",
                    "reason": "realtime_without_specjd",
                    "message": "realtime asked but no specjd: the whole light curve was used",
                }
            )
        keys.append((str(path), mjd if lcc.realtime else None))
        epochs.append(mjd)
    tasks = sorted({(k, e) for k, e in zip(keys, epochs) if k[0]}, key=lambda t: (t[0][0], t[0][1] or 0.0, t[1] or 0.0))
    lc_results = parallel(
        delayed(_lightcurve_task)(Path(k[0]), k[1], e, cfg) for k, e in _bar(tasks, progress, "light-curve fits")
    )
    by_key = dict(zip(tasks, lc_results))

    n, nb = len(kept), len(lcc.bands)
    n_dm, n_dt = cfg.dmdt.shape
    lc = np.zeros((n, nb, lcc.n_days, 2), np.float32)
    lc_mag = np.full((n, nb, lcc.n_days, 2), np.nan, np.float32)
    dmdt = np.zeros((n, nb, n_dm, n_dt), np.float32)
    for i, (key, epoch) in enumerate(zip(keys, epochs)):
        if not key[0]:
            continue
        channels, problems, warnings = by_key[(key, epoch)]
        row = kept["row"].iat[i]
        skips += [{"row": row, "stage": "lightcurve", "reason": r, "message": m} for r, m in problems]
        skips += [{"row": row, "stage": "warning", "reason": r, "message": m} for r, m in warnings]
        if channels is not None:
            lc[i], lc_mag[i], dmdt[i] = channels
    for b, band in enumerate(lcc.bands):
        kept[f"has_lc_{band}"] = np.isfinite(lc_mag[:, b, :, 0]).any(axis=1)
    skip_table = pd.DataFrame(skips, columns=["row", "stage", "reason", "message"])
    skip_table = skip_table.merge(meta[["row", "name", "specfilename", "lcfilename"]], on="row", how="left")
    spectrum = np.stack([spectra[r] for r in kept["row"]]) if n else np.zeros((0, cfg.spectrum.n_wave), np.float32)
    return PreparedDataset(kept, spectrum, lc, lc_mag, dmdt, skip_table, tuple(lcc.bands))
