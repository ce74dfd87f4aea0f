"""Per-spectrum figures of a classification run and a night page that shows them (``classify --plot``).

One figure per classified spectrum, for an observer's nightly check: the spectrum with H and He I
lines marked, the light curve when one is given, and every classifier's Monte-Carlo-dropout score
with its std, grouped by layer. Figures are built with :class:`matplotlib.figure.Figure` (Agg
canvas, no pyplot state) like :mod:`ccsnscore.evaluation.plots`; files are written atomically.

Wavelength convention: ``wave`` is always the *observed* wavelength (Angstrom). When the redshift
``z`` is finite, the spectrum is drawn at rest-frame wavelengths ``wave / (1 + z)``; otherwise it
is drawn as observed (the axis label says so) and the lines are marked at their rest wavelengths.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ccsnscore.evaluation.plots import new_figure
from ccsnscore.inference.decisions import AMBIGUOUS, CONFIDENT_MIN_SCORE

FIGURE_SIZE = (11.0, 7.0)
"""Width and height of a spectrum figure (inches)."""
DPI = 110

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies).
H_COLOR = "#0072B2"  # blue
HE_COLOR = "#CC79A7"  # reddish purple
DECIDED_COLOR = "#D55E00"  # vermillion
OTHER_COLOR = "#56B4E9"  # sky blue
NOT_REACHED_COLOR = "0.75"
SPECTRUM_COLOR = "black"
BAND_STYLES = {"g": ("#009E73", "o"), "r": ("#D55E00", "s")}
"""Light-curve band -> (colour, marker): g green, r red (vermillion)."""

H_LINES = (("H\u03b1", 6563.0), ("H\u03b2", 4861.0), ("H\u03b3", 4340.0))
HE_LINES = (("He I 5876", 5876.0), ("He I 6678", 6678.0), ("He I 7065", 7065.0))
"""Rest wavelengths (Angstrom) of the lines marked on the spectrum."""

_MAX_MESSAGE_CHARS = 1200
LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7}


# ---------------------------------------------------------------------------------------------
# values of an output row


def _text(value) -> str:
    """A row value as text: "" for None/NaN."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _number(value) -> float:
    """A row value as float: NaN when missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _score_text(score, score_std) -> str:
    """``"0.93 ± 0.02"``; ``""`` when the score is NaN."""
    score, score_std = _number(score), _number(score_std)
    if not np.isfinite(score):
        return ""
    return f"{score:.2f} \u00b1 {score_std:.2f}" if np.isfinite(score_std) else f"{score:.2f}"


def _decision_text(row: Mapping) -> str:
    """The final decision with its score, e.g. ``"IIn, score 0.93 ± 0.02"`` or ``"ambiguous"``."""
    decision = _text(row.get("decision")) or AMBIGUOUS
    score = _score_text(row.get("score"), row.get("score_std"))
    return f"{decision}, score {score}" if score and decision != AMBIGUOUS else decision


# ---------------------------------------------------------------------------------------------
# panels


def _header(ax, title: str, subtitle: str) -> None:
    ax.set_axis_off()
    ax.text(0.0, 0.95, title, transform=ax.transAxes, ha="left", va="top", fontsize=15, parse_math=False)
    ax.text(
        0.0,
        0.05,
        subtitle,
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=9.5,
        color="0.25",
        parse_math=False,
    )


def _spectrum_panel(ax, wave, flux, z) -> None:
    """Normalised flux against wavelength (Angstrom), H and He I lines marked where in range."""
    wave = np.asarray(wave if wave is not None else [], dtype=float).ravel()
    flux = np.asarray(flux if flux is not None else [], dtype=float).ravel()
    n = min(len(wave), len(flux))
    wave, flux = wave[:n], flux[:n]
    keep = np.isfinite(wave) & np.isfinite(flux)
    if keep.sum() < 2:
        ax.set_axis_off()
        ax.text(
            0.5,
            0.5,
            "no spectrum available",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="0.4",
            fontsize=12,
        )
        return
    order = np.argsort(wave[keep])
    wave, flux = wave[keep][order], flux[keep][order]
    z = _number(z)
    rest = np.isfinite(z) and z > -1.0
    x = wave / (1.0 + z) if rest else wave
    positive = flux[flux > 0]
    scale = np.median(positive) if positive.size else np.max(np.abs(flux))
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    ax.plot(x, flux / scale, color=SPECTRUM_COLOR, lw=1.0, label="spectrum")
    low, high = x[0], x[-1]
    for group, lines, color, style in (
        ("H (Balmer)", H_LINES, H_COLOR, "-"),
        ("He I", HE_LINES, HE_COLOR, "--"),
    ):
        labelled = False
        for name, rest_wave in lines:
            if not low <= rest_wave <= high:
                continue
            ax.axvline(rest_wave, color=color, ls=style, lw=0.9, alpha=0.9, label=None if labelled else group)
            labelled = True
            ax.annotate(
                name,
                (rest_wave, 0.98),
                xycoords=ax.get_xaxis_transform(),
                xytext=(-2, 0),
                textcoords="offset points",
                rotation=90,
                ha="right",
                va="top",
                fontsize=8,
                color=color,
                bbox=LABEL_BOX,
            )
    ax.set_xlim(low, high)
    if rest:
        ax.set_xlabel(f"rest-frame wavelength (\u00c5), z = {z:.4f}")
    else:
        ax.set_xlabel("observed-frame wavelength (\u00c5); z unknown, lines at rest wavelengths")
    ax.set_ylabel("flux / median flux")
    ax.legend(loc="upper right", fontsize="small", framealpha=0.85)
    ax.set_title("spectrum", loc="left", fontsize=10)


def _usable_lightcurve(lightcurve) -> pd.DataFrame | None:
    if lightcurve is None or len(lightcurve) == 0:
        return None
    lc = pd.DataFrame(lightcurve)
    if not {"mjd", "mag", "band"} <= set(lc.columns):
        return None
    lc = lc.assign(
        mjd=pd.to_numeric(lc["mjd"], errors="coerce"),
        mag=pd.to_numeric(lc["mag"], errors="coerce"),
        emag=pd.to_numeric(lc["emag"], errors="coerce").fillna(0.0) if "emag" in lc else 0.0,
        band=lc["band"].astype(str),
    )
    lc = lc[np.isfinite(lc["mjd"]) & np.isfinite(lc["mag"])]
    return lc if len(lc) else None


def _lightcurve_panel(ax, lightcurve: pd.DataFrame, spectrum_mjd) -> None:
    """Magnitude (mag, inverted axis) against MJD (days) per band, spectrum epoch marked."""
    for band, points in lightcurve.groupby("band", sort=True):
        color, marker = BAND_STYLES.get(band, ("0.4", "^"))
        ax.errorbar(
            points["mjd"],
            points["mag"],
            yerr=points["emag"],
            fmt=marker,
            ms=4,
            color=color,
            ecolor=color,
            elinewidth=0.8,
            capsize=0,
            label=band,
        )
    spectrum_mjd = _number(spectrum_mjd)
    if np.isfinite(spectrum_mjd):
        ax.axvline(spectrum_mjd, color="black", ls=":", lw=1.2, label=f"spectrum (MJD {spectrum_mjd:.1f})")
    ax.invert_yaxis()
    ax.set_xlabel("MJD (days)")
    ax.set_ylabel("magnitude")
    ax.legend(loc="best", fontsize="small", framealpha=0.85)
    ax.set_title("light curve", loc="left", fontsize=10)


def _scores_panel(ax, row: Mapping, layers: Mapping[str, Sequence[str]]) -> None:
    """Every classifier's MC-dropout mean (bar) and std (error bar) on a 0-1 axis, grouped by layer."""
    positions, tick_labels, value_labels = [], [], []
    y = 0.0
    for layer, classes in layers.items():
        means = np.array([_number(row.get(c)) for c in classes])
        stds = np.array([_number(row.get(f"{c}_std")) for c in classes])
        decision = _text(row.get(f"{layer}_decision"))
        reached = bool(decision) or bool(np.isfinite(means).any())
        positions.append(y)
        tick_labels.append((layer, "header", reached))
        value_labels.append("")
        note = ("decided: " + decision if decision and decision != AMBIGUOUS else decision) if reached else ""
        ax.text(
            0.01,
            y,
            note or ("not reached" if not reached else ""),
            ha="left",
            va="center",
            fontsize=8.5,
            style="italic",
            color="0.2" if reached else "0.55",
            parse_math=False,
        )
        for cls, mean, std in zip(classes, means, stds):
            y -= 1.0
            positions.append(y)
            tick_labels.append((cls, "decided" if cls == decision else "class", reached and np.isfinite(mean)))
            if np.isfinite(mean):
                color = DECIDED_COLOR if cls == decision else OTHER_COLOR
                ax.barh(y, mean, height=0.7, color=color, edgecolor="black" if cls == decision else "none", lw=1.0)
                if np.isfinite(std):
                    ax.errorbar(mean, y, xerr=std, fmt="none", ecolor="black", elinewidth=1.0, capsize=3)
                value_labels.append(_score_text(mean, std))
            else:
                ax.barh(y, 1.0, height=0.7, color=NOT_REACHED_COLOR, alpha=0.25, lw=0)
                ax.text(0.5, y, "not reached", ha="center", va="center", fontsize=8, color="0.45", style="italic")
                value_labels.append("\u2014")
        y -= 1.3
    ax.axvline(CONFIDENT_MIN_SCORE, color="black", ls="--", lw=1.0)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(min(positions) - 0.6, max(positions) + 0.6)
    ax.set_yticks(positions, [label for label, _, _ in tick_labels])
    for tick, (_, kind, active) in zip(ax.get_yticklabels(), tick_labels):
        tick.set_fontweight("bold" if kind in ("header", "decided") else "normal")
        tick.set_color("black" if active else "0.55")
        tick.set_fontsize(10 if kind == "header" else 9)
    values = ax.secondary_yaxis("right")
    values.set_yticks(positions, value_labels, fontsize=8)
    values.tick_params(length=0)
    ax.tick_params(axis="y", length=0)
    ax.set_xlabel("MC-dropout mean score (error bar: std)")
    ax.set_title("classifier scores", loc="left", fontsize=10)
    handles = [
        Patch(facecolor=DECIDED_COLOR, edgecolor="black", label="decided class"),
        Patch(facecolor=OTHER_COLOR, label="other classes"),
        Patch(facecolor=NOT_REACHED_COLOR, alpha=0.4, label="layer not reached"),
        Line2D([], [], color="black", marker="|", ls="-", lw=1.0, ms=8, label="\u00b11 std (MC dropout)"),
        Line2D([], [], color="black", ls="--", lw=1.0, label=f"confidence cut ({CONFIDENT_MIN_SCORE:g})"),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize="small", frameon=False)


