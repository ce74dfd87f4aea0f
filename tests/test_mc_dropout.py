import numpy as np
import pytest
import torch

from ccsnscore.inference.mc_dropout import mc_dropout_scores, mc_dropout_scores_naive
from ccsnscore.model.layers import MCDropout
from ccsnscore.model.network import BinaryClassifier


@pytest.fixture(scope="module")
def model_and_batch():
    torch.manual_seed(0)
    model = BinaryClassifier("SD")
    with torch.no_grad():  # a sharper head so that dropout visibly spreads the scores
        model.head.weight.mul_(40.0)
    batch = {"spectrum": torch.rand(6, 256, 1), "dmdt_r": torch.rand(6, 1, 24, 24), "dmdt_g": torch.rand(6, 1, 24, 24)}
    batch["spectrum"][:2, 200:] = 0  # partial coverage
    return model, batch


def test_vectorised_equals_naive_loop_within_sampling_error(model_and_batch):
    model, batch = model_and_batch
    n = 400
    mean, std, samples = mc_dropout_scores(model, batch, n, chunk_rows=150, seed=1, return_samples=True)
    naive_mean, naive_std = mc_dropout_scores_naive(model, batch, n, seed=2)
    assert samples.shape == (6, n)
    assert (std > 0.01).all(), "the fixture should give a visible spread"
    standard_error = np.sqrt(std**2 + naive_std**2) / np.sqrt(n)
    assert np.all(np.abs(mean - naive_mean) < 5 * standard_error)
    assert np.allclose(std, naive_std, rtol=0.25)


def test_seeded_runs_repeat_and_leave_global_state(model_and_batch):
    model, batch = model_and_batch
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = mc_dropout_scores(model, batch, 50, seed=7)
    after = torch.rand(1)
    b = mc_dropout_scores(model, batch, 50, seed=7)
    c = mc_dropout_scores(model, batch, 50, seed=8)
    assert before == after
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_chunking_does_not_change_the_result_distribution(model_and_batch):
    model, batch = model_and_batch
    small, _ = mc_dropout_scores(model, batch, 200, chunk_rows=50, seed=3)
    large, _ = mc_dropout_scores(model, batch, 200, chunk_rows=1200, seed=3)
    assert np.allclose(small, large, atol=0.08)


def test_model_state_is_restored(model_and_batch):
    model, batch = model_and_batch
    model.eval()
    mc_dropout_scores(model, batch, 10)
    assert not model.training
    assert not any(m.mc for m in model.modules() if isinstance(m, MCDropout))
    with torch.no_grad():
        assert torch.equal(model(batch), model(batch))  # deterministic again


def test_an_ensemble_shares_the_passes_among_its_members():
    from ccsnscore.model.network import BinaryClassifier, EnsembleClassifier

    torch.manual_seed(0)
    members = [BinaryClassifier("S", spectrum={"lstm_units": [4, 4]}) for _ in range(3)]
    ensemble = EnsembleClassifier.from_members(members).eval()
    batch = {"spectrum": torch.randn(6, 64, 1)}
    expected = torch.stack([m.eval().predict_proba(batch) for m in members]).mean(0)
    assert torch.allclose(ensemble.predict_proba(batch), expected)
    mean, std, samples = mc_dropout_scores(ensemble, batch, n_passes=10, seed=1, return_samples=True)
    assert samples.shape == (6, 10) and np.all(std > 0)
    again = mc_dropout_scores(ensemble, {"spectrum": batch["spectrum"][[2]]}, n_passes=10, seed=1)
    assert np.allclose(again[0], mean[2]) and np.allclose(again[1], std[2])
    assert np.allclose(samples.mean(axis=1), mean, atol=1e-6) and np.allclose(samples.std(axis=1), std, atol=1e-6)


def test_an_ensembles_spread_is_its_members_own_not_their_scatter():
    """Members that disagree move the mean; the spread is the members' Monte-Carlo spread."""
    from ccsnscore.inference.mc_dropout import member_moments

    low = np.array([[0.1, 0.2, 0.1, 0.2]])  # member 1: mean 0.15, std 0.05
    high = np.array([[0.8, 0.9, 0.8, 0.9]])  # member 2: mean 0.85, std 0.05
    mean, std = member_moments([low, high])
    assert np.allclose(mean, 0.5) and np.allclose(std, 0.05)
    assert np.hstack([low, high]).std() > 0.3  # what pooling the passes would have said
    alone, alone_std = member_moments([low])
    assert np.allclose(alone, 0.15) and np.allclose(alone_std, low.std())
    with_gaps = member_moments([np.array([[0.1, np.nan]]), np.array([[0.9, 0.7]])])
    assert np.allclose(with_gaps[0], (0.1 + 0.9 + 0.7) / 3) and np.allclose(with_gaps[1], np.sqrt(0.02 / 3))


