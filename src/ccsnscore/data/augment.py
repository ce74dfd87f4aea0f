"""Synthetic training samples (paper section 2.1.4).

A synthetic sample of a type is the random-weight average of two rest-frame spectra of that type
(30% of pairs drawn among pre-maximum spectra, 70% among photospheric ones), with the redshift
averaged by the same weight and the light curve of one parent moved to the new luminosity
distance. Callers pass only training samples, so synthetic samples never leak into validation or test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from astropy.cosmology import Planck18

from ccsnscore.data.dmdt import DM_EDGES, DT_EDGES, dmdt_histogram
from ccsnscore.data.lightcurves import InterpolatedBand, flux_channel

log = logging.getLogger(__name__)


@dataclass
class SyntheticSamples:
    """Arrays of synthetic samples, shapes as in :class:`ccsnscore.data.preprocess.PreparedDataset`;
    ``parents`` ``(n, 2)`` indices into the arrays given, ``weight`` ``(n,)`` of the first parent."""

    spectrum: np.ndarray
    lc: np.ndarray
    dmdt: np.ndarray
    z: np.ndarray
    parents: np.ndarray
    weight: np.ndarray


def distance_modulus_shift(z_from: np.ndarray, z_to: np.ndarray, cosmology=Planck18) -> np.ndarray:
    """Magnitude change ``5 log10(d_L(z_to) / d_L(z_from))`` moving a source from ``z_from`` to ``z_to``."""
    d_from = cosmology.luminosity_distance(np.asarray(z_from, float)).value
    d_to = cosmology.luminosity_distance(np.asarray(z_to, float)).value
    return 5.0 * np.log10(d_to / d_from)


def draw_pairs(candidates: np.ndarray, groups: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2)`` random pairs of distinct ``candidates`` (indices), from different ``groups``
    (objects) whenever the candidates span more than one."""
    pairs = np.empty((n, 2), dtype=np.int64)
    several_groups = np.unique(groups[candidates]).size > 1
    for k in range(n):
        first = rng.choice(candidates)
        pool = candidates[candidates != first]
        if several_groups:
            pool = pool[groups[pool] != groups[first]]
        pairs[k] = first, rng.choice(pool)
    return pairs


def _fill_from_parents(average: np.ndarray, first: np.ndarray, second: np.ndarray, both: np.ndarray) -> np.ndarray:
    """Extend ``average`` ``(n, n_wave)`` (zero outside ``both``) to the union of the parents'
    coverage: each parent's flux alone, scaled so that over the shared pixels it matches the
    average (least squares), fills the pixels only that parent covers."""
    out = average.copy()
    for parent, only in ((first, (first != 0) & ~both), (second, (second != 0) & ~both)):
        num = np.where(both, parent * average, 0.0).sum(axis=1)
        den = np.where(both, parent * parent, 0.0).sum(axis=1)
        ratio = np.divide(num, den, out=np.ones_like(num), where=den > 0)[:, None]
        out = np.where(only, ratio * parent, out)
    return out


def synthesize(
    spectrum: np.ndarray,
    lc_mag: np.ndarray,
    z: np.ndarray,
    phase: np.ndarray,
    groups: np.ndarray,
    n: int,
    rng: np.random.Generator,
    bands=("r", "g"),
    early_fraction: float = 0.3,
    nebular_phase: float = 100.0,
    dm_edges=DM_EDGES,
    dt_edges=DT_EDGES,
    cosmology=Planck18,
    coverage: str = "intersection",
) -> SyntheticSamples:
    """Make ``n`` synthetic samples from samples of one type.

    ``spectrum`` ``(m, n_wave)`` rest-frame spectra; ``lc_mag`` ``(m, n_bands, n_days, 2)``
    interpolated magnitudes and errors (NaN where none); ``z``, ``phase`` (days from maximum, NaN if
    unknown) and ``groups`` (object names) ``(m,)``.

    ``coverage``: where the parents' wavelength coverage differs, ``"intersection"`` keeps only the
    pixels both cover; ``"union"`` keeps every pixel either covers, taking the one parent's flux where
    the other has none (rescaled to the average's level over the shared pixels), so that synthetic
    spectra are as long as real ones.
    """
    if coverage not in ("intersection", "union"):
        raise ValueError(f"coverage must be 'intersection' or 'union', got {coverage!r}")
    idx = np.arange(len(spectrum))
    early = idx[phase < 0]
    photospheric = idx[(phase >= 0) & (phase <= nebular_phase)]
    n_early = int(round(early_fraction * n))
    subsets = [(early, n_early), (photospheric, n - n_early)]
    if early.size < 2 or photospheric.size < 2:  # one phase subset too small: use the other or all
        usable = early if early.size >= 2 else photospheric if photospheric.size >= 2 else idx
        subsets = [(usable, n)]
    if subsets[0][0].size < 2:
        raise ValueError(f"need at least two samples to synthesize from, got {len(idx)}")
    pairs = np.concatenate([draw_pairs(c, groups, k, rng) for c, k in subsets if k > 0])
    weight = rng.uniform(0.0, 1.0, size=len(pairs))
    w = weight[:, None]
    first, second = spectrum[pairs[:, 0]], spectrum[pairs[:, 1]]
    # average only where both parents have data: elsewhere a half-height step would mark the
    # sample as synthetic (zero flux means no coverage)
    both = (first != 0) & (second != 0)
    synth_spectrum = np.where(both, w * first + (1 - w) * second, 0.0)
    if coverage == "union":
        synth_spectrum = _fill_from_parents(synth_spectrum, first, second, both)
    scale = np.abs(synth_spectrum).max(axis=1, keepdims=True)
    synth_spectrum = np.divide(synth_spectrum, scale, out=np.zeros_like(synth_spectrum), where=scale > 0).astype(
        np.float32
    )
    synth_z = weight * z[pairs[:, 0]] + (1 - weight) * z[pairs[:, 1]]

    n_bands, n_days = lc_mag.shape[1], lc_mag.shape[2]
    has_lc = np.isfinite(lc_mag[..., 0]).any(axis=(1, 2))
    # the parent whose light curve is used: a random one among those that have one
    first_pick = rng.uniform(size=len(pairs)) < 0.5
    pick = np.where(first_pick, pairs[:, 0], pairs[:, 1])
    other = np.where(first_pick, pairs[:, 1], pairs[:, 0])
    pick = np.where(has_lc[pick] | ~has_lc[other], pick, other)
    lc = np.zeros((len(pairs), n_bands, n_days, 2), np.float32)
    dmdt = np.zeros((len(pairs), n_bands, len(dm_edges) - 1, len(dt_edges) - 1), np.float32)
    with_lc = np.flatnonzero(has_lc[pick])
    shift = np.zeros(len(pairs))
    if with_lc.size:
        shift[with_lc] = distance_modulus_shift(z[pick[with_lc]], synth_z[with_lc], cosmology)
    for k in with_lc:  # light curves are rebuilt one by one; their number is the augmentation size
        for b, name in enumerate(bands):
            band = InterpolatedBand(lc_mag[pick[k], b, :, 0] + shift[k], lc_mag[pick[k], b, :, 1].copy())
            if band.ok:
                lc[k, b] = flux_channel(band, name)
                dmdt[k, b] = dmdt_histogram(np.flatnonzero(band.valid), band.mag[band.valid], dm_edges, dt_edges)
    return SyntheticSamples(synth_spectrum, lc, dmdt, synth_z, pairs, weight)
