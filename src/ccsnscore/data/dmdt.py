"""delta-m / delta-t histograms of a light curve (paper section 2.1.3; Mahabal et al. 2017)."""

from __future__ import annotations

import numpy as np

from ccsnscore.data.config import DM_EDGES, DT_EDGES


def dmdt_histogram(days: np.ndarray, mag: np.ndarray, dm_edges=DM_EDGES, dt_edges=DT_EDGES) -> np.ndarray:
    """Histogram of all pairs ``(t_j - t_i, m_j - m_i)`` with ``t_j > t_i``.

    ``days``, ``mag``: ``(n,)`` days and magnitudes of a light curve (interpolated or observed).
    Returns ``(len(dm_edges) - 1, len(dt_edges) - 1)`` float32 (rows: delta-m in mag, columns:
    delta-t in days), normalised to the fraction of pairs; zeros for fewer than two points.
    """
    dm_edges, dt_edges = np.asarray(dm_edges), np.asarray(dt_edges)
    hist = np.zeros((dm_edges.size - 1, dt_edges.size - 1), dtype=np.float32)
    days, mag = np.asarray(days, float), np.asarray(mag, float)
    if days.size < 2:
        return hist
    order = np.argsort(days)
    days, mag = days[order], mag[order]
    i, j = np.triu_indices(days.size, k=1)
    counts, _, _ = np.histogram2d(mag[j] - mag[i], days[j] - days[i], bins=[dm_edges, dt_edges])
    hist[:] = counts / i.size
    return hist