def _message_panel(ax, error: str) -> None:
    ax.set_axis_off()
    message = error if len(error) <= _MAX_MESSAGE_CHARS else error[:_MAX_MESSAGE_CHARS] + " \u2026"
    wrapped = "\n".join(textwrap.fill(part, width=48) for part in message.splitlines() or [""])
    ax.text(
        0.0,
        0.98,
        "Could not be classified",
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=13,
        color=DECIDED_COLOR,
        fontweight="bold",
    )
    ax.text(
        0.0,
        0.88,
        wrapped,
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=9.5,
        family="monospace",
        parse_math=False,
    )


# ---------------------------------------------------------------------------------------------
# figures and files


def plot_classification(
    row: Mapping,
    wave,
    flux,
    layers: Mapping[str, Sequence[str]],
    lightcurve: pd.DataFrame | None = None,
    spectrum_mjd: float | None = None,
    z: float | None = None,
    path=None,
) -> Figure:
    """One figure (11x7 in) of a classified spectrum: spectrum, light curve (when given) and scores.

    ``row`` is one output row of ``predict``/``classify`` (``name``, ``error``, ``decision``,
    ``score``, ``score_std``, ``path``, ``<layer>_decision``, ``<cls>``, ``<cls>_std``); ``layers``
    maps each layer to its classes in walk order. ``wave`` is the observed wavelength (Angstrom,
    shape ``(n,)``) and ``flux`` the flux in any units (normalised to its median for display);
    both may be None. With a finite redshift ``z`` the spectrum is shown at rest-frame wavelengths
    ``wave / (1 + z)``. ``lightcurve`` has columns ``mjd`` (days), ``mag``, ``emag`` (mag) and
    ``band`` ("g"/"r"); ``spectrum_mjd`` (days) marks the spectrum's epoch on it. When
    ``row["error"]`` is non-empty the scores panel is replaced by the reason. Given ``path``, the
    figure is also written there as PNG (atomically).
    """
    row = dict(row)
    name = _text(row.get("name")) or "(unnamed)"
    error = _text(row.get("error"))
    lc = _usable_lightcurve(lightcurve)
    fig = new_figure(*FIGURE_SIZE)
    fig.get_layout_engine().set(w_pad=0.1, h_pad=0.08)
    heights = [0.14, 1.0, 0.72] if lc is not None else [0.085, 1.0]  # header about 0.5 in either way
    grid = fig.add_gridspec(len(heights), 2, height_ratios=heights, width_ratios=[1.55, 1.0])
    specfile = _text(row.get("specfilename"))
    if error:
        title = f"{name} \u2014 not classified"
        subtitle = f"file: {specfile}" if specfile else ""
    else:
        title = f"{name} \u2014 {_decision_text(row)}"
        route = _text(row.get("path")).replace(">", "  \u203a  ")
        parts = (f"path: {route}" if route else "", f"file: {specfile}" if specfile else "")
        subtitle = "   ".join(part for part in parts if part)
    _header(fig.add_subplot(grid[0, :]), title, subtitle)
    _spectrum_panel(fig.add_subplot(grid[1, 0]), wave, flux, z)
    if lc is not None:
        _lightcurve_panel(fig.add_subplot(grid[2, 0]), lc, spectrum_mjd)
    side = fig.add_subplot(grid[1:, 1])
    if error:
        _message_panel(side, error)
    else:
        _scores_panel(side, row, layers)
    if path is not None:
        _save_atomic(fig, path)
    return fig


