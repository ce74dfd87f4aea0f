"""The trees' share of a blend chosen on the network's validation rows."""

import numpy as np
import pandas as pd
import pytest
from hydra.utils import instantiate
from sklearn.metrics import log_loss as sklearn_log_loss

from ccsnscore.data.splits import validation_masks
from ccsnscore.evaluation.blend import blend_run
from ccsnscore.evaluation.blend_weight import WEIGHT_GRID, choose_tree_weight, log_loss
from ccsnscore.model.checkpoints import load_classifier, replace_network
from ccsnscore.testing.toy_models import write_untrained_models


def test_the_share_follows_the_part_that_predicts_the_validation_rows():
    rng = np.random.default_rng(0)
    labels = rng.random(400) < 0.3
    informed, other = (np.where(labels, 0.7, 0.3) + rng.normal(0, 0.25, 400).clip(-0.29, 0.29) for _ in range(2))
    noise = rng.random(400)
    weight, losses = choose_tree_weight(noise, informed, labels)
    assert weight == max(WEIGHT_GRID) and set(losses) == set(WEIGHT_GRID)
    assert choose_tree_weight(informed, noise, labels)[0] == min(WEIGHT_GRID)
    # two equally good parts whose errors are independent share the weight
    assert 0.3 <= choose_tree_weight(informed, other, labels)[0] <= 0.7
    with pytest.raises(ValueError, match="one class only"):
        choose_tree_weight(informed, noise, np.ones(400, bool))


def test_log_loss_is_scikit_learns():
    rng = np.random.default_rng(1)
    p, y = rng.random(50), rng.random(50) < 0.5
    assert log_loss(p, y) == pytest.approx(sklearn_log_loss(y, p), rel=1e-9)


def test_validation_objects_are_drawn_outside_the_test_split_and_only_from_chosen_sources():
    rng = np.random.default_rng(2)
    names = np.repeat([f"SN{i}" for i in range(60)], 3)
    task = pd.DataFrame({"name": names, "source": np.tile(["sedm", "sedm", "osc"], 60)})
    layer_class = np.repeat(rng.choice(["A", "B"], 60), 3)
    is_test = np.isin(names, [f"SN{i}" for i in range(10)])
    is_val, is_train = validation_masks(task, layer_class, is_test, 1 / 3, 42, ["sedm"])
    assert not (is_val & is_test).any() and not (is_train & is_test).any()
    assert set(task["source"][is_val]) == {"sedm"}
    assert not set(names[is_val]) & set(names[is_train])
    left_out = ~is_val & ~is_train & ~is_test  # the other spectra of validation objects
    assert left_out.any() and set(names[left_out]) <= set(names[is_val])
    assert abs(len(set(names[is_val])) - 50 / 3) <= 1
    is_val_all, is_train_all = validation_masks(task, layer_class, is_test, 1 / 3, 42)
    assert (is_val_all | is_train_all | is_test).all() and not (is_val_all & is_train_all).any()


def test_blend_run_auto_chooses_each_share_on_the_validation_rows_the_network_was_trained_without(
    compose_cfg, toy_root, tmp_path
):
    cfg = compose_cfg(data_root=toy_root, overrides=["data.layer=layer1", "data.positive=Hrich"])
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup()
    models = write_untrained_models(
        tmp_path / "models", cases=("S",), all_layers_for=(), test_split_file=dm.test_split_file
    )
    with pytest.raises(ValueError, match="records no validation split"):
        blend_run(models, tmp_path / "none", toy_root, tmp_path / "cache", tree_weight="auto")
    with pytest.raises(ValueError, match="or 'auto'"):
        blend_run(models, tmp_path / "none", toy_root, tmp_path / "cache", tree_weight="half")
    split = {"val_fraction": dm.val_fraction, "split_seed": dm.split_seed, "val_sources": None}
    for path in sorted((models / "layer1" / "S").glob("*.pt")):
        replace_network(path, path, load_classifier(path), {"data": split})
    files = blend_run(models, tmp_path / "blended", toy_root, tmp_path / "cache", tree_weight="auto")
    assert len(files) == 2
    for path in files:
        model = load_classifier(path)
        record = model.metadata["training"]["tree"]
        selection = record["weight_selection"]
        assert record["weight"] in WEIGHT_GRID and model.tree_weight == record["weight"]
        assert selection["n_val"] == len(dm.tables["val"])
        assert selection["log_loss"][f"{record['weight']:.1f}"] == min(selection["log_loss"].values())
