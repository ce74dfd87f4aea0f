import numpy as np
import pytest

from ccsnscore.data.io import BadInputError, read_spectrum
from ccsnscore.data.spectra import SpectrumConfig, preprocess_spectrum, smooth_to_resolution, wavelength_grid

CFG = SpectrumConfig()


def gaussian_line_spectrum(center_rest, z, sigma=40.0, n=600):
    wave = np.linspace(3600, 9800, n)
    flux = 1.0 + 5.0 * np.exp(-0.5 * ((wave / (1 + z) - center_rest) / sigma) ** 2)
    return wave, flux


def fwhm(x, y):
    y = y - np.median(y)
    half = y.max() / 2
    above = x[y >= half]
    return above.max() - above.min()


def test_line_lands_at_rest_wavelength_after_deredshifting():
    wave, flux = gaussian_line_spectrum(6563.0, z=0.08)
    out = preprocess_spectrum(wave, flux, 0.08, "P60", CFG)
    grid = wavelength_grid(CFG)
    assert out.shape == (256,) and out.dtype == np.float32
    step = grid[1] - grid[0]
    assert abs(grid[np.argmax(out)] - 6563.0) <= step
    assert np.isclose(np.abs(out).max(), 1.0)


def test_observed_frame_switch_keeps_line_where_observed():
    wave, flux = gaussian_line_spectrum(6563.0, z=0.08)
    out = preprocess_spectrum(wave, flux, None, "P60", SpectrumConfig(rest_frame=False))
    grid = wavelength_grid(CFG)
    assert abs(grid[np.argmax(out)] - 6563.0 * 1.08) <= grid[1] - grid[0]


def test_grid_outside_coverage_is_zero():
    wave = np.linspace(5000, 9800, 300)
    out = preprocess_spectrum(wave, np.ones_like(wave), 0.0, "P60", CFG)
    grid = wavelength_grid(CFG)
    assert np.all(out[grid < 4990] == 0)
    assert np.all(out[grid > 5010] > 0)


@pytest.mark.parametrize(
    "wave,flux,z,reason",
    [
        (np.linspace(4000, 9000, 10), np.ones(10), 0.01, "too_few_points"),
        (np.repeat(np.linspace(4000, 9000, 10), 10), np.ones(100), 0.01, "too_few_points"),
        (np.linspace(4000, 9000, 100), np.full(100, np.nan), 0.01, "all_nan_flux"),
        (np.linspace(4000, 9000, 100), np.ones(100), np.nan, "missing_z"),
        (np.linspace(4000, 9000, 100), np.ones(100), -0.1, "missing_z"),
        (np.linspace(4000, 9000, 100), np.ones(100), 99.0, "missing_z"),
        (np.linspace(400, 900, 100), np.ones(100), 0.01, "wave_out_of_range"),  # nanometres
        (np.linspace(9300, 12000, 100), np.ones(100), 0.0, "too_few_points"),
    ],
)
def test_bad_spectra_raise_with_reason(wave, flux, z, reason):
    with pytest.raises(BadInputError) as err:
        preprocess_spectrum(wave, flux, z, "P60", CFG, source="file.ascii")
    assert err.value.reason == reason
    assert "file.ascii" in str(err.value)


def test_smoothing_gives_sedm_resolution_to_a_narrow_line():
    wave = np.arange(4000.0, 9000.0, 1.0)
    flux = 1.0 + np.exp(-0.5 * ((wave - 6500.0) / (5.0 / 2.3548)) ** 2)  # FWHM 5 A, R=1300
    out_wave, out_flux = smooth_to_resolution(wave, flux, 100.0, 1300.0)
    expected = 6500.0 / 100.0
    assert fwhm(out_wave, out_flux) == pytest.approx(expected, rel=0.1)


def test_non_sedm_spectra_are_smoothed_sedm_are_not():
    wave = np.arange(4000.0, 9000.0, 1.0)
    flux = 1.0 + np.exp(-0.5 * ((wave - 6500.0) / 15.0) ** 2)  # FWHM 35 A, finer than SEDM's 65 A
    sedm = preprocess_spectrum(wave, flux, 0.0, "P60", CFG)
    other = preprocess_spectrum(wave, flux, 0.0, "Keck1 - LRIS", CFG)

    def contrast(x):
        return x.max() / np.median(x[x > 0]) - 1

    assert contrast(other) < 0.8 * contrast(sedm)


