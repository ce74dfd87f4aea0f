"""Dataset-level behaviour: bad input in a batch, the cache, the dataset root."""

import gzip

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from ccsnscore.data import cache as cache_module
from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.io import DatasetNotFoundError, dataset_fingerprint, resolve_data_root
from ccsnscore.testing.toy_dataset import write_toy_dataset


@pytest.fixture
def broken_root(tmp_path):
    """A toy dataset with one example of each kind of bad input."""
    root = write_toy_dataset(tmp_path / "data", n_objects=9, spectra_per_object=1)
    meta = pd.read_csv(root / "metadata.csv")
    spec = root / "spectra" / "sedm"
    (spec / "garbage.ascii.gz").write_bytes(b"not gzip at all")
    with gzip.open(spec / "text.ascii.gz", "wt") as fh:
        fh.write("# header\n" + "\n".join(f"{4000 + i} abc" for i in range(50)))
    with gzip.open(spec / "short.ascii.gz", "wt") as fh:
        fh.write("\n".join(f"{5000 + 10 * i} 1.0" for i in range(5)))
    with gzip.open(spec / "nan.ascii.gz", "wt") as fh:
        fh.write("\n".join(f"{4000 + 20 * i} nan" for i in range(200)))
    (root / "lightcurves" / "sparse.csv").write_text("mjd,mag,emag,filter\n1,18,0.1,g\n2,18,0.1,r\n")
    (root / "lightcurves" / "odd.csv").write_text(
        "mjd,mag,emag,filter\n" + "".join(f"{i},18,0.05,{'i' if i % 2 else 'r'}\n" for i in range(20))
    )
    good = meta.iloc[0].to_dict()
    extra = [
        {**good, "name": "bad1", "specfilename": "spectra/sedm/garbage.ascii.gz"},
        {**good, "name": "bad2", "specfilename": "spectra/sedm/text.ascii.gz"},
        {**good, "name": "bad3", "specfilename": "spectra/sedm/short.ascii.gz"},
        {**good, "name": "bad4", "specfilename": "spectra/sedm/nan.ascii.gz"},
        {**good, "name": "bad5", "z": np.nan},
        {**good, "name": "bad6", "specfilename": "spectra/sedm/missing.ascii.gz"},
        {**good, "name": "lc1", "lcfilename": "lightcurves/sparse.csv"},
        {**good, "name": "lc2", "lcfilename": "lightcurves/odd.csv"},
    ]
    pd.concat([meta, pd.DataFrame(extra)]).to_csv(root / "metadata.csv", index=False)
    return root


def test_bad_input_is_counted_and_the_batch_goes_on(broken_root, compose_cfg, tmp_path):
    cfg = compose_cfg(data_root=broken_root)
    ds, _ = load_or_prepare(cfg.paths.data_root, cfg.paths.cache_dir, cfg.preprocessing)
    assert len(ds.samples) == 9 + 2  # the good ones and the two with bad light curves
    spectrum_skips = ds.skips[ds.skips["stage"] == "spectrum"].set_index("name")["reason"].to_dict()
    assert spectrum_skips == {
        "bad1": "unreadable_file",
        "bad2": "non_numeric",
        "bad3": "too_few_points",
        "bad4": "all_nan_flux",
        "bad5": "missing_z",
        "bad6": "missing_file",
    }
    lc_skips = ds.skips[ds.skips["stage"] == "lightcurve"]
    assert set(lc_skips.loc[lc_skips["name"] == "lc1", "reason"]) == {"too_few_detections_g", "too_few_detections_r"}
    assert "unknown_filter" in set(lc_skips.loc[lc_skips["name"] == "lc2", "reason"])
    kept = ds.samples.set_index("name")
    assert not kept.loc["lc1", "has_lc_r"] and kept.loc["lc2", "has_lc_r"]
    assert not ds.lc[ds.samples["name"].to_numpy() == "lc1"].any()
    assert all(ds.skips["message"].str.len() > 0)


