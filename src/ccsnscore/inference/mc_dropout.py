"""Monte-Carlo dropout: many stochastic passes of a classifier -> mean score and its spread.

The dropout-free first part of every encoder (:meth:`BinaryClassifier.encode_deterministic`; with
dropout in the dense heads only, everything before the heads) runs once per sample; only the rest
runs once per pass, on the encoded batch repeated ``n_passes`` times and cut into chunks of about
``chunk_rows`` rows: 200 on a CPU (chunks of 100-250 rows are fastest there), 20,000 on a GPU
(measured on an H100: 11,300 spectra/s per classifier against 5,000 with 2,000-row chunks and 4,800
for a loop of full passes).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from ccsnscore.model.layers import mix64, set_mc_dropout, set_mc_streams, stream_keys

CHUNK_ROWS_CPU = 200
CHUNK_ROWS_GPU = 20_000


class _mc_mode:
    """Context: eval mode with Monte-Carlo dropout on, restoring the model's state on exit."""

    def __init__(self, model: torch.nn.Module):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        set_mc_dropout(self.model, True, getattr(self.model, "mc_scope", "all"))
        return self.model

    def __exit__(self, *exc):
        set_mc_dropout(self.model, False)
        self.model.train(self.was_training)


def _seeded(seed: int | None, device: torch.device):
    devices = [device] if device.type == "cuda" else []
    ctx = torch.random.fork_rng(devices=devices)
    ctx.__enter__()
    if seed is not None:
        torch.manual_seed(seed)
    return ctx


def classifier_seed(seed: int | None, positive: str) -> int | None:
    """The Monte-Carlo seed of the classifier of class ``positive`` in a run of seed ``seed``: from
    the class name, not the classifier's place among those loaded, so a classifier draws the same
    passes whichever other classifiers run beside it (a layer alone, with or without the gate, fixed
    or adaptive passes). ``None`` stays ``None`` (torch's global generator)."""
    return None if seed is None else int(seed) + zlib.crc32(str(positive).encode("utf-8"))