def highfreq_power_fraction(wave, flux, resolution=100.0):
    """Fraction of the power of a spectrum (uniform in ln wavelength) on scales finer than 1/2 of
    an R=``resolution`` resolution element."""
    log_grid = np.arange(np.log(wave[0]), np.log(wave[-1]), 1e-4)
    y = np.interp(log_grid, np.log(wave), flux)
    y = (y - np.polyval(np.polyfit(log_grid, y, 3), log_grid)) * np.hanning(y.size)
    power = np.abs(np.fft.rfft(y)) ** 2
    freq = np.fft.rfftfreq(y.size, 1e-4)  # cycles per unit ln(lambda)
    return power[freq > 2 * resolution].sum() / power[1:].sum()


@pytest.mark.realdata
def test_real_osc_spectrum_keeps_no_feature_narrower_than_sedm(public_data_root):
    """A native-resolution literature spectrum, smoothed to R=100: the power on scales finer than
    half an SEDM resolution element drops to a negligible level, and a narrow line injected into it
    comes out as wide as an SEDM resolution element."""
    wave, flux, _ = read_spectrum(public_data_root / "spectra/osc/ASASSN-14de_56841.0_1.ascii.gz")
    flux = flux / np.nanmedian(flux)
    before = highfreq_power_fraction(wave, flux)
    out_wave, out_flux = smooth_to_resolution(wave, flux, 100.0, CFG.native_resolution)
    after = highfreq_power_fraction(out_wave, out_flux)
    assert before > 1e-4, "the native spectrum should have fine structure to remove"
    assert after < 1e-3 * before
    center = 0.5 * (wave[0] + wave[-1])
    injected = flux + 3 * np.exp(-0.5 * ((wave - center) / 2.0) ** 2)
    w2, f2 = smooth_to_resolution(wave, injected - flux, 100.0, CFG.native_resolution)
    assert fwhm(w2, f2) >= 0.9 * center / 100.0 * np.sqrt(1 - (100.0 / CFG.native_resolution) ** 2)


@pytest.mark.realdata
def test_real_sedm_spectrum_preprocesses(public_data_root):
    path = public_data_root / "spectra/sedm/ZTF17aaajnki_20180320_P60_v1.ascii.gz"
    wave, flux, header = read_spectrum(path)
    assert header["SNIDFRAC_NOTSN"] == "1.0"
    out = preprocess_spectrum(wave, flux, 0.00106, "P60", CFG)
    assert out.shape == (256,) and np.isfinite(out).all() and out.max() == pytest.approx(1.0)


def test_unsorted_and_repeated_wavelengths_are_sorted_and_averaged():
    wave = np.linspace(4000, 9000, 200)
    flux = 1.0 + np.exp(-0.5 * ((wave - 6563.0) / 60.0) ** 2)
    expected = preprocess_spectrum(wave, flux, 0.01, "P60", CFG)
    assert np.allclose(preprocess_spectrum(wave[::-1], flux[::-1], 0.01, "P60", CFG), expected)
    doubled_wave, doubled_flux = np.repeat(wave, 2), np.repeat(flux, 2) + np.tile([0.1, -0.1], 200)
    assert np.allclose(preprocess_spectrum(doubled_wave, doubled_flux, 0.01, "P60", CFG), expected, atol=1e-6)


@pytest.mark.parametrize("n", [2, 3, 4, 7, 300])
def test_cubic_spline_and_median_filter_match_scipy(n):
    from scipy.interpolate import CubicSpline
    from scipy.ndimage import median_filter

    from ccsnscore.data.spectra import cubic_spline, median_filter_1d

    rng = np.random.default_rng(n)
    x = np.sort(rng.uniform(4000, 9000, n))
    while np.any(np.diff(x) <= 0):
        x = np.sort(rng.uniform(4000, 9000, n))
    y = rng.normal(size=n)
    at = np.linspace(3900, 9100, 500)
    expected = CubicSpline(x, y, extrapolate=False)(at)
    np.testing.assert_allclose(cubic_spline(x, y, at), expected, rtol=1e-9, atol=1e-9, equal_nan=True)
    for size in (1, 3, 4, 5):
        np.testing.assert_allclose(median_filter_1d(y, size), median_filter(y, size=size, mode="nearest"))