def test_adaptive_passes_agree_with_fixed_passes(tmp_path):
    """On generated spectra, the adaptive decisions match 100 fixed passes for >= 99% of them,
    with fewer passes on average, and a spectrum's result does not depend on its batch."""
    import pandas as pd

    from ccsnscore.inference.model_set import load_model_set
    from ccsnscore.inference.pipeline import predict
    from ccsnscore.testing.toy_models import write_untrained_models

    model_set = load_model_set(write_untrained_models(tmp_path, seed=3), "S")
    g = torch.Generator().manual_seed(0)
    spectrum = torch.rand(200, 64, 1, generator=g) * torch.linspace(0.2, 1, 64)[None, :, None]
    spectrum[:70, 30:35] *= 3  # some with a line
    channels = {"spectrum": spectrum}
    fixed = predict(model_set, channels, 100, seed=0)
    adaptive = predict(model_set, channels, "auto", seed=0)
    agree = (fixed["decision"] == adaptive["decision"]).mean()
    assert agree >= 0.99, agree
    assert adaptive["passes"].between(20, 100).all() and adaptive["passes"].mean() < 100
    alone = predict(model_set, {"spectrum": spectrum[[7]]}, "auto", seed=0)
    pd.testing.assert_series_equal(
        alone.iloc[0][["decision", "passes"]], adaptive.iloc[7][["decision", "passes"]], check_names=False
    )


def test_passes_drawn_in_blocks_are_those_of_one_call(tmp_path):
    """Blocks of passes (``first_pass``) continue the same per-spectrum streams, for one network and
    for an ensemble, so an adaptive run that goes to the end gives the fixed-pass numbers (to float32
    rounding)."""
    from ccsnscore.inference.adaptive import adaptive_predict
    from ccsnscore.inference.mc_dropout import member_moments, member_samples
    from ccsnscore.inference.model_set import load_model_set
    from ccsnscore.inference.pipeline import predict
    from ccsnscore.model.network import EnsembleClassifier
    from ccsnscore.testing.toy_models import write_untrained_models

    torch.manual_seed(0)
    networks = [BinaryClassifier("S", spectrum={"lstm_units": [4, 4]}) for _ in range(4)]
    ensemble = EnsembleClassifier.from_members(networks[1:])
    batch = {"spectrum": torch.rand(5, 32, 1)}
    for model in (networks[0].eval(), ensemble.eval()):
        whole = member_samples(model, batch, 40, seed=2)
        blocks = [member_samples(model, batch, 20, seed=2, first_pass=f) for f in (0, 20)]
        joined = [np.concatenate(parts, axis=1) for parts in zip(*blocks)]
        # the same dropout masks; the members' matrix products see other batch sizes, which on some
        # CPUs rounds a float32 last bit differently
        assert all(np.allclose(w, j, rtol=0, atol=1e-6) for w, j in zip(whole, joined))
        assert np.allclose(member_moments(whole), mc_dropout_scores(model, batch, 40, seed=2))
    models = write_untrained_models(tmp_path, seed=3)
    spectra = {"spectrum": torch.rand(12, 64, 1) * torch.linspace(0.2, 1, 64)[None, :, None]}
    checked = set()
    for layers in (None, ["layer1", "layer2a", "layer2b"]):  # untrained gates stop every spectrum
        model_set = load_model_set(models, "S", layers=layers)
        fixed = predict(model_set, spectra, 100, seed=0)
        never_settled = adaptive_predict(model_set, spectra, seed=0, z=1e9)
        assert (never_settled["passes"] == 100).all()
        for layer, classifiers in model_set.layers.items():  # every layer a spectrum reaches
            for c in classifiers:
                run = never_settled[c].notna()
                checked.update([layer] if run.any() else [])
                np.testing.assert_allclose(never_settled.loc[run, c], fixed.loc[run, c], rtol=1e-6)
                np.testing.assert_allclose(never_settled.loc[run, f"{c}_std"], fixed.loc[run, f"{c}_std"], rtol=1e-5)
    assert {"layer0", "layer1"} < checked, checked


