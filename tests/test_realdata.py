"""Integration on a real subset of the public dataset."""

import os

import numpy as np
import pandas as pd
import pytest

from ccsnscore.data.cache import load_or_prepare

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def real_subset(public_data_root, tmp_path_factory):
    """~80 real spectra (SEDM with light curves, OSC at native resolution, SEDM with z=99)."""
    meta = pd.read_csv(public_data_root / "metadata.csv")
    parts = [
        meta[(meta["source"] == "sedm") & (meta["lcfilename"].notna()) & (meta["z"] < 1)].sample(40, random_state=1),
        meta[meta["source"] == "osc"].sample(30, random_state=1),
        meta[meta["z"] == 99].head(5),
    ]
    subset = pd.concat(parts)
    root = tmp_path_factory.mktemp("real") / "data"
    root.mkdir()
    for folder in ("spectra", "lightcurves"):
        os.symlink(public_data_root / folder, root / folder)
    subset.to_csv(root / "metadata.csv", index=False)
    return root, subset


def test_real_subset_preprocesses(real_subset, compose_cfg):
    root, subset = real_subset
    cfg = compose_cfg(data_root=root)
    ds, manifest = load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)
    skipped = ds.skips[ds.skips["stage"] == "spectrum"]
    assert len(ds.samples) + len(skipped) == len(subset)
    assert (skipped.loc[skipped["name"].isin(subset.loc[subset["z"] == 99, "name"]), "reason"] == "missing_z").all()
    assert len(ds.samples) >= 60
    assert np.isfinite(ds.spectrum).all() and np.allclose(np.abs(ds.spectrum).max(axis=1), 1.0)
    with_lc = ds.samples["has_lc_r"].to_numpy()
    assert with_lc.sum() >= 25
    assert np.allclose(ds.lc[with_lc, 0, :, 0].max(axis=1), 1.0)
    assert np.allclose(ds.dmdt[with_lc, 0].sum(axis=(1, 2)), 1.0, atol=1e-4)
    assert not ds.lc[(ds.samples["source"] == "osc").to_numpy()].any()
    assert manifest["n_samples"] == len(ds.samples)


def test_realtime_light_curves_are_shorter(real_subset, compose_cfg):
    root, _ = real_subset
    full, _ = load_or_prepare(
        root, compose_cfg(data_root=root).paths.cache_dir, compose_cfg(data_root=root).preprocessing
    )
    cfg = compose_cfg(data_root=root, overrides=["preprocessing.lightcurve.realtime=true"])
    live, _ = load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)
    n_full = np.isfinite(full.lc_mag[:, 0, :, 0]).sum()
    n_live = np.isfinite(live.lc_mag[:, 0, :, 0]).sum()
    assert n_live < n_full
