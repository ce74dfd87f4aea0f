"""Network + tree blends: trees copied from scikit-learn, their Monte-Carlo scores, their files."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier

from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.data.splits import load_or_create_test_split
from ccsnscore.evaluation.blend import blend_run
from ccsnscore.evaluation.model_cards import model_card
from ccsnscore.inference.mc_dropout import mc_dropout_scores, member_moments, member_samples
from ccsnscore.inference.model_set import load_model_set
from ccsnscore.model.checkpoints import ClassifierFileError, _write, load_classifier, save_classifier, weights_sha256
from ccsnscore.model.network import BinaryClassifier, BlendedClassifier, EnsembleClassifier
from ccsnscore.model.trees import TreeEnsemble, channel_features, continuum_removed
from ccsnscore.testing.toy_models import SMALL, write_untrained_models


def fitted_trees(n_features=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, n_features)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 3] ** 2 + 0.3 * rng.normal(size=300) > 0.5).astype(int)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values take the side the trees learnt
    model = HistGradientBoostingClassifier(max_iter=40, random_state=seed).fit(x, y)
    return model, x


def save_hrich(folder, model):
    """``model`` saved as a layer-1 case-S Hrich classifier file under ``folder``."""
    return save_classifier(
        folder / "layer1" / "S" / "Hrich.pt",
        model,
        layer="layer1",
        positive="Hrich",
        label_map={"Hrich": ["II"], "Hpoor": ["Ib"]},
        preprocessing=PreprocessingConfig(),
    )


def tamper(path, key, change):
    """Rewrite weight ``key`` of a classifier file as ``change(tensor)``, with a matching sha256."""
    payload = torch.load(path, weights_only=True)
    state = payload.pop("state_dict")
    state[key] = change(state[key].clone())
    payload["weights_sha256"] = weights_sha256(state)
    _write(path, payload, state)


def test_copied_trees_give_scikit_learns_probabilities():
    model, x = fitted_trees()
    trees = TreeEnsemble.from_sklearn(model, x.shape[1])
    ours = trees(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(ours, model.predict_proba(x)[:, 1], atol=1e-6)
    assert trees.config["n_trees"] == model.n_iter_
    trees.to(torch.bfloat16)  # a cast network must not round the trees' thresholds
    assert trees.threshold.dtype == torch.float64
    np.testing.assert_allclose(trees(torch.as_tensor(x)).numpy(), ours)
    with pytest.raises(ValueError, match="read 16 features, got 15"):
        trees(torch.zeros(2, 15))


def test_a_split_of_present_against_missing_values_copies_with_its_infinite_threshold(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    y = rng.uniform(size=400) < 0.5
    x[y, 1] = np.nan  # the feature is missing exactly for the positives
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y)
    trees = TreeEnsemble.from_sklearn(model, 3)
    assert torch.isinf(trees.threshold).any()
    np.testing.assert_allclose(trees(torch.as_tensor(x)).numpy(), model.predict_proba(x)[:, 1], atol=1e-6)
    # such trees save and load (a NaN threshold would not)
    blend = BlendedClassifier.from_parts(BinaryClassifier("S", **SMALL), trees, 0.5)
    path = save_hrich(tmp_path, blend)
    assert torch.equal(load_classifier(path).tree.threshold, trees.threshold)
    tamper(path, "tree.threshold", lambda t: torch.where(torch.isinf(t), float("nan"), t))
    with pytest.raises(ClassifierFileError, match="NaN"):
        load_classifier(path)


def test_continuum_removed_flux_is_the_flux_minus_its_running_mean_over_covered_pixels():
    from scipy.ndimage import uniform_filter1d

    rng = np.random.default_rng(0)
    flux = rng.uniform(0.2, 1.0, (4, 128))
    flux[:, :10] = 0  # no coverage at the blue end
    flux[1, 60] = 0  # a gap
    covered = flux != 0
    with np.errstate(invalid="ignore"):  # windows without any covered pixel: uncovered, NaN below
        mean = uniform_filter1d(flux, 15, axis=1, mode="nearest") / uniform_filter1d(
            covered.astype(float), 15, axis=1, mode="nearest"
        )
    expected = np.where(covered, flux - mean, np.nan)
    ours = continuum_removed(torch.as_tensor(flux, dtype=torch.float64), 15).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    assert np.isnan(ours[:, :10]).all() and np.isnan(ours[1, 60])
    batch = {"spectrum": torch.as_tensor(flux, dtype=torch.float32)[..., None]}
    assert channel_features(batch, ["spectrum"], continuum_window=15).shape == (4, 256)
    assert channel_features(batch, ["spectrum"]).shape == (4, 128)


def test_trees_on_continuum_removed_features_read_them_back_from_the_file(tmp_path):
    rng = np.random.default_rng(1)
    flux = rng.uniform(0.5, 1.0, (300, 256)).astype(np.float32)
    label = rng.uniform(size=300) < 0.5
    flux[label, 120:123] *= 0.6  # an absorption line on a varying continuum
    flux = flux * np.linspace(0.5, 1.5, 256, dtype=np.float32) ** rng.uniform(-2, 2, (300, 1)).astype(np.float32)
    batch = {"spectrum": torch.as_tensor(flux / flux.max(axis=1, keepdims=True))[..., None]}
    features = channel_features(batch, ["spectrum"], continuum_window=15).numpy()
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(features, label)
    trees = TreeEnsemble.from_sklearn(model, features.shape[1], continuum_window=15)
    torch.manual_seed(0)
    blend = BlendedClassifier.from_parts(BinaryClassifier("S", **SMALL), trees, 0.5)
    path = save_hrich(tmp_path, blend)
    loaded = load_classifier(path)
    assert loaded.tree.config["continuum_window"] == 15
    np.testing.assert_allclose(loaded.tree_proba(batch).numpy(), model.predict_proba(features)[:, 1], atol=1e-6)


def blended_spectrum_classifier(members: int | None = None, weight: float = 0.4):
    torch.manual_seed(0)
    model, _ = fitted_trees(n_features=256)
    trees = TreeEnsemble.from_sklearn(model, 256)
    networks = [BinaryClassifier("S", **SMALL) for _ in range(members or 1)]
    network = EnsembleClassifier.from_members(networks) if members else networks[0]
    return BlendedClassifier.from_parts(network, trees, weight), network, trees


def test_monte_carlo_passes_of_a_blend_are_the_networks_moved_by_the_trees():
    blend, network, trees = blended_spectrum_classifier(weight=0.4)
    batch = {"spectrum": torch.randn(5, 256, 1)}
    net_mean, net_std = mc_dropout_scores(network, batch, 20, seed=3)
    mean, std, samples = mc_dropout_scores(blend, batch, 20, seed=3, return_samples=True)
    tree_p = trees(channel_features(batch, ["spectrum"])).numpy()
    np.testing.assert_allclose(mean, 0.6 * net_mean + 0.4 * tree_p, atol=1e-6)
    np.testing.assert_allclose(std, 0.6 * net_std, atol=1e-6)
    np.testing.assert_allclose(samples.mean(axis=1), mean, atol=1e-5)
    blend.eval(), network.eval()
    np.testing.assert_allclose(
        blend.predict_proba(batch).numpy(), 0.6 * network.predict_proba(batch).numpy() + 0.4 * tree_p, atol=1e-6
    )


def test_a_blended_ensemble_draws_its_passes_in_blocks_like_all_at_once():
    blend, _, _ = blended_spectrum_classifier(members=3)
    batch = {"spectrum": torch.randn(4, 256, 1)}
    whole = member_moments(member_samples(blend, batch, 12, seed=0))
    first, rest = member_samples(blend, batch, 5, seed=0), member_samples(blend, batch, 7, seed=0, first_pass=5)
    joined = member_moments([np.concatenate([a, b], axis=1) for a, b in zip(first, rest)])
    np.testing.assert_allclose(joined[0], whole[0], atol=1e-6)
    np.testing.assert_allclose(joined[1], whole[1], atol=1e-6)


def test_a_blended_classifier_file_round_trips_and_damaged_trees_are_refused(tmp_path):
    blend, _, _ = blended_spectrum_classifier(members=2)
    path = save_hrich(tmp_path, blend)
    loaded = load_classifier(path)
    assert isinstance(loaded, BlendedClassifier) and loaded.tree_weight == blend.tree_weight
    batch = {"spectrum": torch.randn(3, 256, 1)}
    blend.eval()
    torch.testing.assert_close(loaded.predict_proba(batch), blend.predict_proba(batch))
    # a file whose trees point outside themselves, even with a matching checksum, fails on load
    tamper(path, "tree.left", lambda t: t.index_fill(0, torch.tensor([0]), 10**9))
    with pytest.raises(ClassifierFileError, match="tree left index outside"):
        load_classifier(path)


def test_a_file_exported_with_half_networks_is_smaller_and_scores_as_before(tmp_path):
    from ccsnscore.model.checkpoints import classifier_metadata, export_classifier

    blend, _, _ = blended_spectrum_classifier(members=3)
    path = save_hrich(tmp_path / "run", blend)
    half = export_classifier(path, tmp_path / "ship" / "layer1" / "S" / "Hrich.pt", tmp_path / "run", True)
    stored = torch.load(half, weights_only=True)["state_dict"]
    assert {v.dtype for k, v in stored.items() if k.startswith("network.")} >= {torch.float16}
    assert all(v.dtype == blend.state_dict()[k].dtype for k, v in stored.items() if k.startswith("tree."))
    full_bytes = sum(v.numel() * v.element_size() for k, v in blend.state_dict().items() if k.startswith("network."))
    half_bytes = sum(v.numel() * v.element_size() for k, v in stored.items() if k.startswith("network."))
    assert half_bytes < 0.55 * full_bytes and half.stat().st_size < path.stat().st_size
    assert classifier_metadata(half)["weights_storage"] == "float16"
    assert "stored as float16" in model_card(half)
    loaded = load_classifier(half)
    assert all(p.dtype == torch.float32 for p in loaded.network.parameters())
    batch = {"spectrum": torch.randn(6, 256, 1)}
    blend.eval()
    full, halved = blend.predict_proba(batch), loaded.predict_proba(batch)
    assert not torch.equal(full, halved) and torch.allclose(full, halved, atol=2e-3)
    # its checksum covers the stored half-precision weights
    payload = torch.load(half, weights_only=True)
    key = next(k for k, v in payload["state_dict"].items() if v.dtype == torch.float16)
    payload["state_dict"][key] += 1
    _write(half, {k: v for k, v in payload.items() if k != "state_dict"}, payload["state_dict"])
    with pytest.raises(ClassifierFileError, match="do not match their recorded sha256"):
        load_classifier(half)


def test_blend_run_adds_trees_to_every_classifier_of_a_run(toy_root, tmp_path):
    ds, _ = load_or_prepare(toy_root, tmp_path / "cache", PreprocessingConfig())
    split = tmp_path / "split.csv"
    load_or_create_test_split(split, ds.samples, 0.4, 0)
    models = write_untrained_models(tmp_path / "models", cases=("S", "SL"), all_layers_for=(), test_split_file=split)
    files = blend_run(models, tmp_path / "blended", toy_root, tmp_path / "cache", tree_weight=0.5)
    assert len(files) == 4  # layer 1 (Hrich, Hpoor) of cases S and SL
    blended = load_model_set(tmp_path / "blended", "SL")
    model = blended.classifiers["Hrich"]
    assert isinstance(model, BlendedClassifier) and model.channels == ["spectrum", "lc_r", "lc_g"]
    record = model.metadata["training"]["tree"]
    assert record["weight"] == 0.5 and record["n_train"] > 0 and record["iterations"] >= 1
    assert record["continuum_window"] == model.tree.config["continuum_window"] == 15
    assert model.tree.config["n_features"] == 2 * 256 + 2 * 40  # flux, continuum-removed flux, light curves
    assert "0.5 x network + 0.5 x trees" in model_card(model.path)
    assert "trees" not in model_card(models / "layer1" / "SL" / "Hrich.pt").split("## Training data")[0]
    assert model.metadata["test_split"] == load_classifier(models / "layer1" / "SL" / "Hrich.pt").metadata["test_split"]
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        blend_run(models, tmp_path / "other", toy_root, tmp_path / "cache", tree_weight=1.0)
    with pytest.raises(ValueError, match="continuum-window"):
        blend_run(models, tmp_path / "other", toy_root, tmp_path / "cache", continuum_window=-1)


def test_the_tree_baseline_reads_the_features_of_the_blends_it_stands_beside(toy_root, tmp_path, monkeypatch):
    from ccsnscore.evaluation import testset
    from ccsnscore.evaluation.baseline import tree_features, tree_scores
    from ccsnscore.evaluation.testset import blended_tree_window, labelled_samples, tree_baseline_scores

    ds, _ = load_or_prepare(toy_root, tmp_path / "cache", PreprocessingConfig())
    split = tmp_path / "split.csv"
    load_or_create_test_split(split, ds.samples, 0.4, 0)
    models = write_untrained_models(tmp_path / "models", cases=("S",), all_layers_for=(), test_split_file=split)
    blend_run(models, tmp_path / "blended", toy_root, tmp_path / "cache", continuum_window=31)
    networks, blended = load_model_set(models, "S"), load_model_set(tmp_path / "blended", "S")
    assert blended_tree_window(blended.layers["layer1"]) == 31
    assert blended_tree_window(networks.layers["layer1"]) == 15  # the default for networks alone
    mixed = {"Hrich": blended.classifiers["Hrich"], "Hpoor": load_model_set(models, "S").classifiers["Hpoor"]}
    assert blended_tree_window(mixed) == 31
    table, arrays, _ = labelled_samples(blended, toy_root, tmp_path / "cache", "checkpoint", [])
    table = table[table["true_layer1"] != ""].reset_index(drop=True)
    arrays = {k: (v[table.index] if k != "bands" else v) for k, v in arrays.items()}
    test, true = table["is_test"].to_numpy(), table["true_layer1"].to_numpy(object)
    windows = []

    def recorded_features(*args, continuum_window):
        windows.append(continuum_window)
        return tree_features(*args, continuum_window=continuum_window)

    monkeypatch.setattr(testset, "tree_features", recorded_features)
    baseline = tree_baseline_scores(table, arrays, blended)

    def expected(window):
        features = tree_features(arrays, "S", continuum_window=window)
        labels = {c: true[~test] == c for c in ("Hrich", "Hpoor")}
        return tree_scores(features[~test], labels, features[test], 0)["Hrich"]

    assert np.allclose(baseline["tree_Hrich"], expected(31))
    assert np.allclose(tree_baseline_scores(table, arrays, networks)["tree_Hrich"], expected(15))
    assert windows == [31, 15]


def test_the_model_card_names_the_spectrum_encoders_extra_inputs(tmp_path):
    torch.manual_seed(0)
    spectrum = {
        "architecture": "cnn",
        "conv_channels": [4],
        "kernel_sizes": [3],
        "conv_dropout": 0.1,
        "wavelength_channel": True,
    }
    card = model_card(save_hrich(tmp_path / "placed", BinaryClassifier("S", spectrum=spectrum)))
    assert "Spectrum encoder: cnn (each pixel's place on the wavelength grid as an input channel)" in card
    plain = model_card(
        save_hrich(tmp_path / "plain", BinaryClassifier("S", spectrum={**spectrum, "wavelength_channel": False}))
    )
    assert "Spectrum encoder: cnn;" in plain or "Spectrum encoder: cnn." in plain


def test_cards_are_rewritten_in_place_from_a_new_report(tmp_path, capsys):
    from ccsnscore.evaluation.model_cards import main as model_cards_main

    torch.manual_seed(0)
    path = save_hrich(tmp_path / "models", BinaryClassifier("S", spectrum={"lstm_units": [4, 4]}))
    weights = path.read_bytes()
    tables = tmp_path / "report" / "tables"
    tables.mkdir(parents=True)
    from ccsnscore.evaluation.report import METRIC_COLUMNS

    row = {**{c: 0.5 for c in METRIC_COLUMNS}, "F1": 0.9278, "case": "S"}
    pd.DataFrame([{**row, "layer": "layer1"}], index=pd.Index(["Hrich"], name="class")).to_csv(
        tables / "metrics_all.csv"
    )
    model_cards_main(["--cards-only", str(tmp_path / "models"), "--report", str(tmp_path / "report")])
    card = path.with_suffix(".md").read_text()
    assert "## Test-split metrics (100 Monte-Carlo-dropout passes" in card and "0.9278" in card
    assert path.read_bytes() == weights  # the classifier file itself is left alone
    with pytest.raises(SystemExit):
        model_cards_main(["--cards-only", str(tmp_path / "report")])
    assert "no classifier files" in capsys.readouterr().err