def test_a_classifiers_passes_do_not_depend_on_the_others_loaded(tmp_path):
    """A classifier's Monte-Carlo draws come from its class, not its place among the classifiers
    run: a layer scored alone gives the numbers it gives inside the whole hierarchy."""
    from ccsnscore.inference.mc_dropout import classifier_seed, score_table
    from ccsnscore.inference.model_set import load_model_set
    from ccsnscore.testing.toy_models import write_untrained_models

    model_set = load_model_set(write_untrained_models(tmp_path, seed=3), "S")
    spectra = {"spectrum": torch.rand(8, 64, 1, generator=torch.Generator().manual_seed(1))}
    everything = score_table(model_set.classifiers, spectra, 30, seed=4)
    for classifiers in model_set.layers.values():
        alone = score_table(dict(reversed(list(classifiers.items()))), spectra, 30, seed=4)
        for c in classifiers:
            np.testing.assert_array_equal(alone[c], everything[c])
            np.testing.assert_array_equal(alone[f"{c}_std"], everything[f"{c}_std"])
    assert everything.filter(like="_std").gt(0).all().all()
    assert classifier_seed(None, "Ib") is None
    assert len({classifier_seed(0, c) for c in model_set.classifiers}) == len(model_set.classifiers)
    another_seed = score_table(model_set.classifiers, spectra, 30, seed=5)
    assert not np.array_equal(another_seed.to_numpy(), everything.to_numpy())


def test_mc_dropout_in_the_head_only():
    from ccsnscore.model.layers import set_mc_dropout

    torch.manual_seed(0)
    spectrum = {"architecture": "cnn", "conv_dropout": [0.3, 0.3, 0.3, 0.3], "dense_dropout": 0.3}
    everywhere = BinaryClassifier("S", spectrum=spectrum).eval()
    head_only = BinaryClassifier("S", spectrum=spectrum, mc_scope="head").eval()
    head_only.load_state_dict(everywhere.state_dict())
    assert set_mc_dropout(head_only, True, "head") == 1 and set_mc_dropout(head_only, False) == 5
    batch = {"spectrum": torch.rand(20, 64, 1)}
    _, std_all = mc_dropout_scores(everywhere, batch, 50, seed=0)
    _, std_head = mc_dropout_scores(head_only, batch, 50, seed=0)
    assert np.all(std_head > 0) and np.median(std_head) < np.median(std_all)
    with pytest.raises(ValueError, match="mc_scope"):
        BinaryClassifier("S", mc_scope="convs")


@pytest.mark.parametrize("input_case", ["S", "SLD"])
def test_head_only_dropout_runs_the_feature_extractors_once_per_spectrum(input_case):
    """With dropout in the dense heads only, the convolutions and LSTMs run once per spectrum, not
    once per pass, and the passes are those of the whole network run on every repeated row."""
    from ccsnscore.inference.mc_dropout import _mc_mode, content_keys
    from ccsnscore.model.layers import mix64, set_mc_streams, stream_keys

    torch.manual_seed(0)
    spectrum = {"architecture": "cnn", "wavelength_channel": True, "readout_positions": 4, "dense_dropout": 0.3}
    model = BinaryClassifier(input_case, spectrum=spectrum, mc_scope="head").eval()
    with torch.no_grad():
        model.head.weight.mul_(40.0)
    n, n_passes = 5, 12
    batch = {"spectrum": torch.rand(n, 64, 1), "dmdt_r": torch.rand(n, 1, 24, 24), "dmdt_g": torch.rand(n, 1, 24, 24)}
    batch |= {"lc_r": torch.rand(n, 200, 2), "lc_g": torch.rand(n, 200, 2)}
    batch = {k: batch[k] for k in model.channels}
    rows = []
    hooks = [
        encoder.convs[-1].register_forward_hook(lambda m, i, o: rows.append(o.shape[0]))
        for encoder in model.encoders.values()
        if hasattr(encoder, "convs")
    ]
    _, std, samples = mc_dropout_scores(model, batch, n_passes, seed=3, return_samples=True)
    assert rows and set(rows) == {n}, "the feature extractors ran on repeated rows"
    assert (std > 0).all()
    keys = mix64(content_keys(batch) ^ mix64(torch.tensor(3, dtype=torch.int64)))
    with _mc_mode(model), torch.no_grad():
        set_mc_streams(model, stream_keys(keys, n_passes, 0))
        repeated = {k: v.repeat_interleave(n_passes, dim=0) for k, v in batch.items()}
        whole = torch.sigmoid(model(repeated)).view(n, n_passes).numpy()
        set_mc_streams(model, None)
    for hook in hooks:
        hook.remove()
    np.testing.assert_allclose(samples, whole, rtol=1e-5, atol=1e-6)