def content_keys(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``(n,)`` int64 keys of the rows of ``batch`` from their content alone (every channel's values,
    in key order): identical inputs get identical keys wherever they stand in a batch."""
    keys = None
    for name in sorted(batch):
        values = batch[name].detach().to("cpu", torch.float32).contiguous()
        bits = values.view(torch.int32).reshape(len(values), -1).to(torch.int64)
        weights = mix64(torch.arange(bits.shape[1], dtype=torch.int64) + 1)
        channel = mix64((bits * weights[None, :]).sum(dim=1))
        keys = channel if keys is None else mix64(keys ^ channel)
    return keys


@torch.no_grad()
def mc_dropout_scores(
    model,
    batch: Mapping[str, torch.Tensor],
    n_passes: int = 100,
    chunk_rows: int | None = None,
    seed: int | None = 0,
    return_samples: bool = False,
    row_keys: torch.Tensor | None = None,
    first_pass: int = 0,
):
    """Scores of ``n_passes`` stochastic passes for every sample of ``batch``.

    ``batch``: the model's input channels (``{channel: (n, ...)}``). Returns ``(mc_mean, mc_std)``,
    each ``(n,)`` float numpy arrays of the positive-class probability (std with ``ddof=0``);
    with ``return_samples`` also the ``(n, n_passes)`` probabilities.

    With a ``seed``, the dropout masks of a row come from a random stream fixed by ``seed`` and the
    row's key (``row_keys`` ``(n,)`` int64; default :func:`content_keys`), so a spectrum gets the
    same numbers alone, in any batch and with any chunk size. ``seed=None`` draws from torch's
    global generator instead. ``first_pass``: the passes are ``first_pass .. first_pass + n_passes -
    1`` of those streams, so passes drawn in blocks are those of one call with all of them.
    """
    device = next(model.parameters()).device
    inputs = {name: batch[name].to(device) for name in model.channels}
    if getattr(model, "members", None) is not None or getattr(model, "tree", None) is not None:
        # a deep ensemble (passes shared out among members) or a network + tree blend (each pass
        # moved by the trees): drawn per member
        parts = member_samples(model, inputs, n_passes, chunk_rows, seed, row_keys, first_pass)
        mc_mean, mc_std = member_moments(parts)
        if return_samples:  # each member's passes moved onto the ensemble mean: their spread is the std
            centred = [p - np.nanmean(p, axis=1, keepdims=True) + mc_mean[:, None] for p in parts if p.shape[1]]
            return mc_mean, mc_std, np.concatenate(centred, axis=1).astype(np.float32)
        return mc_mean, mc_std
    n = next(iter(inputs.values())).shape[0]
    probabilities = torch.empty((n, n_passes), dtype=torch.float32)
    if chunk_rows is None:
        chunk_rows = CHUNK_ROWS_GPU if device.type == "cuda" else CHUNK_ROWS_CPU
    samples_per_chunk = max(1, chunk_rows // n_passes)
    keys = None
    if seed is not None:
        keys = content_keys(inputs) if row_keys is None else torch.as_tensor(row_keys, dtype=torch.int64)
        keys = mix64(keys ^ mix64(torch.tensor(int(seed), dtype=torch.int64))).to(device)
    try:
        with _mc_mode(model):
            for start in range(0, n, samples_per_chunk):
                stop = min(start + samples_per_chunk, n)
                encoded = model.encode_deterministic({k: v[start:stop] for k, v in inputs.items()})
                repeated = {k: v.repeat_interleave(n_passes, dim=0) for k, v in encoded.items()}
                if keys is not None:
                    set_mc_streams(model, stream_keys(keys[start:stop], n_passes, first_pass))
                logits = model.forward_stochastic(repeated).view(stop - start, n_passes)
                probabilities[start:stop] = torch.sigmoid(logits).float().cpu()
    finally:
        set_mc_streams(model, None)
    return _summarise(probabilities, return_samples)


def member_samples(
    model,
    batch: Mapping[str, torch.Tensor],
    n_passes: int,
    chunk_rows: int | None = None,
    seed: int | None = 0,
    row_keys: torch.Tensor | None = None,
    first_pass: int = 0,
) -> list[np.ndarray]:
    """The probabilities of passes ``first_pass .. first_pass + n_passes - 1``, one ``(n, k)`` array
    per member of a deep ensemble (pass ``j`` goes to member ``j mod members`` as its pass ``j //
    members``; each member has its own random streams), or one array for a single network."""
    if getattr(model, "tree", None) is not None:  # a network + tree blend: each member's passes moved alike
        inputs = {name: batch[name].to(next(model.parameters()).device) for name in model.channels}
        weight, trees = model.tree_weight, model.tree_proba(inputs).cpu().numpy()
        parts = member_samples(model.network, inputs, n_passes, chunk_rows, seed, row_keys, first_pass)
        return [((1.0 - weight) * p + weight * trees[:, None]).astype(np.float32) for p in parts]
    members = getattr(model, "members", None)
    if members is None:
        return [mc_dropout_scores(model, batch, n_passes, chunk_rows, seed, True, row_keys, first_pass)[2]]
    inputs = {name: batch[name] for name in model.channels}
    keys = None if seed is None else (content_keys(inputs) if row_keys is None else torch.as_tensor(row_keys))
    n = next(iter(inputs.values())).shape[0]
    parts = []
    for m, member in enumerate(members):
        passes = range(first_pass + (m - first_pass) % len(members), first_pass + n_passes, len(members))
        member_seed = None if seed is None else seed + 7919 * m
        if len(passes):
            local_first = passes[0] // len(members)
            drawn = mc_dropout_scores(member, inputs, len(passes), chunk_rows, member_seed, True, keys, local_first)
            parts.append(drawn[2])
        else:
            parts.append(np.zeros((n, 0), np.float32))
    return parts


def member_moments(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of a classifier's passes given per member (``(n, k_m)`` arrays; NaN where a
    row has no pass). The mean is over all passes; the spread is the members' own Monte-Carlo
    spread, ``sqrt`` of their pass-weighted mean variance: the scatter between members moves the
    ensemble's mean, which is what ranks the spectra, and is left out of the spread that the
    ambiguity rule compares (with it, a deep ensemble flags several times more spectra as ambiguous
    than one of its members; experiments/ablations/README.md)."""
    counts = [np.isfinite(p).sum(axis=1) for p in parts]
    total = np.maximum(sum(counts), 1)
    sums = [np.nansum(p, axis=1) for p in parts]
    mean = sum(sums) / total
    variance = np.zeros_like(mean)
    for p, c, s in zip(parts, counts, sums):
        if p.shape[1] == 0:
            continue
        mu = s / np.maximum(c, 1)
        variance = variance + np.nansum((p - mu[:, None]) ** 2, axis=1)
    return mean.astype(float), np.sqrt(variance / total).astype(float)


def _summarise(probabilities: torch.Tensor, return_samples: bool):
    mc_mean = probabilities.mean(dim=1).numpy().astype(float)
    mc_std = probabilities.std(dim=1, unbiased=False).numpy().astype(float)
    if return_samples:
        return mc_mean, mc_std, probabilities.numpy()
    return mc_mean, mc_std


@torch.no_grad()
def mc_dropout_scores_naive(model, batch: Mapping[str, torch.Tensor], n_passes: int = 100, seed: int | None = 0):
    """Reference: ``n_passes`` full forward passes of the whole batch with dropout on, the way the
    original CCSNscore does it. Same return as :func:`mc_dropout_scores`; for tests and benchmarks."""
    device = next(model.parameters()).device
    inputs = {name: batch[name].to(device) for name in model.channels}
    rng = _seeded(seed, device)
    try:
        with _mc_mode(model):
            passes = torch.stack([torch.sigmoid(model(inputs)).float().cpu() for _ in range(n_passes)], dim=1)
    finally:
        rng.__exit__(None, None, None)
    return passes.mean(dim=1).numpy().astype(float), passes.std(dim=1, unbiased=False).numpy().astype(float)


def score_table(
    models: Mapping,
    channels: Mapping[str, torch.Tensor],
    n_passes: int = 100,
    seed: int | None = 0,
    chunk_rows: int | None = None,
    index=None,
    progress: bool | None = False,
) -> pd.DataFrame:
    """Monte-Carlo-dropout scores of every classifier in ``models`` (``{positive: model}``).

    ``channels``: model inputs for ``n`` spectra (each model reads its own channels). Returns a
    frame of ``n`` rows with ``<positive>`` and ``<positive>_std`` columns. Each classifier draws
    from :func:`classifier_seed` of its class, so runs repeat exactly and a classifier's scores do
    not depend on the others in ``models``. ``progress``: a bar over the classifiers
    (None: only on a terminal).
    """
    columns = {}
    items = list(models.items())
    if progress is not False:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="MC dropout", unit="classifier", disable=None if progress is None else False)
    for positive, model in items:
        mean, std = mc_dropout_scores(model, channels, n_passes, chunk_rows, classifier_seed(seed, positive))
        columns[positive], columns[f"{positive}_std"] = mean, std
    return pd.DataFrame(columns, index=index)


@torch.no_grad()
def eval_score_table(models: Mapping, channels: Mapping[str, torch.Tensor], index=None) -> pd.DataFrame:
    """One deterministic pass (dropout off) of every classifier: ``<positive>`` and
    ``<positive>_std`` (zero) columns, for comparing Monte-Carlo dropout with plain inference."""
    columns = {}
    for positive, model in models.items():
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        columns[positive] = (
            model.predict_proba({k: v.to(device) for k, v in channels.items()}).cpu().numpy().astype(float)
        )
        model.train(was_training)
        columns[f"{positive}_std"] = 0.0
    return pd.DataFrame(columns, index=index)
