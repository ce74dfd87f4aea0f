import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate

from ccsnscore.data.datamodule import channel_names


def make_dm(compose_cfg, root, *overrides):
    dm = instantiate(compose_cfg(data_root=root, overrides=list(overrides)).data)
    dm.prepare_data()
    dm.setup()
    return dm


@pytest.mark.parametrize(
    "case,keys",
    [
        ("S", ["spectrum"]),
        ("SL", ["spectrum", "lc_r", "lc_g"]),
        ("SD", ["spectrum", "dmdt_r", "dmdt_g"]),
        ("SLD", ["spectrum", "lc_r", "lc_g", "dmdt_r", "dmdt_g"]),
    ],
)
def test_input_cases_give_their_channels(compose_cfg, toy_root, case, keys):
    assert channel_names(case) == keys
    dm = make_dm(compose_cfg, toy_root, f"data.input_case={case}", "data.batch_size=8")
    batch = next(iter(dm.train_dataloader()))
    assert sorted(batch) == sorted(keys + ["label"])
    shapes = {
        "spectrum": (8, 256, 1),
        "lc_r": (8, 200, 2),
        "lc_g": (8, 200, 2),
        "dmdt_r": (8, 1, 24, 24),
        "dmdt_g": (8, 1, 24, 24),
        "label": (8,),
    }
    assert all(tuple(v.shape) == shapes[k] for k, v in batch.items())


def test_splits_are_by_object_and_the_test_split_is_fixed(compose_cfg, toy_root, tmp_path):
    dm = make_dm(compose_cfg, toy_root, "data.layer=layer1", "data.positive=Hrich")
    names = {split: set(t["name"]) for split, t in dm.tables.items()}
    assert not names["train"] & names["val"] and not names["train"] & names["test"]
    assert not names["val"] & names["test"]
    split_file = tmp_path / "test_split.csv"
    written = set(pd.read_csv(split_file)["name"])
    assert names["test"] <= written
    # every task shares the same test objects; a second data module reads the file back
    other = make_dm(compose_cfg, toy_root, "data.layer=layer2b", "data.positive=Ic")
    assert set(other.tables["test"]["name"]) <= written
    labels = dm.tables["train"]["label"]
    assert 0 < labels.mean() < 1


def test_labels_follow_the_label_map(compose_cfg, toy_root):
    dm = make_dm(compose_cfg, toy_root, "data.layer=layer2a", "data.positive=IIn")
    table = pd.concat(dm.tables.values())
    assert set(table["type"]) == {"II", "IIP", "IIb-H", "IIn"}
    assert (table["label"] == (table["type"] == "IIn")).all()


def test_synthetic_samples_join_training_only_from_training_parents(compose_cfg, toy_root):
    dm = make_dm(
        compose_cfg, toy_root, "data.layer=layer2a", "data.positive=IIb-H", "data.augment.n_per_type={IIb-H: 12}"
    )
    train = dm.tables["train"]
    synthetic = train["source"] == "synthetic"
    assert synthetic.sum() == 12 and (train.loc[synthetic, "label"] == 1).all()
    assert not (dm.tables["val"]["source"] == "synthetic").any()
    assert len(dm.datasets["train"]) == len(train)
    real = dm.arrays["train"]["spectrum"][~synthetic.to_numpy()]
    synth = dm.arrays["train"]["spectrum"][synthetic.to_numpy()]
    # each synthetic spectrum lies within the envelope of the training IIb-H spectra
    parents = real[(train.loc[~synthetic, "type"] == "IIb-H").to_numpy()]
    assert np.all(synth <= parents.max(axis=0) + 1e-6) and np.all(synth >= parents.min(axis=0) - 1e-6)
    summary = dm.summary()
    assert summary.loc["train", "synthetic"] == 12


def test_balance_fills_classes_up_to_the_largest(compose_cfg, toy_root):
    dm = make_dm(compose_cfg, toy_root, "data.layer=layer1", "data.positive=Hpoor", "data.augment.n_per_type=balance")
    counts = dm.tables["train"]["label"].value_counts()
    assert abs(counts[0] - counts[1]) <= 0.1 * counts.max()


def test_unknown_input_case_is_refused(compose_cfg, toy_root):
    with pytest.raises(Exception, match="unknown input case"):
        instantiate(compose_cfg(data_root=toy_root, overrides=["data.input_case=SX"]).data)


def test_classifiers_of_a_layer_share_one_validation_split(compose_cfg, toy_root):
    hrich = make_dm(compose_cfg, toy_root, "data.layer=layer1", "data.positive=Hrich")
    hpoor = make_dm(compose_cfg, toy_root, "data.layer=layer1", "data.positive=Hpoor")
    assert set(hrich.tables["val"]["name"]) == set(hpoor.tables["val"]["name"])
    assert (hrich.tables["val"]["label"].to_numpy() == 1 - hpoor.tables["val"]["label"].to_numpy()).all()


def test_validation_from_chosen_sources_only(compose_cfg, toy_root, tmp_path):
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(toy_root, root)
    meta = pd.read_csv(root / "metadata.csv")
    meta["source"] = np.where(np.arange(len(meta)) % 3 == 0, "osc", "sedm")
    meta.to_csv(root / "metadata.csv", index=False)
    dm = make_dm(
        compose_cfg,
        root,
        "data.layer=layer1",
        "data.positive=Hrich",
        "data.val_sources=[sedm]",
        "data.augment.enabled=false",
    )
    assert len(dm.tables["val"]) and set(dm.tables["val"]["source"]) == {"sedm"}
    names = {split: set(t["name"]) for split, t in dm.tables.items()}
    assert not names["train"] & names["val"] and not names["train"] & names["test"]


def test_early_spectra_weigh_more_in_training_only(compose_cfg, toy_root):
    dm = make_dm(compose_cfg, toy_root, "data.augment.enabled=false", "data.early_weight=3", "data.early_phase=0")
    phase = pd.to_numeric(dm.tables["train"]["phase"], errors="coerce").to_numpy()
    weight = dm.datasets["train"].tensors["weight"].numpy()
    assert (phase < 0).any() and (phase >= 0).any()
    np.testing.assert_array_equal(weight, np.where(phase < 0, 3.0, 1.0))
    assert "weight" not in dm.datasets["val"].tensors and "weight" not in dm.datasets["test"].tensors
    assert "weight" not in make_dm(compose_cfg, toy_root, "data.augment.enabled=false").datasets["train"].tensors


@pytest.mark.parametrize(
    "override,message",
    [
        ("data.early_weight=0", "early_weight must be a positive number, got 0"),
        ("data.early_weight=-1", "early_weight must be a positive number"),
        ("data.early_weight=nan", "early_weight must be a positive number"),
        ("data.early_weight=abc", "early_weight must be a positive number, got 'abc'"),
        ("data.early_phase=soon", "early_phase must be a finite number, got 'soon'"),
    ],
)
def test_early_weight_options_are_checked(compose_cfg, toy_root, override, message):
    with pytest.raises(Exception, match=message):
        instantiate(compose_cfg(data_root=toy_root, overrides=[override]).data)
