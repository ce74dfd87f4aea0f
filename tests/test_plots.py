"""Plots write non-empty PNG files and return Figures."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from ccsnscore.evaluation.metrics import confusion_with_ambiguous, roc_at_thresholds
from ccsnscore.evaluation.plots import plot_confusion, plot_confusion_grid, plot_roc, plot_score_histograms

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LAYER1 = ["Hrich", "Hpoor"]


def assert_png(path):
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def layer1_sample():
    rng = np.random.default_rng(0)
    y = rng.random(80) < 0.6  # True: H-rich
    hrich = np.clip(np.where(y, 0.8, 0.2) + rng.normal(0, 0.2, 80), 0, 1)
    true = np.where(y, "Hrich", "Hpoor")
    decision = np.where(hrich > 0.6, "Hrich", np.where(hrich < 0.4, "Hpoor", "ambiguous"))
    return y, hrich, true, decision


def test_confusion_heat_map(tmp_path, layer1_sample):
    _, _, true, decision = layer1_sample
    cm = confusion_with_ambiguous(true, decision, LAYER1)
    fig = plot_confusion(cm, title="layer 1", footer="accuracy 80%", path=tmp_path / "cm.png")
    assert isinstance(fig, Figure)
    assert_png(tmp_path / "cm.png")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert str(cm.loc["Hrich", "Ambi"]) in texts and len(texts) == cm.size
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Hrich", "Hpoor", "Ambi"]


def test_confusion_grid_for_input_cases(tmp_path, layer1_sample):
    _, _, true, decision = layer1_sample
    cm = confusion_with_ambiguous(true, decision, LAYER1)
    grid = {"gold": {"S": cm, "SL": cm, "SD": cm}, "bronze": {"S": cm, "SL": cm}}
    footers = {"gold": {"S": "acc 93%"}}
    fig = plot_confusion_grid(grid, footers=footers, path=tmp_path / "sub" / "grid.png")
    assert_png(tmp_path / "sub" / "grid.png")
    assert len(fig.axes) == 6
    one_row = plot_confusion_grid({"S": cm, "SLD": cm}, path=tmp_path / "row.png")
    assert len(one_row.axes) == 2
    assert_png(tmp_path / "row.png")


def test_roc_with_snid(tmp_path, layer1_sample):
    y, hrich, _, _ = layer1_sample
    rlap = np.where(hrich > 0.5, 20 * hrich, -np.inf)
    fig = plot_roc(
        {"Hrich": (y, hrich), "Hpoor": (~y, 1 - hrich)},
        snid=(y, hrich**2),
        snid_points=roc_at_thresholds(y, rlap, np.arange(0, 26)),
        path=tmp_path / "roc.png",
    )
    assert_png(tmp_path / "roc.png")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("Hrich (AUC = ") and any(lab.startswith("SNID") for lab in labels)
    assert any(line.get_linestyle() == "--" for line in fig.axes[0].lines)


def test_score_histograms(tmp_path, layer1_sample):
    y, hrich, _, _ = layer1_sample
    fig = plot_score_histograms(
        {"gold": (y[:40], hrich[:40]), "bronze": (y[40:], hrich[40:])}, title="Hrich", path=tmp_path / "hist.png"
    )
    assert_png(tmp_path / "hist.png")
    assert len(fig.axes[0].get_legend().get_texts()) == 4