def _save_atomic(fig: Figure, path) -> Path:
    """Write ``fig`` as PNG to a temporary file next to ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
    try:
        with os.fdopen(handle, "wb") as stream:
            fig.savefig(stream, dpi=DPI, format="png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_text_atomic(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def safe_file_stem(name, number: int, max_length: int = 60) -> str:
    """``"0007_ZTF21abc"``: the row number (zero-padded, unique) and ``name`` reduced to
    ``[A-Za-z0-9._-]`` (no path separators, no leading dots); ``"spectrum"`` when nothing is left."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", _text(name)).strip("._-")[:max_length].strip("._-")
    return f"{number:04d}_{cleaned or 'spectrum'}"


def write_classification_plots(
    rows: pd.DataFrame,
    spectra: Mapping,
    layers: Mapping[str, Sequence[str]],
    folder,
    lightcurves: Mapping | None = None,
    z: Mapping | None = None,
    mjd: Mapping | None = None,
) -> list[Path]:
    """One PNG per row of ``rows`` (output of ``classify``) in ``folder`` (created); returns the paths
    in row order.

    ``spectra``, ``lightcurves``, ``z`` (redshift) and ``mjd`` (spectrum epoch, days) are keyed by
    the row's index label; ``spectra`` values are ``(wave, flux)`` (observed Angstrom, any flux
    units). A row without a spectrum (e.g. a read error) still gets its figure. Files are named
    :func:`safe_file_stem` ``+ ".png"`` (unique by row number) and written atomically. If drawing a
    row fails, its PNG says so instead of stopping the others.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lightcurves, z, mjd = lightcurves or {}, z or {}, mjd or {}
    written = []
    for number, (key, row) in enumerate(rows.iterrows()):
        path = folder / f"{safe_file_stem(row.get('name'), number)}.png"
        wave, flux = spectra.get(key, (None, None)) or (None, None)
        try:
            fig = plot_classification(
                row, wave, flux, layers, lightcurve=lightcurves.get(key), spectrum_mjd=mjd.get(key), z=z.get(key)
            )
        except Exception as exc:  # one bad row must not cost the night's other figures
            failed = {**dict(row), "error": f"could not draw this figure: {type(exc).__name__}: {exc}"}
            fig = plot_classification(failed, None, None, layers)
        written.append(_save_atomic(fig, path))
    return written


_PAGE_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.error { color: #b03000; }
td.num { white-space: nowrap; }
figure { margin: 2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
"""


