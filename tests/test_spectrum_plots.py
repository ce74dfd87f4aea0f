"""Per-spectrum classification figures and the night page (generated rows; no dataset)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from ccsnscore.evaluation.spectrum_plots import (
    plot_classification,
    safe_file_stem,
    write_classification_plots,
    write_night_page,
)

LAYERS = {
    "layer0": ["Ia", "CC", "other"],
    "layer1": ["Hrich", "Hpoor"],
    "layer2a": ["II", "IIb-H", "IIn"],
    "layer2b": ["Ib", "Ic", "Ic-BL"],
}
CLASSES = [c for classes in LAYERS.values() for c in classes]
Z = 0.03
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+\.png$")


def synthetic_spectrum(z: float = Z):
    """Observed wavelength (Angstrom) and flux: a blue continuum with H-alpha emission, He I absorption."""
    rest = np.linspace(3800.0, 9000.0, 300)
    flux = 1e-16 * (1.0 + 0.3 * (6000.0 / rest) ** 2)
    flux *= 1.0 + 1.5 * np.exp(-0.5 * ((rest - 6563.0) / 40.0) ** 2)
    flux *= 1.0 - 0.2 * np.exp(-0.5 * ((rest - 5876.0) / 30.0) ** 2)
    flux += np.random.default_rng(1).normal(0, 2e-18, rest.size)
    return rest * (1.0 + z), flux


def synthetic_lightcurve(peak_mjd: float = 60000.0) -> pd.DataFrame:
    mjd = np.concatenate([np.arange(-15.0, 40.0, 3.0), np.arange(-14.0, 40.0, 4.0)]) + peak_mjd
    band = np.array(["g"] * 19 + ["r"] * 14)
    t = mjd - peak_mjd
    mag = 18.0 + 0.002 * t**2 * (t < 0) + 0.03 * t * (t >= 0) + np.where(band == "r", -0.2, 0.0)
    return pd.DataFrame({"mjd": mjd, "mag": mag, "emag": np.full(mjd.size, 0.05), "band": band})


def output_row(name, decision, path, means: dict, stds: dict, layer_decisions: dict, error="") -> dict:
    row = {"name": name, "specfilename": f"{name}_sedm.ascii", "error": error, "decision": decision, "path": path}
    winner = means.get(decision, np.nan)
    row["score"] = winner
    row["score_std"] = stds.get(decision, np.nan)
    for layer in LAYERS:
        row[f"{layer}_decision"] = layer_decisions.get(layer, "")
    for cls in CLASSES:
        row[cls] = means.get(cls, np.nan)
        row[f"{cls}_std"] = stds.get(cls, np.nan)
    return row


def iin_row(name="ZTF21aaaaaaa") -> dict:
    means = {"Ia": 0.05, "CC": 0.93, "other": 0.04, "Hrich": 0.95, "Hpoor": 0.06, "II": 0.2, "IIb-H": 0.05, "IIn": 0.91}
    stds = {c: 0.02 for c in means} | {"II": 0.08}
    return output_row(
        name,
        "IIn",
        "layer0:CC>layer1:Hrich>layer2a:IIn",
        means,
        stds,
        {"layer0": "CC", "layer1": "Hrich", "layer2a": "IIn"},
    )


def ambiguous_row(name="ZTF21bbbbbbb") -> dict:
    means = {"Ia": 0.1, "CC": 0.85, "other": 0.1, "Hrich": 0.52, "Hpoor": 0.48}
    stds = {c: 0.1 for c in means}
    return output_row(
        name, "ambiguous", "layer0:CC>layer1:ambiguous", means, stds, {"layer0": "CC", "layer1": "ambiguous"}
    )


def error_row(name="ZTF21ccccccc") -> dict:
    return output_row(name, "", "", {}, {}, {}, error="spectrum file not found: /data/$HOME/x.ascii (too few points)")


def assert_png(path: Path):
    assert path.is_file() and path.stat().st_size > 20_000
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 500 and image.shape[1] > 900
    assert image[..., :3].std() > 0.05  # not a blank canvas


def figure_texts(fig: Figure) -> list[str]:
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]  # includes annotations
    texts += [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    return texts


@pytest.mark.parametrize("with_lightcurve", [False, True])
def test_decided_spectrum_figure(tmp_path, with_lightcurve):
    wave, flux = synthetic_spectrum()
    lightcurve = synthetic_lightcurve() if with_lightcurve else None
    path = tmp_path / "iin.png"
    fig = plot_classification(
        iin_row(), wave, flux, LAYERS, lightcurve=lightcurve, spectrum_mjd=60005.0, z=Z, path=path
    )
    assert isinstance(fig, Figure)
    assert_png(path)
    assert not list(tmp_path.glob(".tmp-*"))
    texts = figure_texts(fig)
    header = " ".join(texts)
    assert "ZTF21aaaaaaa" in header and "IIn, score 0.91 \u00b1 0.02" in header and "layer2a:IIn" in header
    assert {"H\u03b1", "H\u03b2", "H\u03b3", "He I 5876"} <= set(texts)
    assert sum(t == "not reached" for t in texts) == len(LAYERS["layer2b"]) + 1  # each class and the layer
    assert "decided: IIn" in texts
    spectrum_ax = fig.axes[1]
    assert "rest-frame" in spectrum_ax.get_xlabel()
    legend_labels = [t.get_text() for t in spectrum_ax.get_legend().get_texts()]
    assert legend_labels == ["spectrum", "H (Balmer)", "He I"]
    if with_lightcurve:
        lc_ax = fig.axes[2]
        assert lc_ax.yaxis_inverted()
        labels = [t.get_text() for t in lc_ax.get_legend().get_texts()]
        assert len(labels) == 3 and {"g", "r"} <= set(labels) and "spectrum (MJD 60005.0)" in labels
    else:
        assert all(ax.get_title(loc="left") != "light curve" for ax in fig.axes)
    fig.savefig("/tmp/spectrum_plot_example.png" if with_lightcurve else tmp_path / "no_lc.png", dpi=110)


def test_observed_frame_and_lines_out_of_range(tmp_path):
    wave, flux = synthetic_spectrum()
    keep = wave < 6000.0  # neither H-alpha nor the red He I lines
    fig = plot_classification(ambiguous_row(), wave[keep], flux[keep], LAYERS, z=np.nan)
    texts = figure_texts(fig)
    assert "H\u03b1" not in texts and "He I 6678" not in texts and "H\u03b2" in texts
    assert "observed-frame" in fig.axes[1].get_xlabel()
    assert "ZTF21bbbbbbb \u2014 ambiguous" in texts
    assert sum(t == "not reached" for t in texts) == len(LAYERS["layer2a"]) + len(LAYERS["layer2b"]) + 2


def test_error_figure_without_spectrum(tmp_path):
    fig = plot_classification(error_row(), None, None, LAYERS, lightcurve=pd.DataFrame(), path=tmp_path / "e.png")
    assert_png(tmp_path / "e.png")
    texts = figure_texts(fig)
    assert "Could not be classified" in texts and "no spectrum available" in texts
    assert any("$HOME" in t for t in texts)  # shown verbatim, not parsed as mathtext


def test_write_plots_and_night_page(tmp_path):
    wave, flux = synthetic_spectrum()
    rows = pd.DataFrame(
        [
            iin_row("SN 2021abc"),
            iin_row("SN 2021abc"),  # same name twice
            ambiguous_row("../../etc/x"),
            error_row("<script>alert(1)</script>"),
        ]
    )
    spectra = {0: (wave, flux), 1: (wave, flux), 2: (wave, flux)}  # row 3: no spectrum
    folder = tmp_path / "night" / "plots"
    pngs = write_classification_plots(
        rows,
        spectra,
        LAYERS,
        folder,
        lightcurves={0: synthetic_lightcurve()},
        z={0: Z, 1: Z},
        mjd={0: 60005.0},
    )
    assert len(pngs) == len(rows) == len(set(pngs))
    for png in pngs:
        assert png.parent == folder and SAFE_NAME.match(png.name), png.name
        assert_png(png)
    assert ".." not in pngs[2].name.replace(".png", "") and "etc_x" in pngs[2].name
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in pngs)  # no temporary files left

    page = write_night_page(rows, pngs, tmp_path / "night", title="night <1>")
    assert page == tmp_path / "night" / "index.html"
    text = page.read_text(encoding="utf-8")
    for png in pngs:
        assert f'href="plots/{png.name}"' in text and f'src="plots/{png.name}"' in text
    assert str(tmp_path) not in text  # relative paths only
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "night &lt;1&gt;" in text
    assert "IIn" in text and "0.91 \u00b1 0.02" in text and "layer0:CC&gt;layer1:Hrich&gt;layer2a:IIn" in text
    assert "spectrum file not found" in text
    assert "http" not in text and "<script" not in text  # no external resources, no JavaScript


def test_night_page_needs_one_png_per_row(tmp_path):
    with pytest.raises(ValueError, match="2 PNG paths for 1 rows"):
        write_night_page(pd.DataFrame([iin_row()]), [tmp_path / "a.png", tmp_path / "b.png"], tmp_path)


def test_safe_file_stem():
    assert safe_file_stem("../../etc/x", 3) == "0003_etc_x"
    assert safe_file_stem("", 0) == "0000_spectrum"
    assert safe_file_stem(None, 12) == "0012_spectrum"
    assert safe_file_stem("ZTF21abc def/ghi", 1) == "0001_ZTF21abc_def_ghi"


def test_a_failing_figure_does_not_stop_the_others(tmp_path, monkeypatch):
    import ccsnscore.evaluation.spectrum_plots as spectrum_plots

    def broken(ax, row, layers):
        raise RuntimeError("broken scores panel")

    monkeypatch.setattr(spectrum_plots, "_scores_panel", broken)
    rows = pd.DataFrame([iin_row(), error_row()])
    pngs = write_classification_plots(rows, {0: synthetic_spectrum()}, LAYERS, tmp_path)
    assert len(pngs) == 2
    for png in pngs:
        assert_png(png)
