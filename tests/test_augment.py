import numpy as np
import pytest

from ccsnscore.data.augment import distance_modulus_shift, draw_pairs, synthesize
from ccsnscore.data.lightcurves import LightCurveConfig, interpolate_lightcurve
from tests.test_lightcurves import linear_lc


def parents(m=10, seed=0):
    rng = np.random.default_rng(seed)
    spectrum = rng.uniform(0, 1, (m, 256)).astype(np.float32)
    band = interpolate_lightcurve(linear_lc(), LightCurveConfig())["r"]
    lc_mag = np.full((m, 2, 200, 2), np.nan, np.float32)
    lc_mag[:, 0, :, 0], lc_mag[:, 0, :, 1] = band.mag, band.mag_err
    z = rng.uniform(0.01, 0.1, m)
    phase = np.array([-10, -5, -3, 2, 5, 10, 20, 40, 60, 200.0])[:m]
    groups = np.array([f"SN{k}" for k in range(m)])
    return spectrum, lc_mag, z, phase, groups


def test_synthetic_spectrum_and_redshift_lie_between_parents():
    spectrum, lc_mag, z, phase, groups = parents()
    s = synthesize(spectrum, lc_mag, z, phase, groups, 50, np.random.default_rng(1))
    a, b = spectrum[s.parents[:, 0]], spectrum[s.parents[:, 1]]
    w = s.weight[:, None]
    average = w * a + (1 - w) * b
    assert np.all(average >= np.minimum(a, b) - 1e-6) and np.all(average <= np.maximum(a, b) + 1e-6)
    # renormalised like every real spectrum: unit maximum absolute flux
    assert np.allclose(s.spectrum, average / np.abs(average).max(axis=1, keepdims=True), atol=1e-6)
    assert np.allclose(np.abs(s.spectrum).max(axis=1), 1.0)
    za, zb = z[s.parents[:, 0]], z[s.parents[:, 1]]
    assert np.all((s.z >= np.minimum(za, zb)) & (s.z <= np.maximum(za, zb)))
    assert np.all(s.parents[:, 0] != s.parents[:, 1])


def test_thirty_percent_from_pre_maximum_and_none_from_nebular():
    spectrum, lc_mag, z, phase, groups = parents()
    s = synthesize(spectrum, lc_mag, z, phase, groups, 100, np.random.default_rng(2))
    early = (phase[s.parents] < 0).all(axis=1)
    photospheric = ((phase[s.parents] >= 0) & (phase[s.parents] <= 100)).all(axis=1)
    assert early.sum() == 30 and photospheric.sum() == 70


def test_light_curve_moves_to_new_distance():
    assert distance_modulus_shift(0.05, 0.1) > 1.4  # about twice as far: ~ +1.5 mag
    assert distance_modulus_shift(0.05, 0.05) == pytest.approx(0.0)
    spectrum, lc_mag, z, phase, groups = parents()
    s = synthesize(spectrum, lc_mag, z, phase, groups, 20, np.random.default_rng(3))
    assert s.lc.shape == (20, 2, 200, 2) and s.dmdt.shape == (20, 2, 24, 24)
    assert np.allclose(s.lc[:, 0, :, 0].max(axis=1), 1.0) and not s.lc[:, 1].any()
    assert np.allclose(s.dmdt[:, 0].sum(axis=(1, 2)), 1.0, atol=1e-5)


def test_pairs_come_from_different_objects():
    groups = np.array(["a", "a", "b", "c"])
    pairs = draw_pairs(np.arange(4), groups, 200, np.random.default_rng(0))
    assert np.all(groups[pairs[:, 0]] != groups[pairs[:, 1]])


def test_too_few_samples_raise():
    spectrum, lc_mag, z, phase, groups = parents(m=1)
    with pytest.raises(ValueError):
        synthesize(spectrum, lc_mag, z, phase, groups, 5, np.random.default_rng(0))


def test_synthetic_spectrum_covers_only_where_both_parents_do():
    spectrum, lc_mag, z, phase, groups = parents()
    spectrum[0, 200:] = 0  # parent 0 ends early
    s = synthesize(spectrum, lc_mag, z, phase, groups, 40, np.random.default_rng(4))
    with_first = (s.parents == 0).any(axis=1)
    assert with_first.any()
    assert np.all(s.spectrum[with_first, 200:] == 0)
    assert np.all(s.spectrum[~with_first, 200:] != 0)


def test_union_coverage_keeps_every_pixel_either_parent_covers():
    spectrum, lc_mag, z, phase, groups = parents()
    spectrum[0, 200:] = 0  # parent 0 ends early
    spectrum[1, :30] = 0  # parent 1 starts late
    s = synthesize(spectrum, lc_mag, z, phase, groups, 60, np.random.default_rng(4), coverage="union")
    covered = (spectrum[s.parents[:, 0]] != 0) | (spectrum[s.parents[:, 1]] != 0)
    assert np.array_equal(s.spectrum != 0, covered)
    pair = np.flatnonzero((s.parents == [0, 2]).all(axis=1) | (s.parents == [2, 0]).all(axis=1))
    if pair.size:  # beyond parent 0's coverage the flux follows parent 2's shape
        k = pair[0]
        ratio = s.spectrum[k, 200:] / spectrum[2, 200:]
        assert np.allclose(ratio, ratio[0], rtol=1e-4)
    with pytest.raises(ValueError, match="coverage"):
        synthesize(spectrum, lc_mag, z, phase, groups, 5, np.random.default_rng(0), coverage="both")
