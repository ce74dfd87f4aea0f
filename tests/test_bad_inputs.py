"""The bad-input corpus: malformed files and rows, hostile paths and model files, interrupts.

Every case is built here from generated files. What must hold: one bad row never stops a batch (it
gets an ``error`` or a ``warnings`` entry, or a counted skip in ``prepare``); a user error ends the
command with one line on stderr and exit status 2 before any expensive work; no file's content is
echoed; no model file can run code or be used where it does not belong; an interrupt keeps every
finished row. Add a case here for every new bug.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ccsnscore.cli import main
from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.data.preprocess import prepare_dataset
from ccsnscore.inference.classify import classify_table
from ccsnscore.inference.model_set import load_model_set
from ccsnscore.model.checkpoints import ClassifierFileError, load_classifier
from ccsnscore.testing.toy_dataset import toy_spectrum
from ccsnscore.testing.toy_models import write_untrained_models

SECRET = "root:x:0:0:secret-content"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Untrained classifiers: every layer for case S, layer 1 for case SL."""
    return write_untrained_models(tmp_path_factory.mktemp("models"), cases=("S", "SL"))


def _spectrum_file(path: Path, sn_type="II", z=0.03, seed=0, flux_sign=1.0) -> str:
    wave, flux = toy_spectrum(sn_type, z, np.random.default_rng(seed))
    path.write_text("\n".join(f"{w:.2f} {flux_sign * f:.5e}" for w, f in zip(wave, flux)) + "\n")
    return path.name


def _lightcurve_file(path: Path, bad_rows: int = 0) -> str:
    t = np.arange(0, 60, 3.0)
    rows = [f"{59000 + d},{18 + 0.02 * d:.3f},0.05,{'g' if k % 2 else 'r'}" for k, d in enumerate(t)]
    rows += ["59010,inf,0.05,r", "59011,abc,0.05,g"][:bad_rows]
    path.write_text("mjd,mag,emag,filter\n" + "\n".join(rows) + "\n")
    return path.name


@pytest.fixture
def night(tmp_path) -> Path:
    """A folder of tonight's files: good ones and a bad one of every kind."""
    root = tmp_path / "night"
    root.mkdir()
    (tmp_path / "passwd").write_text(SECRET + "\n")
    for k in range(3):
        _spectrum_file(root / f"good{k}.ascii", seed=k)
    _spectrum_file(root / "negative.ascii", flux_sign=-1.0)
    (root / "garbage.ascii").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (root / "empty.ascii").write_text("")
    (root / "secret.ascii").write_text(SECRET + "\n")
    (root / "nm.ascii").write_text("\n".join(f"{w:.2f} 1.0" for w in np.linspace(400, 900, 200)) + "\n")
    with gzip.open(root / "broken.ascii.gz", "wb") as fh:
        fh.write(b"4000 1\n" * 100)
    (root / "broken.ascii.gz").write_bytes((root / "broken.ascii.gz").read_bytes()[:30])
    (root / "a_folder").mkdir()
    _lightcurve_file(root / "lc_good.csv")
    _lightcurve_file(root / "lc_bad_rows.csv", bad_rows=2)
    (root / "lc_inf.csv").write_text("mjd,mag,emag,filter\n" + "\n".join(f"{59000 + d},inf,0.05,r" for d in range(8)))
    return root


CASES = [
    # (description, metadata row, expected column, expected text)
    ("good spectrum", {"specfilename": "good0.ascii", "z": 0.03}, "error", ""),
    ("non-numeric z", {"specfilename": "good1.ascii", "z": "abc"}, "error", "z is not a number"),
    ("empty specfilename", {"specfilename": "", "z": 0.03}, "error", "no file name"),
    ("missing file", {"specfilename": "nothere.ascii", "z": 0.03}, "error", "not found"),
    ("a folder", {"specfilename": "a_folder", "z": 0.03}, "error", "is a folder"),
    ("binary garbage", {"specfilename": "garbage.ascii", "z": 0.03}, "error", "ascii"),
    ("empty file", {"specfilename": "empty.ascii", "z": 0.03}, "error", "no (wavelength, flux)"),
    ("file content not echoed", {"specfilename": "secret.ascii", "z": 0.03}, "error", "line 1"),
    ("outside the root", {"specfilename": "../passwd", "z": 0.03}, "error", "outside the data folder"),
    ("name too long", {"specfilename": "x" * 5000 + ".ascii", "z": 0.03}, "error", "x"),
    ("wavelengths in nm", {"specfilename": "nm.ascii", "z": 0.03}, "error", "wrong units"),
    ("truncated gzip", {"specfilename": "broken.ascii.gz", "z": 0.03}, "error", "damaged gzip"),
    ("negative flux", {"specfilename": "negative.ascii", "z": 0.03}, "warnings", "mostly negative"),
    ("placeholder z", {"specfilename": "good2.ascii", "z": 99.0}, "error", "no usable redshift"),
    ("non-numeric num_snid", {"specfilename": "good1.ascii", "z": 0.03, "num_snid": "many"}, "warnings", "num_snid"),
]