def write_night_page(rows: pd.DataFrame, pngs: Sequence, folder, title: str = "ccsnscore classifications") -> Path:
    """Write ``folder/index.html``: a table (name, decision, score ± std, path, error) whose names link
    each row's PNG (``pngs`` in row order, as from :func:`write_classification_plots`) by relative
    path, then the images. All text is HTML-escaped; the page needs no external resource."""
    folder = Path(folder)
    if len(pngs) != len(rows):
        raise ValueError(f"{len(pngs)} PNG paths for {len(rows)} rows")
    folder.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    table, figures = [], []
    for number, ((_, row), png) in enumerate(zip(rows.iterrows(), pngs)):
        href = esc(quote(Path(os.path.relpath(Path(png).resolve(), folder.resolve())).as_posix()))
        name = _text(row.get("name")) or "(unnamed)"
        error = _text(row.get("error"))
        decision = "" if error else (_text(row.get("decision")) or AMBIGUOUS)
        score = "" if error else _score_text(row.get("score"), row.get("score_std"))
        table.append(
            f'<tr><td>{number}</td><td><a href="{href}">{esc(name)}</a></td><td>{esc(decision)}</td>'
            f'<td class="num">{esc(score)}</td><td>{esc(_text(row.get("path")))}</td>'
            f'<td class="error">{esc(error)}</td><td><a href="#row{number}">figure</a></td></tr>'
        )
        figures.append(
            f'<figure id="row{number}"><a href="{href}"><img src="{href}" alt="{esc(name)}" loading="lazy"></a>'
            f"<figcaption>{number}: {esc(name)}</figcaption></figure>"
        )
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{esc(title)}</title><style>{_PAGE_STYLE}</style></head><body>",
            f"<h1>{esc(title)}</h1>",
            f"<p>{len(rows)} spectra; scores are MC-dropout mean \u00b1 std.</p>",
            "<table><thead><tr><th>#</th><th>name</th><th>decision</th><th>score \u00b1 std</th><th>path</th>"
            "<th>error</th><th></th></tr></thead><tbody>",
            *table,
            "</tbody></table>",
            *figures,
            "</body></html>",
            "",
        ]
    )
    return _write_text_atomic(folder / "index.html", page)
