import json

import numpy as np
import pandas as pd
import pytest

from ccsnscore.cli import main
from ccsnscore.inference.classify import classify_table
from ccsnscore.inference.model_set import load_model_set
from ccsnscore.testing.toy_models import write_untrained_models


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Untrained classifiers of every layer, case S, saved as training saves them."""
    return write_untrained_models(tmp_path_factory.mktemp("models"))


@pytest.mark.realdata
def test_classify_real_sedm_spectrum_and_bad_rows(model_dir, public_data_root, tmp_path):
    bad = tmp_path / "bad.ascii"
    bad.write_text("4000 1\n4010 2\n")
    table = pd.DataFrame(
        {
            "specfilename": [
                str(public_data_root / "spectra/sedm/ZTF18abceakp_20180630_P60_v1.ascii.gz"),
                str(bad),
                str(public_data_root / "spectra/sedm/ZTF18abceakp_20180630_P60_v1.ascii.gz"),
            ],
            "z": [0.03, 0.03, np.nan],
            "num_snid": [35, 35, 35],
        }
    )
    out = classify_table(table, load_model_set(model_dir, "S"), n_passes=10)
    assert len(out) == 3
    assert out["error"].tolist()[0] == ""
    assert "too_few_points" in out["error"].iloc[1] or "points" in out["error"].iloc[1]
    assert "redshift" in out["error"].iloc[2]
    good = out.iloc[0]
    layers = {
        "layer0": ("Ia", "CC", "other"),
        "layer1": ("Hrich", "Hpoor"),
        "layer2a": ("II", "IIb-H", "IIn"),
        "layer2b": ("Ib", "Ic", "Ic-BL"),
    }
    for layer, classes in layers.items():
        for cls in classes:  # scores of the layers the spectrum reached; blank for the others
            if good[f"{layer}_decision"]:
                assert 0 <= good[cls] <= 1 and good[f"{cls}_std"] >= 0
            else:
                assert np.isnan(good[cls]) and np.isnan(good[f"{cls}_std"])
    assert good["layer0_decision"] and good["path"].startswith("layer0:")
    assert list(out.columns[:3]) == ["name", "specfilename", "error"]
    assert out["tns_reportable"].dtype == bool and not out["tns_reportable"].iloc[1]


def test_cli_classify_writes_json_and_ecsv(model_dir, toy_root, tmp_path, capsys):
    meta = pd.read_csv(toy_root / "metadata.csv").head(3)
    meta.to_csv(tmp_path / "new.csv", index=False)
    for fmt in ("json", "ecsv"):
        out = tmp_path / f"scores.{fmt}"
        assert (
            main(
                [
                    "classify",
                    "--metadata",
                    str(tmp_path / "new.csv"),
                    "--root",
                    str(toy_root),
                    "--models",
                    str(model_dir),
                    "--n-passes",
                    "5",
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
        assert out.stat().st_size > 0
    document = json.loads((tmp_path / "scores.json").read_text())
    rows = document["rows"]
    assert document["metadata"]["n_passes"] == 5 and document["metadata"]["input_case"] == "S"
    assert all(len(sha) == 64 for sha in document["metadata"]["models"].values())
    assert len(rows) == 3 and all(r["error"] == "" for r in rows)
    from astropy.table import Table

    ecsv = Table.read(tmp_path / "scores.ecsv", format="ascii.ecsv")
    assert "Hrich_std" in ecsv.colnames and len(ecsv) == 3


def test_same_seed_gives_same_scores(model_dir, toy_root):
    meta = pd.read_csv(toy_root / "metadata.csv").head(2)
    models = load_model_set(model_dir, "S")
    a = classify_table(meta, models, root=toy_root, n_passes=10, seed=5)
    b = classify_table(meta, models, root=toy_root, n_passes=10, seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_missing_models_say_where_they_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no classifiers for input case 'SL'"):
        load_model_set(tmp_path, "SL")


def test_model_sets_merge_folders_and_refuse_duplicates(model_dir, tmp_path):
    import shutil

    layer1, rest = tmp_path / "run1", tmp_path / "run2"
    shutil.copytree(model_dir / "layer1", layer1 / "classifiers" / "layer1")  # a training run dir
    for layer in ("layer0", "layer2a", "layer2b"):
        shutil.copytree(model_dir / layer, rest / layer)
    merged = load_model_set([layer1, rest], "S")
    assert merged.layer_classes() == load_model_set(model_dir, "S").layer_classes()
    with pytest.raises(ValueError, match="found twice"):
        load_model_set([model_dir, rest], "S")