def test_one_bad_row_never_stops_a_batch(models, night, tmp_path, capsys):
    table = pd.DataFrame([row for _, row, _, _ in CASES])
    table.to_csv(tmp_path / "tonight.csv", index=False)
    out = tmp_path / "scores.csv"
    code = main(
        [
            "classify",
            "--metadata",
            str(tmp_path / "tonight.csv"),
            "--root",
            str(night),
            "--models",
            str(models),
            "--n-passes",
            "3",
            "-o",
            str(out),
            "-q",
            "--no-observed-frame",
        ]
    )
    assert code == 0
    result = pd.read_csv(out, comment="#", keep_default_na=False)
    assert len(result) == len(CASES)
    for (description, _, column, text), (_, row) in zip(CASES, result.iterrows()):
        if text:
            assert text in str(row[column]), (description, row[column])
        else:
            assert row[column] == "", (description, row[column])
        assert SECRET not in str(row["error"]) + str(row["warnings"]), description
        assert "\n" not in str(row["error"])
    classified = result["error"] == ""
    assert (result.loc[classified, "decision"] != "").all()
    assert capsys.readouterr().err.count("\n") <= 1


def test_output_columns_are_fixed_when_every_row_fails(models, night):
    table = pd.DataFrame({"specfilename": ["nothere.ascii", "garbage.ascii"], "z": [0.03, 0.03]})
    out = classify_table(table, load_model_set(models, "S"), root=night, n_passes=2)
    good = classify_table(
        pd.DataFrame({"specfilename": ["good0.ascii"], "z": [0.03]}),
        load_model_set(models, "S"),
        root=night,
        n_passes=2,
    )
    assert list(out.columns) == list(good.columns)
    assert {"decision", "score", "score_std", "path", "Hrich", "Hrich_std", "layer1_decision"} <= set(out.columns)
    assert (out["error"] != "").all() and out["score"].isna().all()


def test_light_curve_problems_are_flagged_not_fatal(models, night):
    table = pd.DataFrame(
        {
            "specfilename": ["good0.ascii", "good1.ascii", "good2.ascii", "good0.ascii"],
            "z": 0.03,
            "lcfilename": ["lc_bad_rows.csv", "lc_inf.csv", "", "lc_good.csv"],
            "specjd": [2459010.5, 2459010.5, 2459010.5, 2459800.5],
        }
    )
    out = classify_table(table, load_model_set(models, "SL", gate_case="S"), root=night, n_passes=2, realtime=True)
    assert (out["error"] == "").all()
    assert "2 light-curve rows" in out.loc[0, "warnings"]
    assert "light curve not used" in out.loc[1, "warnings"]
    assert "no usable light curve" in out.loc[2, "warnings"]
    assert "no photometry within" in out.loc[3, "warnings"]
    assert all("gate: case-S" in w for w in out["warnings"])


