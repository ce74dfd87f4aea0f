"""Spectrum preprocessing (paper section 2.1.1): pure functions on arrays.

Wavelengths are in Angstrom; a preprocessed spectrum is a ``(n_wave,)`` float32 array on
:func:`wavelength_grid`, normalised to unit maximum absolute flux, with 0 where there is no data.
"""

from __future__ import annotations

import numpy as np

from ccsnscore.data.config import SEDM_INSTRUMENT, SpectrumConfig, wavelength_grid
from ccsnscore.data.io import BadInputError

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def cubic_spline(x: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The not-a-knot cubic spline through ``(x, y)`` (``x`` strictly increasing) evaluated at ``at``;
    NaN outside ``[x[0], x[-1]]``. Equal to ``scipy.interpolate.CubicSpline(x, y, extrapolate=False)``
    (the same banded system), without importing ``scipy.interpolate``."""
    from scipy.linalg import solve_banded

    x, y, at = np.asarray(x, float), np.asarray(y, float), np.asarray(at, float)
    n = x.size
    dx = np.diff(x)
    slope = np.diff(y) / dx
    if n == 2:
        s = np.array([slope[0], slope[0]])
    elif n == 3:  # one parabola through the three points
        a = (slope[1] - slope[0]) / (x[2] - x[0])
        s = np.array([slope[0] - a * dx[0], slope[0] + a * dx[0], slope[1] + a * dx[1]])
    else:
        band = np.zeros((3, n))
        rhs = np.empty(n)
        band[1, 1:-1] = 2 * (dx[:-1] + dx[1:])
        band[0, 2:] = dx[:-1]
        band[-1, :-2] = dx[1:]
        rhs[1:-1] = 3 * (dx[1:] * slope[:-1] + dx[:-1] * slope[1:])
        band[1, 0], band[0, 1] = dx[1], x[2] - x[0]
        d = x[2] - x[0]
        rhs[0] = ((dx[0] + 2 * d) * dx[1] * slope[0] + dx[0] ** 2 * slope[1]) / d
        band[1, -1], band[-1, -2] = dx[-2], x[-1] - x[-3]
        d = x[-1] - x[-3]
        rhs[-1] = (dx[-1] ** 2 * slope[-2] + (2 * d + dx[-1]) * dx[-2] * slope[-1]) / d
        s = solve_banded((1, 1), band, rhs, overwrite_ab=True, overwrite_b=True, check_finite=False)
    t = (s[:-1] + s[1:] - 2 * slope) / dx
    c0, c1, c2, c3 = t / dx, (slope - s[:-1]) / dx - t, s[:-1], y[:-1]
    i = np.clip(np.searchsorted(x, at, side="right") - 1, 0, n - 2)
    h = at - x[i]
    out = ((c0[i] * h + c1[i]) * h + c2[i]) * h + c3[i]
    return np.where((at >= x[0]) & (at <= x[-1]), out, np.nan)


def median_filter_1d(values: np.ndarray, size: int) -> np.ndarray:
    """Running median over ``size`` points, edges padded with the end values; for an even ``size`` the
    upper of the two middle values (as ``scipy.ndimage.median_filter(values, size, mode="nearest")``)."""
    values = np.asarray(values, float)
    if size <= 1 or values.size == 0:
        return values.copy()
    left = size // 2
    padded = np.pad(values, (left, size - 1 - left), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)
    return np.partition(windows, size // 2, axis=1)[:, size // 2]


def deredshift(wave: np.ndarray, z: float) -> np.ndarray:
    """Rest-frame wavelengths ``wave / (1 + z)``."""
    return np.asarray(wave, dtype=float) / (1.0 + z)


def smooth_to_resolution(
    wave: np.ndarray,
    flux: np.ndarray,
    target_resolution: float = 100.0,
    native_resolution: float = 1000.0,
    pixels_per_fwhm: float = 10.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Convolve a spectrum with a Gaussian so that its resolving power becomes ``target_resolution``.

    Resolving power R = lambda / FWHM is constant in ln(lambda), so the spectrum is resampled onto a
    uniform ln-wavelength grid, convolved with a Gaussian of FWHM
    ``sqrt(1/R_target**2 - 1/R_native**2)`` in ln(lambda) and returned on that grid.
    Returns ``(wave_log_grid, flux_smoothed)`` in Angstrom and the input flux units.
    """
    if native_resolution <= target_resolution:
        return np.asarray(wave, float), np.asarray(flux, float)
    log_wave = np.log(wave)
    kernel_fwhm = np.sqrt(1.0 / target_resolution**2 - 1.0 / native_resolution**2)
    step = (1.0 / target_resolution) / pixels_per_fwhm
    # oversample relative to the native sampling so that no information is lost before smoothing
    native_step = np.median(np.diff(log_wave))
    step = min(step, max(native_step, 1e-5))
    log_grid = np.arange(log_wave[0], log_wave[-1], step)
    flux_log = np.interp(log_grid, log_wave, flux)
    sigma_pixels = kernel_fwhm / FWHM_PER_SIGMA / step
    from scipy.ndimage import gaussian_filter1d  # only literature spectra need it

    smoothed = gaussian_filter1d(flux_log, sigma_pixels, mode="nearest")
    return np.exp(log_grid), smoothed


def sort_wavelengths(wave: np.ndarray, flux: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wavelengths in increasing order, the flux of repeated wavelengths averaged (literature
    spectra are sometimes written with rounded or unsorted wavelengths)."""
    if np.all(np.diff(wave) > 0):
        return wave, flux
    unique, inverse = np.unique(wave, return_inverse=True)
    return unique, np.bincount(inverse, weights=flux) / np.bincount(inverse)


def preprocess_spectrum(
    wave: np.ndarray,
    flux: np.ndarray,
    z: float | None,
    instrument: str = SEDM_INSTRUMENT,
    cfg: SpectrumConfig | None = None,
    source: str = "",
) -> np.ndarray:
    """Turn an observed spectrum into the model's ``(n_wave,)`` float32 input.

    Steps: drop non-finite points; smooth non-SEDM spectra to SEDM resolution; deredshift by ``z``
    (unless ``cfg.rest_frame`` is False); cubic spline onto :func:`wavelength_grid` (no
    extrapolation); median filter; divide by the maximum absolute flux; NaN -> 0.
    Raises :class:`BadInputError` (with a ``reason``) for unusable input; ``source`` names the file.
    """
    cfg = SpectrumConfig() if cfg is None else cfg
    wave = np.asarray(wave, dtype=float)
    flux = np.asarray(flux, dtype=float)
    where = f"{source}: " if source else ""
    if wave.size < cfg.min_points:
        raise BadInputError("too_few_points", f"{where}{wave.size} points (< {cfg.min_points})")
    good = np.isfinite(wave) & np.isfinite(flux)
    if not good.any():
        raise BadInputError("all_nan_flux", f"{where}flux is NaN everywhere")
    wave, flux = sort_wavelengths(wave[good], flux[good])
    if wave.size < cfg.min_points:
        raise BadInputError("too_few_points", f"{where}{wave.size} distinct wavelengths (< {cfg.min_points})")
    if cfg.rest_frame:
        if z is None or not np.isfinite(z) or z < 0 or z > cfg.max_z:
            raise BadInputError(
                "missing_z",
                f"{where}missing, negative or placeholder redshift z={z!r} "
                f"(usable: 0 <= z <= {cfg.max_z}; set preprocessing.spectrum.rest_frame=false "
                "for observed-frame models)",
            )
        wave = deredshift(wave, z)
    if wave[-1] < cfg.valid_wave_min or wave[0] > cfg.valid_wave_max:
        raise BadInputError(
            "wave_out_of_range",
            f"{where}wavelengths {wave[0]:.1f}-{wave[-1]:.1f} A lie "
            f"outside {cfg.valid_wave_min:.0f}-{cfg.valid_wave_max:.0f} A "
            "(wrong units or redshift?)",
        )
    in_window = (wave >= cfg.wave_min) & (wave <= cfg.wave_max)
    if in_window.sum() < cfg.min_points:
        raise BadInputError(
            "too_few_points",
            f"{where}{int(in_window.sum())} points inside {cfg.wave_min:.0f}-{cfg.wave_max:.0f} A (< {cfg.min_points})",
        )
    if instrument != cfg.sedm_instrument:
        wave, flux = smooth_to_resolution(wave, flux, cfg.target_resolution, cfg.native_resolution)
    # keep one point beyond each end of the window so the spline reaches the window edges
    lo = max(np.searchsorted(wave, cfg.wave_min) - 1, 0)
    hi = min(np.searchsorted(wave, cfg.wave_max, side="right") + 1, wave.size)
    wave, flux = wave[lo:hi], flux[lo:hi]
    grid = wavelength_grid(cfg)
    flux_grid = cubic_spline(wave, flux, grid)
    covered = np.isfinite(flux_grid)
    if covered.sum() > 0:
        filtered = median_filter_1d(flux_grid[covered], cfg.median_kernel)
        flux_grid[covered] = filtered
    scale = np.nanmax(np.abs(flux_grid)) if covered.any() else 0.0
    if not np.isfinite(scale) or scale == 0:
        raise BadInputError("all_nan_flux", f"{where}flux is zero or NaN on the wavelength grid")
    return np.nan_to_num(flux_grid / scale, nan=0.0).astype(np.float32)
