"""LightningDataModule: channels of one binary task and input case from the cached arrays."""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ccsnscore.data.augment import synthesize
from ccsnscore.data.batch_augment import SpectrumAugmentation
from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.channels import build_channels, channel_names
from ccsnscore.data.config import SEDM_SOURCE, PreprocessingConfig
from ccsnscore.data.labels import binary_labels, label_status, layer_class_of
from ccsnscore.data.splits import load_or_create_test_split, split_mask, validation_masks

log = logging.getLogger(__name__)


class ChannelDataset(Dataset):
    """Tensors of the channels plus ``label`` ``(n,)`` and, when given, a loss ``weight`` ``(n,)``
    per sample; a batch is fetched with one slice per key."""

    def __init__(self, channels: dict[str, torch.Tensor], label: np.ndarray, weight: np.ndarray | None = None):
        self.tensors = {**channels, "label": torch.tensor(label, dtype=torch.float32)}
        if weight is not None:
            self.tensors["weight"] = torch.tensor(weight, dtype=torch.float32)
        self.n = len(label)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(indices)
        return {k: v[index] for k, v in self.tensors.items()}


def _number(value, name: str, positive: bool = False) -> float:
    """``value`` as a finite float (positive when asked), or a one-line ``ValueError`` naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (positive and number <= 0):
        raise ValueError(f"{name} must be a {'positive' if positive else 'finite'} number, got {value!r}")
    return number


def _passthrough(batch):
    return batch


class CCSNDataModule(L.LightningDataModule):
    """Train / validation / test data of one binary classifier (``layer``, ``positive``).

    The test split is fixed (``test_split_file``, created on first use); validation is
    ``val_fraction`` of the remaining objects, stratified by label; synthetic samples (``augment``)
    are made from training samples only and join the training split only.

    ``early_weight``: training spectra taken before ``early_phase`` days from maximum light weigh
    this much in the loss (1: every spectrum alike; spectra of unknown phase weigh 1).

    ``train_on_val``: the training split also takes the validation objects (all their spectra); the
    validation split stays as it is but is no longer held out. Used to refit a classifier on every
    labelled spectrum outside the test split once early stopping has fixed its epochs
    (:mod:`ccsnscore.training.refit`).
    """

    def __init__(
        self,
        data_root: str | None,
        cache_dir: str,
        test_split_file: str,
        preprocessing: Any,
        labels: Any,
        layer: str = "layer1",
        positive: str = "Hrich",
        input_case: str = "S",
        test_fraction: float = 0.25,
        test_sources=(SEDM_SOURCE,),
        val_fraction: float = 1 / 3,
        split_seed: int = 42,
        batch_size: int = 64,
        num_workers: int = 0,
        augment: Any = None,
        val_sources=None,
        batch_augment: Any = None,
        prepared: tuple | None = None,
        n_jobs: int = 1,
        train_on_val: bool = False,
        early_weight: float = 1.0,
        early_phase: float = -5.0,
    ):
        super().__init__()
        self.data_root, self.cache_dir, self.test_split_file = data_root, cache_dir, test_split_file
        self.preprocessing, self.labels = PreprocessingConfig.from_dict(preprocessing), labels
        self.prepared, self.n_jobs = prepared, int(n_jobs)
        self.layer, self.positive, self.input_case = layer, positive, input_case
        self.test_fraction, self.test_sources = test_fraction, tuple(test_sources)
        self.val_fraction, self.split_seed = val_fraction, split_seed
        self.batch_size, self.num_workers = batch_size, num_workers
        self.augment = dict(augment or {})
        self.val_sources = tuple(val_sources) if val_sources else None
        self.train_on_val = bool(train_on_val)
        self.early_weight = _number(early_weight, "data.early_weight", positive=True)
        self.early_phase = _number(early_phase, "data.early_phase")
        spectrum_cfg = self.preprocessing.spectrum
        self.batch_augment = SpectrumAugmentation.from_config(
            batch_augment,
            wave_min=spectrum_cfg.wave_min,
            wave_max=spectrum_cfg.wave_max,
            resolution=spectrum_cfg.target_resolution,
        )
        channel_names(input_case)  # fail early on an unknown case
        self.train_subset: np.ndarray | None = None  # indices into train set (balanced rounds)
        self.manifest: dict = {}

    # -- data preparation -------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Build the cache when it is missing (nothing to do with ``prepared`` arrays given)."""
        if self.prepared is None:
            self.prepared = load_or_prepare(self.data_root, self.cache_dir, self.preprocessing, self.n_jobs)

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "_ready", False):
            return
        self.prepare_data()
        ds, self.manifest = self.prepared
        self.bands = ds.bands
        samples = ds.samples
        status = label_status(samples["type"], self.labels["unclassified"])
        self.label_counts = status.value_counts().to_dict()
        test_names = load_or_create_test_split(
            self.test_split_file, samples[status == "ok"], self.test_fraction, self.split_seed, self.test_sources
        )
        layer_classes = {k: list(v) for k, v in self.labels["layers"][self.layer].items()}
        self.layer_classes = layer_classes
        in_layer, y = binary_labels(samples["type"], layer_classes, self.positive)
        in_layer = in_layer & (status == "ok").to_numpy()
        y = binary_labels(samples["type"][in_layer], layer_classes, self.positive)[1]
        rows = np.flatnonzero(in_layer)
        task = samples.iloc[rows].reset_index(drop=True).assign(label=y)
        is_test = split_mask(task["name"], test_names)
        # stratified by the layer's class, not by the binary label: every classifier of a layer
        # then shares one validation split
        layer_class = layer_class_of(task["type"], layer_classes)
        is_val, is_train = validation_masks(
            task, layer_class, is_test, self.val_fraction, self.split_seed, self.val_sources
        )
        if self.train_on_val:
            is_train = ~is_test
        arrays = {k: getattr(ds, k)[rows] for k in ("spectrum", "lc", "lc_mag", "dmdt")}
        self.tables = {
            "train": task[is_train].reset_index(drop=True),
            "val": task[is_val].reset_index(drop=True),
            "test": task[is_test].reset_index(drop=True),
        }
        self.arrays = {
            split: {k: v[mask] for k, v in arrays.items()}
            for split, mask in (("train", is_train), ("val", is_val), ("test", is_test))
        }
        if self.augment.get("enabled", False):
            self._add_synthetic()
        self.datasets = {
            split: ChannelDataset(
                build_channels(self.arrays[split], self.input_case, self.bands),
                self.tables[split]["label"].to_numpy(),
                self.sample_weight() if split == "train" and self.early_weight != 1.0 else None,
            )
            for split in self.tables
        }
        self._ready = True
        log.info("%s/%s case %s: %s", self.layer, self.positive, self.input_case, self.summary().to_dict())

    def _synthetic_counts(self) -> dict[str, int]:
        request = self.augment.get("n_per_type") or {}
        if request == "balance":
            train = self.tables["train"]
            cls_of = {t: c for c, ts in self.layer_classes.items() for t in ts}
            per_class = train["type"].map(cls_of).value_counts()
            target = per_class.max()
            counts = {}
            for cls, n_cls in per_class.items():
                types = train.loc[train["type"].map(cls_of) == cls, "type"].value_counts()
                for t, n_t in types.items():
                    counts[t] = int(round((target - n_cls) * n_t / n_cls))
            return counts
        return {str(k): int(v) for k, v in dict(request).items()}

    def _add_synthetic(self) -> None:
        if not self.preprocessing.spectrum.rest_frame:
            raise ValueError(
                "augmentation averages rest-frame spectra: it needs preprocessing.spectrum.rest_frame=true"
            )
        train, arrays = self.tables["train"], self.arrays["train"]
        rng = np.random.default_rng(self.augment.get("seed", 0))
        new_tables, new_arrays = [], []
        for sn_type, n in self._synthetic_counts().items():
            members = np.flatnonzero((train["type"] == sn_type).to_numpy())
            if n <= 0:
                continue
            if members.size < 2:
                log.warning("cannot synthesize %s: %d training samples", sn_type, members.size)
                continue
            phase = (
                pd.to_numeric(train["phase"].iloc[members], errors="coerce").to_numpy()
                if "phase" in train
                else np.full(members.size, np.nan)
            )
            synth = synthesize(
                arrays["spectrum"][members],
                arrays["lc_mag"][members],
                train["z"].iloc[members].to_numpy(float),
                phase,
                train["name"].iloc[members].to_numpy(),
                n,
                rng,
                self.bands,
                self.augment.get("early_fraction", 0.3),
                self.augment.get("nebular_phase", 100.0),
                self.preprocessing.dmdt.dm_edges,
                self.preprocessing.dmdt.dt_edges,
                coverage=self.augment.get("coverage", "intersection"),
            )
            parents = train.iloc[members[synth.parents[:, 0]]].reset_index(drop=True)
            new_tables.append(
                pd.DataFrame(
                    {
                        "name": [f"synthetic:{sn_type}:{k}" for k in range(n)],
                        "type": sn_type,
                        "z": synth.z,
                        "source": "synthetic",
                        "label": parents["label"].to_numpy(),
                        "specfilename": "",
                        "row": -1,
                    }
                )
            )
            new_arrays.append(
                {
                    "spectrum": synth.spectrum,
                    "lc": synth.lc,
                    "dmdt": synth.dmdt,
                    "lc_mag": np.full(synth.lc.shape, np.nan, np.float32),
                }
            )
        if new_tables:
            self.tables["train"] = pd.concat([train, *new_tables], ignore_index=True)
            self.arrays["train"] = {k: np.concatenate([arrays[k]] + [a[k] for a in new_arrays]) for k in arrays}

    # -- information ------------------------------------------------------------------------
    def summary(self) -> pd.DataFrame:
        """Counts of samples, objects and positives per split (synthetic samples counted apart)."""
        rows = []
        for split, table in self.tables.items():
            synthetic = table["source"] == "synthetic"
            rows.append(
                {
                    "split": split,
                    "samples": int((~synthetic).sum()),
                    "objects": int(table.loc[~synthetic, "name"].nunique()),
                    "positive": int(table.loc[~synthetic, "label"].sum()),
                    "synthetic": int(synthetic.sum()),
                    "synthetic_positive": int(table.loc[synthetic, "label"].sum()),
                }
            )
        return pd.DataFrame(rows).set_index("split")

    def sample_weight(self) -> np.ndarray:
        """Loss weight of each training sample: ``early_weight`` for spectra before
        ``early_phase`` days from maximum, 1 otherwise (unknown phase included)."""
        table = self.tables["train"]
        phase = (
            pd.to_numeric(table["phase"], errors="coerce").to_numpy()
            if "phase" in table
            else np.full(len(table), np.nan)
        )
        return np.where(phase < self.early_phase, self.early_weight, 1.0)

    @property
    def train_labels(self) -> np.ndarray:
        return self.tables["train"]["label"].to_numpy()

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Training batches only: the on-the-fly spectrum augmentation (``batch_augment``)."""
        trainer = getattr(self, "trainer", None)
        if self.batch_augment is not None and trainer is not None and trainer.training and "spectrum" in batch:
            batch = {**batch, "spectrum": self.batch_augment(batch["spectrum"])}
        return batch

    # -- loaders ----------------------------------------------------------------------------
    def _loader(self, dataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=_passthrough,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        dataset = self.datasets["train"]
        if self.train_subset is not None:
            dataset = torch.utils.data.Subset(dataset, self.train_subset.tolist())
        return self._loader(dataset, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["val"], shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["test"], shuffle=False)