def test_realtime_with_bad_or_missing_specjd(models, night):
    table = pd.DataFrame(
        {
            "specfilename": ["good0.ascii", "good1.ascii"],
            "z": 0.03,
            "lcfilename": ["lc_good.csv", "lc_good.csv"],
            "specjd": ["yesterday", None],
        }
    )
    out = classify_table(table, load_model_set(models, "SL", gate_case="S"), root=night, n_passes=2, realtime=True)
    assert (out["error"] == "").all()
    assert "specjd is not a number" in out.loc[0, "warnings"]
    assert "no specjd" in out.loc[1, "warnings"]


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["-o", "{missing}/scores.csv"], "does not exist"),
        (["-o", "{tmp}"], "is a folder"),
        (["-o", "{tmp}/scores.xlsx"], "unknown output format"),
        (["--n-passes", "0"], "at least 1"),
        (["--n-passes", "-5"], "at least 1"),
        (["--device", "cuda"], "no CUDA device"),
        (["--case", "SD"], "no classifiers for input case 'SD'"),
        (["--metadata", "{tmp}/nothere.csv"], "file not found"),
        (["--metadata", "{tmp}/empty.csv"], "empty"),
        (["--metadata", "{tmp}/nocolumn.csv"], "no 'specfilename' column"),
        (["--models", "{tmp}/nomodels"], "no such model folder"),
    ],
)
def test_cheap_checks_fail_fast_in_one_line(models, night, tmp_path, capsys, arguments, expected):
    if not torch.cuda.is_available() or "cuda" not in arguments:
        (tmp_path / "empty.csv").write_text("")
        (tmp_path / "nocolumn.csv").write_text("file,z\na,1\n")
        args = [a.format(tmp=tmp_path, missing=tmp_path / "missing") for a in arguments]
        base = ["classify", str(night / "good0.ascii"), "--z", "0.03", "--models", str(models), "-q"]
        if "--metadata" in args:
            base = ["classify", "--models", str(models), "-q"]
        if "--models" in args:
            base = [b for b in base if b != str(models) and b != "--models"]
        code = main(base + args)
        err = capsys.readouterr().err
        assert code == 2 and expected in err and err.count("\n") == 1, err


def test_incomplete_model_folder_is_refused(models, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(models, partial)
    (partial / "layer2a" / "S" / "IIn.pt").unlink()
    code = main(["classify", str(tmp_path / "x.ascii"), "--z", "0.03", "--models", str(partial), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "IIn" in err and "missing" in err and err.count("\n") == 1


# -- model files ----------------------------------------------------------------------------------
def test_swapped_renamed_or_misplaced_model_files_are_refused(models, tmp_path):
    swapped = tmp_path / "swapped"
    shutil.copytree(models, swapped)
    hrich, hpoor = swapped / "layer1" / "S" / "Hrich.pt", swapped / "layer1" / "S" / "Hpoor.pt"
    hrich.rename(tmp_path / "tmp.pt")
    hpoor.rename(hrich)
    (tmp_path / "tmp.pt").rename(hpoor)
    expected = "does not belong here: positive class 'Hrich' \\(expected 'Hpoor'\\)"
    with pytest.raises(ClassifierFileError, match=expected):
        load_model_set(swapped, "S")
    misplaced = tmp_path / "misplaced"
    shutil.copytree(models, misplaced)
    shutil.copy(misplaced / "layer0" / "S" / "Ia.pt", misplaced / "layer1" / "S" / "Hrich.pt")
    with pytest.raises(ClassifierFileError, match="layer 'layer0'"):
        load_model_set(misplaced, "S")


def test_tampered_weights_are_detected(models, tmp_path):
    path = tmp_path / "Hrich.pt"
    shutil.copy(models / "layer1" / "S" / "Hrich.pt", path)
    payload = torch.load(path, weights_only=True)
    key = next(k for k, v in payload["state_dict"].items() if v.is_floating_point() and v.numel() > 10)
    payload["state_dict"][key][0] += 1.0  # a flipped value inside a tensor
    torch.save(payload, path)
    with pytest.raises(ClassifierFileError, match=f"corrupt classifier file: {path}"):
        load_classifier(path)


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('EXPLOIT_MARKER', '/tmp/ccsnscore-exploit')}",))


def test_a_malicious_pickle_runs_no_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("EXPLOIT_MARKER", str(marker))
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"format": "ccsnscore-classifier/2", "state_dict": _Exploit()}, fh)
    torch.save({"format": "ccsnscore-classifier/2", "state_dict": _Exploit()}, tmp_path / "evil2.pt")
    for file in (path, tmp_path / "evil2.pt"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing printed beside the one-line error
            with pytest.raises(ClassifierFileError, match="not a ccsnscore classifier file") as err:
                load_classifier(file)
        assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)
    assert not marker.exists()


def test_a_plain_state_dict_or_text_is_not_a_classifier(tmp_path):
    torch.save({"weight": torch.zeros(3)}, tmp_path / "plain.pt")
    (tmp_path / "text.pt").write_text("hello")
    for name in ("plain.pt", "text.pt"):
        with pytest.raises(ClassifierFileError, match="not a ccsnscore classifier file"):
            load_classifier(tmp_path / name)


