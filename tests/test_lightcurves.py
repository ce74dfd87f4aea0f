import numpy as np
import pandas as pd
import pytest

from ccsnscore.data.io import BadInputError, read_lightcurve
from ccsnscore.data.lightcurves import (
    InterpolatedBand,
    LightCurveConfig,
    flux_channel,
    gp_interpolate,
    interpolate_lightcurve,
    select_detections,
)


def linear_lc(n=30, slope=0.03, t_end=90.0, bands=("g", "r")):
    t = np.linspace(0, t_end, n)
    rows = [{"mjd": 59000 + ti, "mag": 17.0 + slope * ti, "emag": 0.05, "band": b} for ti in t for b in bands]
    return pd.DataFrame(rows)


def test_detection_cut_uses_magnitude_error():
    lc = pd.DataFrame({"mjd": [1, 2, 3], "mag": [18, 19, 20], "emag": [0.1, 0.2, 0.3], "band": "r"})
    kept = select_detections(lc, "r", detection_sigma=5.0)
    assert kept["emag"].tolist() == [0.1, 0.2]  # 1.0857 / 5 = 0.217


def test_gp_recovers_a_linear_decline_inside_the_detections_only():
    t = np.linspace(0, 90, 30)
    mag, err = gp_interpolate(t, 17 + 0.03 * t, np.full(30, 0.05), n_days=200)
    assert np.isfinite(mag[:91]).all() and np.isnan(mag[91:]).all()
    assert np.allclose(mag[:91], 17 + 0.03 * np.arange(91), atol=0.05)
    assert (err[:91] > 0).all()


def test_flux_channel_normalised_and_zero_padded():
    band = interpolate_lightcurve(linear_lc(), LightCurveConfig())["r"]
    channel = flux_channel(band, "r")
    assert channel.shape == (200, 2)
    assert channel[:, 0].max() == pytest.approx(1.0)
    assert np.all(channel[91:] == 0)
    # a decline of 0.03 mag/day: flux at day 90 is 10**(-0.4*2.7) of the peak
    assert channel[90, 0] == pytest.approx(10 ** (-0.4 * 2.7), rel=0.05)
    # mag_offset changes nothing once normalised, but flux errors stay relative
    assert np.allclose(flux_channel(band, "r", mag_offset=1.0), channel, atol=1e-6)


def test_too_few_detections_empties_the_band_with_a_reason():
    lc = pd.concat([linear_lc(bands=("r",)), linear_lc(n=3, bands=("g",))])
    bands = interpolate_lightcurve(lc, LightCurveConfig())
    assert bands["r"].ok and not bands["g"].ok
    assert bands["g"].reason == "too_few_detections_g"
    assert np.all(flux_channel(bands["g"], "g") == 0)


def test_realtime_cut_uses_only_photometry_up_to_the_spectrum():
    lc = linear_lc()
    full = interpolate_lightcurve(lc, LightCurveConfig())["r"]
    cut = interpolate_lightcurve(lc, LightCurveConfig(), until_mjd=59030.0)["r"]
    assert full.valid.sum() == 91
    last_before_cut = np.linspace(0, 90, 30)[np.linspace(0, 90, 30) <= 30].max()  # 27.9 d
    assert cut.valid.sum() == int(last_before_cut) + 1


def test_long_light_curves_are_truncated_to_n_days():
    band = interpolate_lightcurve(linear_lc(t_end=400.0, slope=0.005), LightCurveConfig())["r"]
    assert band.mag.shape == (200,) and band.valid.all()


def test_reader_maps_filter_names_and_counts_unknown(tmp_path):
    path = tmp_path / "lc.csv"
    path.write_text("mjd,mag,emag,filter\n1,18,0.1,ztfg\n2,18,0.1,ztfr\n3,18,0.1,i\n4,18,0.1,r\n")
    lc = read_lightcurve(path)
    assert lc["band"].tolist() == ["g", "r", "r"]
    assert lc.attrs["unknown_filter_rows"] == 1


@pytest.mark.parametrize("text,reason", [("mjd,mag\n1,2\n", "bad_columns"), ("", "unreadable_file")])
def test_reader_rejects_malformed_files(tmp_path, text, reason):
    path = tmp_path / "lc.csv"
    path.write_text(text)
    with pytest.raises(BadInputError) as err:
        read_lightcurve(path)
    assert err.value.reason == reason and "lc.csv" in str(err.value)


def test_empty_band_is_not_ok():
    empty = InterpolatedBand(np.full(200, np.nan), np.full(200, np.nan), "x")
    assert not empty.ok
