"""MC dropout, encoders, the binary classifier and its self-describing files (CPU, tiny inputs)."""

from __future__ import annotations

import json

import pytest
import torch

from ccsnscore.model.checkpoints import classifier_metadata, load_classifier, save_classifier
from ccsnscore.model.encoders import DmdtEncoder, LightCurveEncoder, SpectrumCNNEncoder, SpectrumEncoder
from ccsnscore.model.layers import MCDropout, compact_nonzero, keras_init_, set_mc_dropout
from ccsnscore.model.network import BinaryClassifier
from ccsnscore.training.module import ClassifierModule

CASES = ("S", "SL", "SD", "SLD")


def random_batch(input_case: str, n: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Model inputs with padding like the real data: spectra zero outside a coverage, light curves
    zero before/after their detections, one light curve (band g of row 1) fully missing."""
    g = torch.Generator().manual_seed(seed)
    spectrum = torch.randn(n, 256, 1, generator=g)
    spectrum[0, :20] = 0
    spectrum[1, 230:] = 0
    batch = {"spectrum": spectrum, "label": (torch.arange(n) % 2).float()}
    for band in ("r", "g"):
        lc = torch.rand(n, 200, 2, generator=g) + 0.1
        lc[:, 120:] = 0
        lc[2, :15] = 0
        if band == "g":
            lc[1] = 0
        batch[f"lc_{band}"] = lc
        batch[f"dmdt_{band}"] = torch.rand(n, 1, 24, 24, generator=g)
    return batch


# -- MC dropout ---------------------------------------------------------------------------------
def test_mc_dropout_off_in_eval_unless_flag():
    layer = MCDropout(0.5)
    x = torch.ones(1000)
    layer.eval()
    assert torch.equal(layer(x), x)
    assert set_mc_dropout(layer, True) == 1 and layer.mc
    y = layer(x)
    assert not torch.equal(y, x)
    assert set(y.unique().tolist()) <= {0.0, 2.0}  # kept values scaled by 1 / (1 - p)
    assert 0.4 < (y == 0).float().mean() < 0.6
    set_mc_dropout(layer, False)
    assert torch.equal(layer(x), x)
    layer.train()
    assert not torch.equal(layer(x), x)
    assert torch.equal(MCDropout(0.0).train()(x), x)
    with pytest.raises(ValueError):
        MCDropout(1.0)


def test_set_mc_dropout_reaches_every_dropout_of_a_model():
    model = BinaryClassifier("SLD")
    n_dropout = sum(isinstance(m, MCDropout) for m in model.modules())
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert set_mc_dropout(model, True) == n_dropout > 10
    assert all(m.mc for m in model.modules() if isinstance(m, MCDropout))


def test_compact_nonzero_moves_valid_steps_to_front():
    x = torch.zeros(3, 6, 2)
    x[0, 2:5] = torch.arange(1.0, 7.0).view(3, 2)
    x[1, :] = 1.0
    compact, lengths = compact_nonzero(x)
    assert lengths.tolist() == [3, 6, 0]
    assert compact.shape == (3, 6, 2)
    assert torch.equal(compact[0, :3], x[0, 2:5]) and torch.all(compact[0, 3:] == 0)
    assert torch.all(compact[2] == 0)


def test_keras_init_sets_forget_bias_and_orthogonal_recurrent_kernels():
    lstm = keras_init_(torch.nn.LSTM(3, 4, batch_first=True))
    assert torch.equal(lstm.bias_ih_l0, torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8))
    assert torch.all(lstm.bias_hh_l0 == 0)
    w = lstm.weight_hh_l0  # (16, 4): orthonormal columns
    assert torch.allclose(w.T @ w, torch.eye(4), atol=1e-5)
    model = BinaryClassifier("S")
    assert torch.all(model.head.bias == 0)
    with pytest.raises(ValueError):
        BinaryClassifier("S", init="glorot")


# -- encoders -----------------------------------------------------------------------------------
ENCODERS = [
    (SpectrumEncoder, lambda b: b["spectrum"]),
    (LightCurveEncoder, lambda b: b["lc_g"]),
    (DmdtEncoder, lambda b: b["dmdt_r"]),
    (SpectrumCNNEncoder, lambda b: b["spectrum"]),
    (lambda: SpectrumCNNEncoder(recurrent_units=6), lambda b: b["spectrum"]),
]


@pytest.mark.parametrize("encoder_cls, pick", ENCODERS)
def test_forward_is_stochastic_after_deterministic(encoder_cls, pick):
    torch.manual_seed(0)
    encoder = encoder_cls().eval()
    x = pick(random_batch("SLD"))
    h = encoder.forward_deterministic(x)
    assert isinstance(h, torch.Tensor) and h.shape[0] == x.shape[0]
    out = encoder(x)
    assert out.shape == (x.shape[0], 8)
    assert torch.allclose(out, encoder.forward_stochastic(h), atol=1e-6)
    assert torch.allclose(out, encoder.head_code(encoder.head_input(x)), atol=1e-6)
    # repeated along the batch (as the MC evaluator does): dropout off -> identical rows
    repeated = encoder.forward_stochastic(h.repeat_interleave(3, 0))
    assert torch.allclose(repeated, out.repeat_interleave(3, 0), atol=1e-6)
    # MC dropout on: the same seed gives the same passes, passes differ from each other
    set_mc_dropout(encoder, True)
    torch.manual_seed(1)
    a = encoder(x)
    torch.manual_seed(1)
    b = encoder.forward_stochastic(encoder.forward_deterministic(x))
    assert torch.allclose(a, b, atol=1e-6)
    passes = encoder.forward_stochastic(h.repeat_interleave(4, 0)).view(x.shape[0], 4, -1)
    assert (passes.std(dim=1) > 0).any()


def test_light_curve_masking_ignores_zero_padding():
    """Leading / trailing zero days change nothing (Keras Masking); a missing band is a constant."""
    torch.manual_seed(0)
    encoder = LightCurveEncoder().eval()
    data = torch.rand(1, 40, 2) + 0.1
    plain = torch.zeros(1, 200, 2)
    plain[0, :40] = data[0]
    shifted = torch.zeros(1, 200, 2)
    shifted[0, 25:65] = data[0]
    assert torch.allclose(encoder(plain), encoder(shifted), atol=1e-6)
    short = encoder(data)  # no padding at all
    assert torch.allclose(encoder(plain), short, atol=1e-6)
    empty = encoder(torch.zeros(2, 200, 2))
    assert torch.allclose(empty, torch.relu(encoder.out.bias).expand(2, -1))


def test_spectrum_masking_matches_unpadded_bidirectional_run():
    torch.manual_seed(0)
    encoder = SpectrumEncoder().eval()
    flux = torch.randn(1, 200, 1)
    padded = torch.zeros(1, 256, 1)
    padded[0, 30:230] = flux[0]
    assert torch.allclose(encoder(padded), encoder(flux), atol=1e-6)
    unmasked = SpectrumEncoder(mask_zeros=False).eval()
    unmasked.load_state_dict(encoder.state_dict())
    assert not torch.allclose(unmasked(padded), encoder(padded), atol=1e-4)


def test_encoder_sizes_are_overridable():
    enc = SpectrumEncoder(lstm_units=[8], lstm_dropout=[0.3], dense_units=[], out_features=4).eval()
    assert enc(torch.randn(2, 256, 1)).shape == (2, 4)
    dm = DmdtEncoder(input_shape=(12, 16), conv_channels=[4, 4, 2], conv_dropout=0.2, out_features=3)
    assert dm(torch.rand(2, 1, 12, 16)).shape == (2, 3)
    lc = LightCurveEncoder(lstm_units=[6, 6], lstm_dropout=[0.1, 0.2], dense_units=[5])
    assert lc(torch.rand(2, 200, 2)).shape == (2, 8)
    with pytest.raises(ValueError):
        LightCurveEncoder(lstm_units=[6, 6], lstm_dropout=[0.1])


# -- classifier ---------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
@pytest.mark.parametrize("input_case", CASES)
def test_classifier_channels_and_stochastic_split(input_case):
    torch.manual_seed(0)
    model = BinaryClassifier(input_case).eval()
    batch = random_batch(input_case)
    expected = {
        "S": ["spectrum"],
        "SL": ["spectrum", "lc_r", "lc_g"],
        "SD": ["spectrum", "dmdt_r", "dmdt_g"],
        "SLD": ["spectrum", "lc_r", "lc_g", "dmdt_r", "dmdt_g"],
    }[input_case]
    assert list(model.encoders) == model.channels == expected
    logits = model(batch)
    assert logits.shape == (5,)
    encoded = model.encode_deterministic(batch)
    assert set(encoded) == set(expected)
    assert torch.allclose(model.forward_stochastic(encoded), logits, atol=1e-6)
    repeated = {k: v.repeat_interleave(2, 0) for k, v in encoded.items()}
    assert torch.allclose(model.forward_stochastic(repeated), logits.repeat_interleave(2), atol=1e-6)
    proba = model.predict_proba(batch)
    assert torch.allclose(proba, torch.sigmoid(logits)) and not proba.requires_grad
    module = ClassifierModule(input_case)
    module.network.load_state_dict(model.state_dict())
    loss = module.training_step(batch, 0)
    loss.backward()
    assert all(p.grad is not None for p in module.parameters() if p.requires_grad)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = BinaryClassifier("SLD", spectrum={"lstm_units": [12, 8], "lstm_dropout": [0.5, 0.1]})
    with torch.no_grad():  # move the weights away from a fresh initialisation
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    split = tmp_path / "split.csv"
    split.write_text("name,type\nZTF1,II\nZTF2,Ic\n")
    path = save_classifier(
        tmp_path / "models" / "layer1" / "SLD" / "Hrich.pt",
        model,
        layer="layer1",
        positive="Hrich",
        label_map={"Hrich": ["II"], "Hpoor": ["Ic"]},
        preprocessing={"spectrum": {"wave_min": 4200.0, "wave_max": 9200.0, "n_wave": 256}},
        manifest={"dataset_fingerprint": "abc", "cache_key": "def", "data_root": "/x"},
        test_split_file=split,
        metrics={"val/auroc": torch.tensor(0.9)},
    )
    assert path.stat().st_size < 1_000_000
    batch = random_batch("SLD")
    model.eval()
    expected = model.predict_proba(batch)
    loaded = load_classifier(path)
    assert not loaded.training
    assert torch.equal(loaded.predict_proba(batch), expected)
    assert torch.equal(loaded.predict_proba(batch), expected)  # dropout off: no randomness
    by_name = load_classifier("layer1/SLD/Hrich", model_dir=tmp_path / "models")
    assert torch.equal(by_name.predict_proba(batch), expected)
    meta = classifier_metadata(path)
    assert meta == json.loads(path.with_suffix(".json").read_text())
    assert meta["input_case"] == "SLD" and meta["channels"] == list(model.channels)
    assert meta["hparams"]["spectrum"]["lstm_units"] == [12, 8]
    assert meta["layer"] == "layer1" and meta["positive"] == "Hrich"
    assert meta["label_map"] == {"Hrich": ["II"], "Hpoor": ["Ic"]}
    assert len(meta["wavelength_grid"]) == 256 and meta["wavelength_grid"][0] == 4200.0
    assert meta["dataset"]["fingerprint"] == "abc" and meta["dataset"]["cache_key"] == "def"
    assert meta["test_split"]["names"] == ["ZTF1", "ZTF2"] and len(meta["test_split"]["sha256"]) == 64
    assert meta["metrics"]["val/auroc"] == pytest.approx(0.9)
    assert {"ccsnscore", "torch"} <= set(meta["versions"]) and meta["created"]
    assert meta["weights_sha256"] and len(meta["weights_sha256"]) == 64
    with pytest.raises(FileNotFoundError):
        load_classifier("layer9/S/Nothing")


def test_an_exported_classifier_names_no_path_of_its_training_machine(tmp_path):
    from ccsnscore.model.checkpoints import export_classifier

    run = tmp_path / "run"
    checkpoint = run / "checkpoints" / "layer1" / "S" / "Hrich" / "round_1" / "epoch_012.ckpt"
    path = save_classifier(
        run / "classifiers" / "layer1" / "S" / "Hrich.pt",
        BinaryClassifier("S", spectrum={"lstm_units": [4, 4]}),
        layer="layer1",
        positive="Hrich",
        label_map={"Hrich": ["II"], "Hpoor": ["Ic"]},
        preprocessing={"spectrum": {"n_wave": 64}},
        training={"rounds": [{"best_model_path": str(checkpoint.resolve())}], "note": "/elsewhere/kept"},
    )
    target = export_classifier(path, tmp_path / "ship" / "layer1" / "S" / "Hrich.pt", run)
    meta = classifier_metadata(target)
    assert meta["training"]["rounds"][0]["best_model_path"] == "checkpoints/layer1/S/Hrich/round_1/epoch_012.ckpt"
    assert meta["training"]["note"] == "/elsewhere/kept"  # only paths inside the run are rewritten
    assert str(tmp_path) not in target.with_suffix(".json").read_text()
    assert meta["weights_sha256"] == classifier_metadata(path)["weights_sha256"]
    batch = random_batch("S")
    assert torch.equal(load_classifier(target).predict_proba(batch), load_classifier(path).predict_proba(batch))


def assert_round_trips(model, folder):
    """``model`` saved as a layer-1 case-S classifier file and read back scores as before."""
    path = save_classifier(
        folder / "layer1" / "S" / "Hrich.pt",
        model,
        layer="layer1",
        positive="Hrich",
        label_map={"Hrich": ["II"], "Hpoor": ["Ic"]},
        preprocessing={},
    )
    batch = random_batch("S")
    assert torch.equal(load_classifier(path).predict_proba(batch), model.eval().predict_proba(batch))


def test_cnn_spectrum_encoder_is_chosen_by_architecture_and_round_trips(tmp_path):
    torch.manual_seed(0)
    model = BinaryClassifier(
        "S",
        spectrum={"architecture": "cnn", "conv_channels": [8, 8], "kernel_sizes": [5, 3], "conv_dropout": [0.2, 0.1]},
    )
    assert isinstance(model.encoders["spectrum"], SpectrumCNNEncoder)
    assert_round_trips(model, tmp_path)
    with pytest.raises(ValueError, match="architecture"):
        BinaryClassifier("S", spectrum={"architecture": "transformer"})


def test_cnn_encoder_sees_coverage_not_only_zeros():
    """Zero flux with and without coverage differ: the mask is an input channel."""
    torch.manual_seed(0)
    encoder = SpectrumCNNEncoder(conv_dropout=0.0).eval()
    x = torch.randn(1, 128, 1)
    cut = x.clone()
    cut[:, :40] = 0
    h_full, h_cut = encoder.forward_deterministic(x), encoder.forward_deterministic(cut)
    assert h_full.shape == (1, 32, 64)
    assert not torch.allclose(h_full, h_cut)


def test_class_weights_balance_the_loss():
    torch.manual_seed(0)
    model = ClassifierModule("S", spectrum={"lstm_units": [4, 4]})
    batch = random_batch("S", n=6)
    batch["label"] = torch.tensor([1.0, 0, 0, 0, 0, 0])
    plain, _ = model._loss(batch)
    model.class_weight = (6 / 10, 6 / 2)
    weighted, logits = model._loss(batch)
    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["label"], reduction="none")
    expected = (per_sample * torch.tensor([3.0, 0.6, 0.6, 0.6, 0.6, 0.6])).mean()
    assert torch.allclose(weighted, expected) and not torch.allclose(weighted, plain)


def test_sample_weights_multiply_the_class_weights():
    torch.manual_seed(0)
    model = ClassifierModule("S", spectrum={"lstm_units": [4, 4]})
    batch = random_batch("S", n=4)
    batch["label"] = torch.tensor([1.0, 1, 0, 0])
    batch["weight"] = torch.tensor([3.0, 1, 3, 1])
    model.class_weight = (0.5, 2.0)
    weighted, logits = model._loss(batch)
    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["label"], reduction="none")
    assert torch.allclose(weighted, (per_sample * torch.tensor([6.0, 2.0, 1.5, 0.5])).mean())


def test_cnn_continuum_channel_removes_a_smooth_continuum():
    encoder = SpectrumCNNEncoder(continuum_window=9).eval()
    x = torch.linspace(0.2, 1.0, 64).repeat(2, 1).unsqueeze(-1)
    x[:, :5] = 0
    mask = (x != 0).any(-1, keepdim=True).float()
    flat = (x - encoder._continuum(x, mask)) * mask
    assert flat[:, 10:-10].abs().max() < 1e-5  # a straight continuum is removed inside the coverage
    assert encoder.convs[0].in_channels == 3
    assert encoder.forward_deterministic(x).shape == (2, 32, 32)
    with pytest.raises(ValueError, match="odd"):
        SpectrumCNNEncoder(continuum_window=4)


def test_cnn_lstm_hybrid_reads_the_order_of_the_features_and_round_trips(tmp_path):
    torch.manual_seed(0)
    spectrum = {
        "architecture": "cnn",
        "conv_channels": [8, 8],
        "kernel_sizes": [5, 3],
        "conv_dropout": 0.1,
        "recurrent_units": 4,
    }
    model = BinaryClassifier("S", spectrum=spectrum)
    encoder = model.encoders["spectrum"]
    assert encoder.lstm.hidden_size == 4 and encoder.lstm.bidirectional
    assert_round_trips(model, tmp_path)
    # with one convolution block, pooled features alone do not see their order along the spectrum;
    # the LSTM does
    h = torch.rand(2, 8, 16)
    pooled = SpectrumCNNEncoder(conv_channels=[8], kernel_sizes=[5], conv_dropout=0.1).eval()
    hybrid = SpectrumCNNEncoder(conv_channels=[8], kernel_sizes=[5], conv_dropout=0.1, recurrent_units=4).eval()
    assert torch.allclose(pooled.forward_stochastic(h), pooled.forward_stochastic(h.flip(-1)), atol=1e-6)
    assert not torch.allclose(hybrid.forward_stochastic(h), hybrid.forward_stochastic(h.flip(-1)), atol=1e-4)
    with pytest.raises(ValueError, match="recurrent_units"):
        SpectrumCNNEncoder(recurrent_units=-1)


def test_cnn_wavelength_channel_lets_pooled_features_depend_on_where_a_line_is(tmp_path):
    torch.manual_seed(0)
    settings = {"conv_channels": [8], "kernel_sizes": [5], "conv_dropout": 0.0, "dense_dropout": 0.0}
    plain = SpectrumCNNEncoder(**settings).eval()
    placed = SpectrumCNNEncoder(**settings, wavelength_channel=True).eval()
    assert (plain.convs[0].in_channels, placed.convs[0].in_channels) == (2, 3)
    # the same line at two places of a flat spectrum: the same code without the channel, not with it
    x = torch.full((2, 64, 1), 0.5)
    x[0, 10:13] = 1.0
    x[1, 40:43] = 1.0
    with torch.no_grad():
        assert torch.allclose(plain(x)[0], plain(x)[1], atol=1e-6)
        assert not torch.allclose(placed(x)[0], placed(x)[1], atol=1e-4)
    model = BinaryClassifier("S", spectrum={"architecture": "cnn", **settings, "wavelength_channel": True})
    assert model.encoders["spectrum"].wavelength_channel
    assert_round_trips(model, tmp_path)
    with pytest.raises(ValueError, match="wavelength_channel"):
        SpectrumCNNEncoder(wavelength_channel="yes")


def test_cnn_positional_readout_tells_where_a_line_is_for_any_spectrum_length(tmp_path):
    torch.manual_seed(0)
    settings = {"conv_channels": [8, 8], "kernel_sizes": [5, 3], "conv_dropout": 0.0, "dense_dropout": 0.0}
    plain = SpectrumCNNEncoder(**settings).eval()
    placed = SpectrumCNNEncoder(**settings, readout_positions=4).eval()
    assert placed.dense[0].in_features == (2 + 4) * 8
    x = torch.full((2, 64, 1), 0.5)
    x[0, 8:11] = 1.0  # both lines on the same place of the pooling grid
    x[1, 40:43] = 1.0
    with torch.no_grad():
        assert torch.allclose(plain(x)[0], plain(x)[1], atol=1e-6)
        assert not torch.allclose(placed(x)[0], placed(x)[1], atol=1e-4)
        # the readout does not depend on the number of wavelength points
        assert placed(torch.full((3, 128, 1), 0.5)).shape == placed(torch.full((3, 50, 1), 0.5)).shape == (3, 8)
    model = BinaryClassifier("S", spectrum={"architecture": "cnn", **settings, "readout_positions": 4})
    assert model.encoders["spectrum"].readout_positions == 4
    assert_round_trips(model, tmp_path)
    for bad in (-1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="readout_positions"):
            SpectrumCNNEncoder(readout_positions=bad)


def test_mixup_mixes_channels_labels_and_weights_with_one_share_and_partner():
    torch.manual_seed(0)
    model = ClassifierModule("S", spectrum={"lstm_units": [4, 4]}, mixup=0.4)
    n = 16
    index = torch.arange(n, dtype=torch.float32)
    batch = {
        "spectrum": index.view(n, 1, 1).expand(n, 8, 1).clone(),
        "label": index / (n - 1),
        "weight": index + 1,
    }
    mixed = model.mixed(batch)
    value = mixed["spectrum"][:, 0, 0]
    assert torch.allclose(mixed["spectrum"], value.view(n, 1, 1).expand(n, 8, 1))  # one share per sample
    assert torch.allclose(mixed["label"], value / (n - 1))  # the same share and partner for the label
    assert torch.allclose(mixed["weight"], value + 1)  # ... and for the weight
    assert (value != index).sum() >= n // 2  # samples were mixed
    # each sample stays mostly itself: nearer its own value than any other row's is to it
    assert ((value - index).abs() <= (n - 1) / 2 + 1e-6).all()
    assert torch.equal(batch["label"], index / (n - 1))  # the batch given is not changed


def test_mixup_off_trains_on_the_batch_as_given():
    torch.manual_seed(0)
    model = ClassifierModule("S", spectrum={"lstm_units": [4, 4]})
    batch = random_batch("S", n=4)
    batch["label"] = torch.tensor([1.0, 1, 0, 0])
    model.log = lambda *args, **kwargs: None
    model.eval()  # no dropout: the loss depends on the batch only
    assert torch.allclose(model.training_step(batch, 0), model._loss(batch)[0])
    mixing = ClassifierModule("S", spectrum={"lstm_units": [4, 4]}, mixup=1.0)
    mixing.load_state_dict(model.state_dict())
    mixing.log = model.log
    mixing.eval()
    assert not torch.allclose(mixing.training_step(batch, 0), model._loss(batch)[0])


@pytest.mark.parametrize("value", [-1, "abc", float("nan"), None])
def test_mixup_option_is_checked(value):
    with pytest.raises(ValueError, match="model.mixup must be a number >= 0"):
        ClassifierModule("S", mixup=value)