def test_nan_weights_are_refused(models, tmp_path):
    from ccsnscore.model.checkpoints import save_classifier

    model = load_classifier(models / "layer1" / "S" / "Hrich.pt")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    meta = model.metadata
    path = save_classifier(
        tmp_path / "layer1" / "S" / "Hrich.pt",
        model,
        layer="layer1",
        positive="Hrich",
        label_map=meta["label_map"],
        preprocessing=meta["preprocessing"],
    )
    with pytest.raises(ClassifierFileError, match="NaN"):
        load_classifier(path)


def test_resume_refuses_checkpoints_outside_the_run(tmp_path):
    from ccsnscore.training.loop import _load_weights

    outside = tmp_path / "elsewhere.ckpt"
    torch.save({"state_dict": {}}, outside)
    with pytest.raises(ValueError, match="outside the run's folder"):
        _load_weights(None, outside, tmp_path / "run")


# -- reproducibility and interrupts ---------------------------------------------------------------
def test_a_spectrum_gets_the_same_scores_alone_or_in_any_batch(models, night):
    model_set = load_model_set(models, "S")
    batch = pd.DataFrame({"specfilename": ["good0.ascii", "good1.ascii", "good2.ascii", "good1.ascii"], "z": 0.03})
    together = classify_table(batch, model_set, root=night, n_passes=20, chunk_size=3)
    alone = classify_table(batch.iloc[[1]], model_set, root=night, n_passes=20)
    reversed_ = classify_table(batch.iloc[::-1], model_set, root=night, n_passes=20, chunk_size=1)
    columns = ["Hrich", "Hrich_std", "CC", "CC_std"]
    np.testing.assert_allclose(together.loc[1, columns].astype(float), alone.loc[0, columns].astype(float))
    np.testing.assert_allclose(together.loc[1, columns].astype(float), together.loc[3, columns].astype(float))
    np.testing.assert_allclose(together.loc[1, columns].astype(float), reversed_.loc[2, columns].astype(float))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_keeps_every_finished_row(models, night, tmp_path):
    rows = pd.DataFrame({"specfilename": [f"good{k % 3}.ascii" for k in range(4000)], "z": 0.03})
    rows.to_csv(tmp_path / "many.csv", index=False)
    out = tmp_path / "scores.csv"
    command = [
        sys.executable,
        "-m",
        "ccsnscore.cli",
        "classify",
        "--metadata",
        str(tmp_path / "many.csv"),
        "--root",
        str(night),
        "--models",
        str(models),
        "--n-passes",
        "50",
        "--chunk-size",
        "2",
        "-o",
        str(out),
        "-q",
    ]
    # SIGINT as at a terminal, even when the tests run in a background job (which ignores it)
    restore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore_sigint
    )
    try:
        deadline = time.time() + 120
        while not out.exists() and time.time() < deadline and process.poll() is None:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    written = pd.read_csv(out, comment="#")
    assert 0 < len(written) < len(rows) and f"{len(written)} of {len(rows)} spectra written" in err
    assert not list(tmp_path.glob(".scores.csv.tmp*"))


# -- prepare: counted skips ------------------------------------------------------------------------
def test_prepare_counts_every_bad_row(night, tmp_path):
    meta = pd.DataFrame(
        [
            {"specfilename": "good0.ascii", "z": 0.03, "lcfilename": "lc_inf.csv"},
            {"specfilename": "good1.ascii", "z": "abc", "lcfilename": ""},
            {"specfilename": "", "z": 0.03, "lcfilename": ""},
            {"specfilename": "../passwd", "z": 0.03, "lcfilename": ""},
            {"specfilename": "good2.ascii", "z": 0.03, "lcfilename": "../passwd"},
        ]
    ).assign(row=range(5), name=[f"sn{k}" for k in range(5)], instrument="P60", specjd=2459010.5)
    prepared = prepare_dataset(meta, night, PreprocessingConfig())
    reasons = prepared.skips.groupby("row")["reason"].agg(set)
    assert len(prepared.samples) == 2
    assert "bad_z" in reasons[1] and "missing_filename" in reasons[2] and "outside_root" in reasons[3]
    assert reasons[4] == {"outside_root"} and reasons[0] & {"too_few_detections_r", "too_few_detections_g"}
    assert not prepared.skips["message"].str.contains(SECRET).any()
