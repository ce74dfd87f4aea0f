import numpy as np

from ccsnscore.data.dmdt import DM_EDGES, DT_EDGES, dmdt_histogram


def test_edges_are_the_papers():
    assert len(DM_EDGES) == 25 and len(DT_EDGES) == 25
    assert DM_EDGES[0] == -4.5 and DM_EDGES[-1] == 4.5 and DT_EDGES[-1] == 300


def test_flat_light_curve_fills_the_zero_delta_m_row():
    days = np.arange(3.0)
    hist = dmdt_histogram(days, np.full(3, 18.0))
    assert hist.shape == (24, 24)
    zero_row = np.searchsorted(DM_EDGES, 0.0, side="right") - 1  # the [0, 0.05) bin
    one_day = np.searchsorted(DT_EDGES, 1.0, side="right") - 1  # [1, 2)
    two_day = np.searchsorted(DT_EDGES, 2.0, side="right") - 1  # [2, 3)
    assert hist[zero_row, one_day] == np.float32(2 / 3)
    assert hist[zero_row, two_day] == np.float32(1 / 3)
    assert hist.sum() == np.float32(1.0)


def test_flat_daily_light_curve_counts_pairs_per_lag():
    n = 100
    hist = dmdt_histogram(np.arange(float(n)), np.full(n, 17.0))
    n_pairs = n * (n - 1) / 2
    # lags 3, 4, 5 days fall in the [3, 6) bin: (n-3) + (n-4) + (n-5) pairs
    bin_3_6 = np.searchsorted(DT_EDGES, 3.0, side="right") - 1
    assert np.isclose(hist[12, bin_3_6], (3 * n - 12) / n_pairs)


def test_fading_light_curve_has_positive_delta_m():
    days = np.arange(50.0)
    hist = dmdt_histogram(days, 18 + 0.05 * days)
    assert hist[:12].sum() == 0 and hist[12:].sum() > 0.99


def test_too_few_points_give_zeros():
    assert not dmdt_histogram(np.array([1.0]), np.array([18.0])).any()