def test_cache_is_reused_and_rebuilt_when_config_or_data_change(compose_cfg, tmp_path, monkeypatch):
    root = write_toy_dataset(tmp_path / "data", n_objects=6, spectra_per_object=1)
    cfg = compose_cfg(data_root=root)
    first, manifest = load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(cache_module, "prepare_dataset", fail)
    again, manifest_again = load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)
    assert manifest_again["cache_key"] == manifest["cache_key"]
    np.testing.assert_array_equal(first.spectrum, again.spectrum)
    np.testing.assert_array_equal(first.dmdt, again.dmdt)
    pd.testing.assert_frame_equal(first.samples, again.samples, check_dtype=False)

    changed = OmegaConf.merge(cfg.preprocessing, {"spectrum": {"median_kernel": 7}})
    with pytest.raises(AssertionError, match="reused"):
        load_or_prepare(root, cfg.paths.cache_dir, changed)
    # runtime settings are not part of the key: more processes, or an older file's n_jobs, reuse it
    load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing, n_jobs=2)
    older = OmegaConf.to_container(cfg.preprocessing)
    older["lightcurve"]["n_jobs"] = 7
    load_or_prepare(root, cfg.paths.cache_dir, older)

    before = dataset_fingerprint(root)
    lc = next((root / "lightcurves").iterdir())
    lc.write_text(lc.read_text() + "59999,19.0,0.1,r\n")
    assert dataset_fingerprint(root) != before
    with pytest.raises(AssertionError, match="reused"):
        load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)


def test_missing_dataset_says_how_to_point_at_one(tmp_path, monkeypatch):
    monkeypatch.delenv("CCSNSCORE_DATA_ROOT", raising=False)
    with pytest.raises(DatasetNotFoundError, match="CCSNSCORE_DATA_ROOT.*paths.data_root"):
        resolve_data_root(tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError):
        resolve_data_root(None)
    monkeypatch.setenv("CCSNSCORE_DATA_ROOT", str(write_toy_dataset(tmp_path / "d", n_objects=2)))
    assert resolve_data_root(None) == (tmp_path / "d").resolve()


def test_prepare_command_prints_counts(toy_root, tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ccsnscore.prepare",
            f"paths.data_root={toy_root}",
            f"paths.cache_dir={tmp_path / 'c'}",
            f"paths.test_split_file={tmp_path / 's.csv'}",
            f"paths.output_dir={tmp_path / 'o'}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for title in ("== types ==", "== skips ==", "== layer1 ==", "== label_status ==", "test", "train+val"):
        assert title in out.stdout
    assert "skipped.csv" in out.stdout
    assert (tmp_path / "s.csv").is_file()


@pytest.mark.parametrize("damage", ["truncate_arrays", "remove_samples", "cut_samples", "edit_manifest"])
def test_a_damaged_cache_is_detected_and_rebuilt(compose_cfg, tmp_path, damage, caplog):
    root = write_toy_dataset(tmp_path / "data", n_objects=6, spectra_per_object=1)
    cfg = compose_cfg(data_root=root)
    first, manifest = load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)
    folder = tmp_path / "cache" / manifest["cache_key"]
    if damage == "truncate_arrays":
        data = (folder / "arrays.npz").read_bytes()
        (folder / "arrays.npz").write_bytes(data[: len(data) // 2])
    elif damage == "remove_samples":
        (folder / "samples.csv").unlink()
    elif damage == "cut_samples":
        lines = (folder / "samples.csv").read_text().splitlines(keepends=True)
        (folder / "samples.csv").write_text("".join(lines[:-2]))
    else:
        (folder / "manifest.json").write_text("{not json")
    with caplog.at_level("WARNING"):
        again, _ = load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)
    assert "rebuilding the cache" in caplog.text
    np.testing.assert_array_equal(first.spectrum, again.spectrum)
    assert len(again.samples) == len(first.samples)
    cache_module.verify_cache(folder)  # the rebuilt folder verifies


def test_stale_temporary_folders_are_removed(compose_cfg, tmp_path):
    import os
    import time

    root = write_toy_dataset(tmp_path / "data", n_objects=4, spectra_per_object=1)
    cfg = compose_cfg(data_root=root)
    stale = tmp_path / "cache" / ".tmp-killed"
    stale.mkdir(parents=True)
    old = time.time() - 2 * cache_module.STALE_TMP_SECONDS
    os.utime(stale, (old, old))
    fresh = tmp_path / "cache" / ".tmp-running"
    fresh.mkdir()
    load_or_prepare(root, cfg.paths.cache_dir, cfg.preprocessing)
    assert not stale.exists() and fresh.exists()


def test_two_processes_share_one_cache(compose_cfg, tmp_path):
    import subprocess
    import sys

    root = write_toy_dataset(tmp_path / "data", n_objects=8, spectra_per_object=1)
    command = [
        sys.executable,
        "-c",
        "import sys; from ccsnscore.data.cache import load_or_prepare; "
        "from ccsnscore.data.config import PreprocessingConfig; "
        "ds, m = load_or_prepare(sys.argv[1], sys.argv[2], PreprocessingConfig()); print(m['cache_key'])",
        str(root),
        str(tmp_path / "cache"),
    ]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    keys = {out.strip() for out, _ in outputs}
    assert len(keys) == 1
    folders = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert [p.name for p in folders] == list(keys)
