"""Figures of the paper's evaluation: confusion matrices (fig. 5-6), ROC curves and score histograms (fig. 4).

Figures are built with :class:`matplotlib.figure.Figure` directly (Agg canvas, no pyplot state), so
plotting never opens a window nor depends on a global backend. Every function returns the Figure
and, given ``path``, also writes a PNG there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ccsnscore.evaluation.metrics import binary_roc

POSITIVE_COLOR = "tab:blue"
NEGATIVE_COLOR = "tab:red"
SNID_COLOR = "tab:purple"
CURVE_COLORS = (
    "tab:blue",
    "tab:red",
    "tab:green",
    "tab:orange",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)


def new_figure(width: float = 5.0, height: float = 4.0) -> Figure:
    """An empty Figure with an Agg canvas (size in inches)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def _finish(fig: Figure, path) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _axes(ax, width=5.0, height=4.0):
    if ax is None:
        fig = new_figure(width, height)
        return fig, fig.add_subplot()
    return ax.figure, ax


def plot_confusion(
    confusion: pd.DataFrame, title: str | None = None, footer: str | None = None, ax=None, path=None
) -> Figure:
    """Heat map of a count confusion matrix (rows true, columns decided, incl. ``Ambi``).

    ``confusion`` is :func:`ccsnscore.evaluation.metrics.confusion_with_ambiguous`; cells show counts, colour
    is the fraction of the true row. ``footer`` (e.g. accuracy or pass fraction) goes under it.
    """
    fig, ax = _axes(ax, 1.2 + 0.9 * confusion.shape[1], 1.2 + 0.9 * confusion.shape[0])
    counts = confusion.to_numpy(dtype=float)
    row_total = counts.sum(axis=1, keepdims=True)
    fraction = np.divide(counts, row_total, out=np.zeros_like(counts), where=row_total > 0)
    ax.imshow(fraction, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    rows, cols = np.indices(counts.shape)
    for r, c, value, frac in zip(rows.ravel(), cols.ravel(), counts.ravel(), fraction.ravel()):
        ax.text(c, r, f"{int(value)}", ha="center", va="center", color="white" if frac > 0.6 else "black")
    ax.set_xticks(range(confusion.shape[1]), [str(c) for c in confusion.columns])
    ax.set_yticks(range(confusion.shape[0]), [str(i) for i in confusion.index])
    ax.set_xlabel("predicted" + (f"\n{footer}" if footer else ""))
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_confusion_grid(
    matrices: Mapping, footers: Mapping | None = None, title: str | None = None, path=None
) -> Figure:
    """Side-by-side confusion matrices, e.g. input cases S/SL/SD/SLD (figure 5).

    ``matrices`` is ``{case: confusion}`` (one row) or ``{row: {case: confusion}}`` (e.g. rows
    gold/bronze); ``footers`` has the same shape and holds a text per panel (accuracy, pass rate).
    Missing panels are left blank.
    """
    nested = all(isinstance(v, Mapping) for v in matrices.values())
    grid = dict(matrices) if nested else {"": dict(matrices)}
    notes = dict(footers or {}) if nested else {"": dict(footers or {})}
    cases = list(dict.fromkeys(case for row in grid.values() for case in row))
    example = next(m for row in grid.values() for m in row.values())
    fig = new_figure((1.0 + 0.8 * example.shape[1]) * len(cases), (1.3 + 0.8 * example.shape[0]) * len(grid))
    axes = np.atleast_2d(fig.subplots(len(grid), len(cases), squeeze=False))
    for i, (row_name, row) in enumerate(grid.items()):
        for j, case in enumerate(cases):
            ax = axes[i, j]
            if case not in row:
                ax.set_axis_off()
                continue
            label = " ".join(str(x) for x in (row_name, case) if x)
            plot_confusion(row[case], title=label, footer=notes.get(row_name, {}).get(case), ax=ax)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def plot_roc(
    curves: Mapping[str, tuple],
    snid: tuple | None = None,
    snid_points: tuple | None = None,
    snid_label: str = "SNID",
    fpr_line: float | None = 0.02,
    title: str | None = None,
    ax=None,
    path=None,
) -> Figure:
    """ROC curves with AUC in the legend (figure 4 right).

    ``curves`` maps a label (e.g. ``"Hrich"``) to ``(y_true, score)``. The SNID baseline is drawn
    dashed, from ``snid=(y_true, score)`` (curve over all thresholds) or ``snid_points=(fpr, tpr)``
    (e.g. rlap thresholds 0-25 from :func:`ccsnscore.evaluation.metrics.roc_at_thresholds`). ``fpr_line``
    draws a vertical dashed line at that false positive rate (None for none).
    """
    fig, ax = _axes(ax, 5.0, 4.5)
    for color, (label, (y_true, score)) in zip(CURVE_COLORS * 10, curves.items()):
        fpr, tpr, auc = binary_roc(y_true, score)
        ax.plot(fpr, tpr, color=color, lw=1.5, label=f"{label} (AUC = {auc:.3f})")
    if snid is not None:
        fpr, tpr, auc = binary_roc(*snid)
        ax.plot(fpr, tpr, color=SNID_COLOR, ls="--", lw=1.5, label=f"{snid_label} (AUC = {auc:.3f})")
    if snid_points is not None:
        fpr, tpr = (np.asarray(a, dtype=float) for a in snid_points)
        ax.plot(fpr, tpr, color=SNID_COLOR, ls="--", marker=".", lw=1.2, label=snid_label)
    if fpr_line is not None:
        ax.axvline(fpr_line, color="black", ls="--", lw=0.8)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize="small")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_score_histograms(
    sets: Mapping[str, tuple],
    bins: int | Sequence[float] = 20,
    log: bool = True,
    title: str | None = None,
    ax=None,
    path=None,
) -> Figure:
    """Predicted-probability histograms of positives (blue) vs negatives (red) (figure 4 left).

    ``sets`` maps a label to ``(y_true, score)``; the first set is drawn as filled bars (e.g.
    gold), later ones as empty steps with other line styles (e.g. bronze). NaN scores are dropped.
    """
    fig, ax = _axes(ax, 5.0, 4.0)
    edges = np.linspace(0.0, 1.0, bins + 1) if np.isscalar(bins) else np.asarray(bins, dtype=float)
    for k, (label, (y_true, score)) in enumerate(sets.items()):
        y_true = np.asarray(y_true, dtype=float)
        score = np.asarray(score, dtype=float)
        keep = np.isfinite(score) & np.isfinite(y_true)
        for is_pos, color, name in ((1, POSITIVE_COLOR, "positive"), (0, NEGATIVE_COLOR, "negative")):
            values = score[keep & (y_true == is_pos)]
            prefix = f"{label} " if label else ""
            if k == 0:
                ax.hist(values, bins=edges, color=color, alpha=0.5, label=f"{prefix}{name} ({len(values)})")
            else:
                ax.hist(
                    values,
                    bins=edges,
                    color=color,
                    histtype="step",
                    lw=1.5,
                    ls=("--", ":", "-.")[(k - 1) % 3],
                    label=f"{prefix}{name} ({len(values)})",
                )
    if log:
        ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("spectra")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_reliability(
    curves: Mapping[str, tuple], bins: int = 10, title: str | None = None, ax=None, path=None
) -> Figure:
    """Reliability (calibration) diagram: observed fraction of positives against the mean predicted
    probability in ``bins`` equal-width bins, one line per entry of ``curves`` (``label ->
    (y_true, score)``), with the count of spectra per point and the diagonal of perfect calibration."""
    fig, ax = _axes(ax, 5.0, 4.5)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":", label="perfectly calibrated")
    for color, (label, (y_true, score)) in zip(CURVE_COLORS * 10, curves.items()):
        y_true, score = np.asarray(y_true, float), np.asarray(score, float)
        keep = np.isfinite(y_true) & np.isfinite(score)
        y_true, score = y_true[keep], score[keep]
        which = np.clip(np.digitize(score, edges) - 1, 0, bins - 1)
        counts = np.bincount(which, minlength=bins)
        used = counts > 0
        mean_score = np.bincount(which, weights=score, minlength=bins)[used] / counts[used]
        observed = np.bincount(which, weights=y_true, minlength=bins)[used] / counts[used]
        ax.plot(mean_score, observed, color=color, marker="o", ms=3, lw=1.2, label=f"{label} ({int(keep.sum())})")
        for x, y, n in zip(mean_score, observed, counts[used]):
            ax.annotate(str(int(n)), (x, y), fontsize=6, color=color, xytext=(2, 2), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction of positives")
    ax.legend(loc="upper left", fontsize="small")
    if title:
        ax.set_title(title)
    return _finish(fig, path)
