"""Light-curve preprocessing (paper section 2.1.2): detections -> GP -> daily fluxes.

The interpolated light curve of one band is kept as magnitudes on a daily grid
(:class:`InterpolatedBand`) so that channels can be rebuilt for augmented samples; the model's
channel is a ``(n_days, 2)`` float32 array of normalised flux and flux error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ccsnscore.data.config import LightCurveConfig

# effective wavelengths of the ZTF filters, Angstrom
BAND_WAVELENGTH = {"g": 4746.48, "r": 6366.38}
SPEED_OF_LIGHT_A_PER_S = 2.99792458e18
MAG_ERR_PER_SIGMA = 2.5 / np.log(10.0)  # emag of a 1-sigma detection


@dataclass
class InterpolatedBand:
    """GP-interpolated magnitudes of one band on days ``0..n_days-1`` after first detection.

    ``valid`` marks days between the band's first and last detection; elsewhere ``mag`` and
    ``mag_err`` are NaN. ``reason`` says why a band is empty ('' when it is not).
    """

    mag: np.ndarray
    mag_err: np.ndarray
    reason: str = ""
    valid: np.ndarray = field(init=False)

    def __post_init__(self):
        self.valid = np.isfinite(self.mag)

    @property
    def ok(self) -> bool:
        return bool(self.valid.any())


def select_detections(
    lc: pd.DataFrame, band: str, detection_sigma: float = 5.0, until_mjd: float | None = None
) -> pd.DataFrame:
    """Rows of ``band`` detected at ``detection_sigma`` (``emag < 1.0857 / sigma``), sorted by mjd,
    optionally only those taken up to ``until_mjd``."""
    keep = (lc["band"] == band) & (lc["emag"] > 0) & (lc["emag"] < MAG_ERR_PER_SIGMA / detection_sigma)
    if until_mjd is not None:
        keep &= lc["mjd"] <= until_mjd
    return lc[keep].sort_values("mjd")


def gp_interpolate(
    days: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    n_days: int = 200,
    length_scale_bounds=(20.0, 200.0),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``mag(days)`` with a GP (constant x RBF + white noise, per-point ``mag_err**2`` added) and
    predict on days ``0..n_days-1``; days outside ``[days.min(), days.max()]`` are NaN.

    Returns ``(mag_grid, mag_err_grid)``, each ``(n_days,)``.
    """
    # scikit-learn is imported here, not at module level: classifying spectra alone never loads it
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    lo, hi = length_scale_bounds
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(np.sqrt(lo * hi), (lo, hi)) + WhiteKernel(1e-2, (1e-6, 1.0))
    gp = GaussianProcessRegressor(kernel, alpha=np.asarray(mag_err) ** 2, normalize_y=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gp.fit(np.asarray(days, float)[:, None], np.asarray(mag, float))
    grid = np.arange(n_days, dtype=float)
    mag_grid = np.full(n_days, np.nan)
    err_grid = np.full(n_days, np.nan)
    inside = (grid >= np.floor(days.min())) & (grid <= days.max())
    if inside.any():
        mean, std = gp.predict(grid[inside, None], return_std=True)
        mag_grid[inside], err_grid[inside] = mean, std
    return mag_grid, err_grid


def interpolate_lightcurve(
    lc: pd.DataFrame, cfg: LightCurveConfig | None = None, until_mjd: float | None = None
) -> dict[str, InterpolatedBand]:
    """Interpolate each band of a light curve on a daily grid from the first detection in any band.

    Bands with fewer than ``cfg.min_detections`` detections come back empty with a ``reason``.
    """
    cfg = LightCurveConfig() if cfg is None else cfg
    detections = {b: select_detections(lc, b, cfg.detection_sigma, until_mjd) for b in cfg.bands}
    starts = [d["mjd"].iloc[0] for d in detections.values() if len(d) >= cfg.min_detections]
    t0 = min(starts) if starts else None
    out = {}
    for band, det in detections.items():
        empty = np.full(cfg.n_days, np.nan)
        if len(det) < cfg.min_detections or t0 is None:
            out[band] = InterpolatedBand(empty, empty.copy(), reason=f"too_few_detections_{band}")
            continue
        days = det["mjd"].to_numpy() - t0
        if days.min() >= cfg.n_days:
            out[band] = InterpolatedBand(empty, empty.copy(), reason=f"no_detections_in_window_{band}")
            continue
        mag, err = gp_interpolate(
            days, det["mag"].to_numpy(), det["emag"].to_numpy(), cfg.n_days, cfg.length_scale_bounds, cfg.seed
        )
        out[band] = InterpolatedBand(mag, err)
    return out


def flux_channel(band: InterpolatedBand, band_name: str, mag_offset: float = 0.0) -> np.ndarray:
    """``(n_days, 2)`` float32: f_lambda (erg/s/cm2/A, AB magnitudes) and its error, both divided by
    the band's maximum flux; zero where the band has no data. ``mag_offset`` is added to the
    magnitudes first (used to move a light curve to another distance)."""
    channel = np.zeros((band.mag.size, 2), dtype=np.float32)
    if not band.ok:
        return channel
    mag = band.mag[band.valid] + mag_offset
    f_nu = 10.0 ** (-0.4 * (mag + 48.6))
    f_lambda = f_nu * SPEED_OF_LIGHT_A_PER_S / BAND_WAVELENGTH[band_name] ** 2
    f_err = f_lambda * band.mag_err[band.valid] / MAG_ERR_PER_SIGMA
    scale = f_lambda.max()
    channel[band.valid, 0] = f_lambda / scale
    channel[band.valid, 1] = f_err / scale
    return channel
