"""On-the-fly augmentation of training spectra (pure tensor functions)."""

from __future__ import annotations

import pytest
import torch

from ccsnscore.data.batch_augment import SpectrumAugmentation


def spectra(n=64, n_wave=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    flux = 0.5 + torch.rand(n, n_wave, generator=g)
    flux[:, :10] = 0  # no coverage at the blue end
    flux[:, -5:] = 0
    return (flux / flux.abs().amax(dim=1, keepdim=True)).unsqueeze(-1)


def test_off_is_identity_up_to_normalisation():
    x = spectra()
    assert torch.equal(SpectrumAugmentation()(x), x)
    assert SpectrumAugmentation.from_config(None) is None
    assert SpectrumAugmentation.from_config({"enabled": False, "noise": 0.1}) is None
    with pytest.raises(ValueError, match="unknown"):
        SpectrumAugmentation.from_config({"enabled": True, "nois": 0.1})


@pytest.mark.parametrize(
    "setting",
    [{"noise": 0.1}, {"tilt": 0.3}, {"host": 0.5}, {"redshift": 0.01}, {"crop": 0.3}, {"telluric": 0.5}, {"blur": 1.5}],
)
def test_each_perturbation_keeps_shape_coverage_and_normalisation(setting):
    torch.manual_seed(0)
    x = spectra()
    out = SpectrumAugmentation(wave_min=4200, wave_max=9200, probability=1.0, **setting)(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert torch.allclose(out.abs().amax(dim=1), torch.ones(len(x), 1))
    covered_in, covered_out = x[..., 0] != 0, out[..., 0] != 0
    if "redshift" in setting:  # the coverage moves with the wavelengths, by a few pixels (1 + dz)
        assert ((covered_out.sum(1) - covered_in.sum(1)).abs() <= 8).all()
    else:
        assert not (covered_out & ~covered_in).any(), "no flux appears outside the original coverage"
    assert not torch.allclose(out, x)


def test_crop_shortens_coverage_and_probability_zero_changes_nothing():
    torch.manual_seed(0)
    x = spectra()
    out = SpectrumAugmentation(probability=1.0, crop=0.4)(x)
    assert (out[..., 0] != 0).sum(1).float().mean() < (x[..., 0] != 0).sum(1).float().mean()
    assert torch.equal(SpectrumAugmentation(probability=0.0, crop=0.4, noise=0.1, tilt=0.2)(x), x)


def test_redshift_error_moves_a_line():
    n_wave = 256
    wave = torch.linspace(4200, 9200, n_wave)
    line = 1 + torch.exp(-0.5 * ((wave - 6563) / 40) ** 2)
    x = (line / line.max()).repeat(200, 1).unsqueeze(-1)
    torch.manual_seed(0)
    out = SpectrumAugmentation(probability=1.0, redshift=0.01)(x)[..., 0]
    peaks = wave[out[:, 20:-20].argmax(dim=1) + 20]
    assert peaks.std() > 20  # about 0.01 * 6563 = 66 Angstrom
    assert (peaks - 6563).abs().max() < 400


def test_host_light_adds_narrow_h_alpha():
    n_wave = 256
    wave = torch.linspace(4200, 9200, n_wave)
    x = torch.ones(50, n_wave, 1)
    torch.manual_seed(0)
    out = SpectrumAugmentation(probability=1.0, host=2.0)(x)[..., 0]
    at_h_alpha = out[:, (wave - 6563).abs().argmin()]
    away = out[:, (wave - 6000).abs().argmin()]
    assert (at_h_alpha > away).float().mean() > 0.9


def test_telluric_residuals_sit_where_the_o2_bands_fall_for_low_redshifts():
    n_wave = 256
    wave = torch.linspace(4200, 9200, n_wave)
    x = torch.ones(400, n_wave, 1)
    torch.manual_seed(0)
    out = SpectrumAugmentation(probability=1.0, telluric=0.5, telluric_zmax=0.1)(x)[..., 0]
    change = (out - out.median(dim=1, keepdim=True).values).abs()
    strongest = wave[change.argmax(dim=1)]
    # the B band (6875 A observed) lies between 6250 and 6875 A rest, the A band (7605) between 6914 and 7605
    assert ((strongest > 6875 / 1.1 - 60) & (strongest < 7605 + 60)).all()
    assert (change[:, wave < 6000].amax(dim=1) < 1e-3).all() and (change[:, wave > 7850].amax(dim=1) < 1e-3).all()
    dips = (out[:, (wave - 7300).abs() < 320] < out.median(dim=1, keepdim=True).values).any(dim=1)
    assert 0.2 < dips.float().mean() < 1.0  # residuals of either sign


def test_blur_smooths_a_narrow_line_and_keeps_its_position():
    n_wave = 128
    x = torch.full((100, n_wave), 0.5)
    x[:, 64] = 1.0
    x[:, :5] = 0
    torch.manual_seed(0)
    out = SpectrumAugmentation(probability=1.0, blur=2.0)(x.unsqueeze(-1))[..., 0]
    assert (out[:, 64] >= out[:, 63]).all() and (out[:, 64] >= out[:, 65]).all()
    contrast = (out[:, 64] - out[:, 40]) / out[:, 64]
    assert (contrast < 0.5).float().mean() > 0.5  # a line of contrast 0.5 mostly washed out
    assert (out[:, :5] == 0).all() and (out[:, 5] > 0.3).all()  # no flux leaks into or out of the gap
