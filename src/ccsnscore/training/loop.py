"""The training loop: the one-vs-rest classifiers of one layer and input case (paper section 4).

For every class of ``labels.layers[data.layer]`` (or ``classifiers``) a classifier is trained with
that class as ``data.positive``: balanced rounds (:func:`ccsnscore.training.sampling.balanced_rounds`), one
Lightning fit per round starting from the previous round's best weights, early stopping on
``val/loss``; the best weights over all rounds are kept and written as a self-describing file
``<run_dir>/classifiers/<layer>/<case>/<positive>.pt`` (:mod:`ccsnscore.model.checkpoints`).
``<run_dir>`` also holds one TensorBoard run per classifier (``tensorboard/<layer>_<case>/<positive>``),
the Lightning checkpoints of every round (``checkpoints/...``) and ``metrics.json``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf, open_dict

from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.model.checkpoints import classifier_metadata, classifier_path, save_classifier
from ccsnscore.training.callbacks import EpochSummary, LearningRateHistory
from ccsnscore.training.refit import refit_classifier
from ccsnscore.training.sampling import balanced_rounds, class_weight

log = logging.getLogger("ccsnscore.training")
SUMMARY_KEYS = ("val/loss_best", "val/loss", "val/auroc", "val/acc")
PATH_KEYS = ("data_root", "cache_dir", "test_split_file")
"""Data settings that are machine paths: not recorded in model files."""


def resolve_run_dir(cfg: DictConfig) -> Path:
    """The run directory: ``ckpt_resume``, else ``run_dir``, else Hydra's, else a new dated one."""
    if cfg.get("ckpt_resume"):
        return Path(cfg.ckpt_resume)
    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return Path(cfg.paths.output_dir) / "train" / str(cfg.task_name) / stamp


def _instantiate_callbacks(cfg: DictConfig, checkpoint_dir: Path, label: str) -> list[Callback]:
    callbacks: list[Callback] = [EpochSummary(label)]
    for cb_cfg in (cfg.get("callbacks") or {}).values():
        if not isinstance(cb_cfg, DictConfig) or "_target_" not in cb_cfg:
            continue
        extra = {"dirpath": str(checkpoint_dir)} if "dirpath" in cb_cfg else {}
        callbacks.append(instantiate(cb_cfg, **extra))
    return callbacks


def _instantiate_loggers(cfg: DictConfig, run_dir: Path, name: str, version: str) -> list:
    loggers = []
    for key, lg_cfg in (cfg.get("logger") or {}).items():
        if not isinstance(lg_cfg, DictConfig) or "_target_" not in lg_cfg:
            continue
        loggers.append(instantiate(lg_cfg, save_dir=str(run_dir / key), name=name, version=version))
    return loggers


def _checkpoint_callback(trainer: L.Trainer) -> ModelCheckpoint | None:
    return next((cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint)), None)


def _load_weights(model: L.LightningModule, checkpoint: str | Path, allowed_dir: Path) -> int:
    """Weights of a Lightning checkpoint inside ``allowed_dir``, read without unpickling code;
    returns the epoch (from 0) the checkpoint was written at."""
    checkpoint = Path(checkpoint).resolve()
    if not checkpoint.is_relative_to(allowed_dir.resolve()):
        raise ValueError(f"refusing checkpoint {checkpoint}: outside the run's folder {allowed_dir}")
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(saved["state_dict"])
    return int(saved["epoch"])


def build_module(cfg: DictConfig) -> L.LightningModule:
    """The model config instantiated, with the dm-dt input shape taken from the preprocessing edges."""
    dmdt_shape = list(PreprocessingConfig.from_dict(cfg.preprocessing).dmdt.shape)
    dmdt = {**OmegaConf.to_container(cfg.model.dmdt, resolve=True), "input_shape": dmdt_shape}
    module = instantiate(cfg.model, dmdt=dmdt)
    if cfg.get("init_spectrum_from"):
        init_spectrum_encoder(module.network, cfg.init_spectrum_from, cfg.preprocessing)
    return module


def init_spectrum_encoder(network, path, preprocessing) -> None:
    """Start the spectrum encoder from a trained classifier's (e.g. the gate's core-collapse
    classifier, which saw every labelled spectrum): same architecture and preprocessing required."""
    from ccsnscore.model.checkpoints import load_classifier

    loaded = load_classifier(path)
    source = getattr(loaded, "network", loaded)  # a network + tree blend: its network
    if not hasattr(source, "encoders"):
        raise ValueError(f"init_spectrum_from={path}: a deep ensemble has no single spectrum encoder to start from")
    if PreprocessingConfig.from_dict(loaded.metadata["preprocessing"]) != PreprocessingConfig.from_dict(preprocessing):
        raise ValueError(f"init_spectrum_from={path}: it was trained with other preprocessing")
    target = network.encoders["spectrum"]
    weights = source.encoders["spectrum"].state_dict()
    if type(source.encoders["spectrum"]) is not type(target) or {k: v.shape for k, v in weights.items()} != {
        k: v.shape for k, v in target.state_dict().items()
    }:
        raise ValueError(f"init_spectrum_from={path}: its spectrum encoder has other settings")
    target.load_state_dict(weights)


def _save(
    cfg: DictConfig, path: Path, network, positive: str, manifest: dict, metrics: dict, training: dict, splits: dict
) -> None:
    """Write ``network`` as the classifier of ``positive`` with what the config says about it."""
    layer = str(cfg.data.layer)
    save_classifier(
        path,
        network,
        layer=layer,
        positive=positive,
        label_map=cfg.labels.layers[layer],
        preprocessing=cfg.preprocessing,
        manifest=manifest,
        test_split_file=cfg.data.test_split_file,
        metrics=metrics,
        training=training,
        dataset_summary=splits,
        hierarchy=cfg.labels.get("hierarchy"),
    )


def train_classifier(
    cfg: DictConfig,
    positive: str,
    run_dir: Path,
    prepared: tuple | None = None,
    extra_callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Train the classifier of ``positive`` (a class of ``labels.layers[data.layer]``) in balanced
    rounds; returns its metrics (``val/loss_best``, ``val/loss``, ``val/auroc``, ``val/acc``,
    ``rounds``, ``epochs``, ``seconds``, ``path``).

    ``prepared``: the dataset from :func:`ccsnscore.data.cache.load_or_prepare` (loaded here when
    None); ``extra_callbacks`` join the first round's trainer (e.g. a sweep's pruning report).
    """
    start = time.perf_counter()
    layer, case = str(cfg.data.layer), str(cfg.data.input_case)
    label = f"{layer}/{case}/{positive}"
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        cfg.data.positive = positive
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data, prepared=prepared, n_jobs=int(cfg.get("n_jobs") or 1))
    datamodule.setup("fit")
    model = build_module(cfg)
    balance = str(cfg.get("balance", "rounds"))
    if balance == "rounds":
        rounds = balanced_rounds(datamodule.train_labels, int(cfg.max_rounds), np.random.default_rng(int(cfg.seed)))
    elif balance == "weighted":  # every sample in one fit; each class carries half the loss
        labels = datamodule.train_labels
        try:
            model.class_weight = class_weight(labels)
        except ValueError as error:
            raise ValueError(f"{label}: {error}") from None
        rounds = [np.arange(len(labels))]
    else:
        raise ValueError(f"balance must be 'rounds' or 'weighted', got {balance!r}")
    log.info(
        "%s: %d training samples (%d positive), %d balanced round(s) of %d",
        label,
        len(datamodule.train_labels),
        int(datamodule.train_labels.sum()),
        len(rounds),
        len(rounds[0]),
    )

    loggers = _instantiate_loggers(cfg, run_dir, f"{layer}_{case}", positive)
    checkpoint_root = run_dir / "checkpoints" / layer / case / positive
    best_score, best_state, history = math.inf, None, []
    step_offset = 0
    for k, subset in enumerate(rounds, start=1):
        round_dir = checkpoint_root / f"round_{k}"
        summary_file = round_dir / "summary.json"
        if cfg.get("ckpt_resume") and summary_file.is_file():  # finished before the interruption
            summary = json.loads(summary_file.read_text())
            log.info("%s round %d: done before, best val/loss %s", label, k, summary["best_score"])
            if summary["best_model_path"]:
                _load_weights(model, summary["best_model_path"], run_dir)
        else:
            datamodule.train_subset = subset
            for lg in loggers:
                if hasattr(lg, "step_offset"):
                    lg.step_offset = step_offset
            rate_history = LearningRateHistory()
            callbacks = [*_instantiate_callbacks(cfg, round_dir, f"{label} round {k}"), rate_history]
            if k == 1:
                callbacks += list(extra_callbacks)
            trainer = instantiate(
                cfg.trainer,
                callbacks=callbacks,
                logger=loggers or False,
                default_root_dir=str(run_dir),
                enable_progress_bar=bool(cfg.trainer.get("enable_progress_bar")) or sys.stderr.isatty(),
            )
            last = round_dir / "last.ckpt"
            resume_from = str(last) if cfg.get("ckpt_resume") and last.is_file() else None
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
            ckpt_cb = _checkpoint_callback(trainer)
            best_path = ckpt_cb.best_model_path if ckpt_cb is not None else ""
            score = ckpt_cb.best_model_score if ckpt_cb is not None else None
            # epochs up to and including the best one (all of them without a checkpoint callback)
            best_epochs = int(trainer.current_epoch)
            if best_path:  # the next round continues from the best weights
                best_epochs = _load_weights(model, best_path, run_dir) + 1
            summary = {
                "round": k,
                "n_train": int(len(subset)),
                "best_model_path": best_path,
                "best_score": None if score is None else float(score),
                "epochs": int(trainer.current_epoch),
                "global_step": int(trainer.global_step),
                "best_epochs": best_epochs,
                "learning_rates": rate_history.rates,  # of every epoch
            }
            if trainer.is_global_zero and ckpt_cb is not None and best_path:
                summary_file.parent.mkdir(parents=True, exist_ok=True)
                summary_file.write_text(json.dumps(summary, indent=1))
        step_offset += summary["global_step"]
        history.append(summary)
        score = summary["best_score"]
        if score is None or score < best_score or best_state is None:
            best_score = math.inf if score is None else score
            best_state = copy.deepcopy(model.state_dict())
            best_round = k

    model.load_state_dict(best_state)
    validator = instantiate(cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False)
    validated = validator.validate(model, datamodule=datamodule, verbose=False)[0]
    metrics = {key: float(validated[key]) for key in ("val/loss", "val/auroc", "val/acc") if key in validated}
    metrics["val/loss_best"] = best_score if math.isfinite(best_score) else metrics["val/loss"]
    metrics.update(
        rounds=len(rounds),
        best_round=best_round,
        epochs=sum(h["epochs"] for h in history),
    )
    refit = None
    if cfg.get("refit"):  # the validation metrics above stay those of the held-out first fit
        first = history[0]
        if "learning_rates" not in first:
            raise ValueError(
                f"{label}: refit=true needs the learning rates of the first fit, which this run's "
                "finished round did not record; train it again in a new run_dir"
            )
        model, refit = refit_classifier(
            cfg, build_module, prepared, first["best_epochs"], first["learning_rates"], label
        )
    metrics["seconds"] = round(time.perf_counter() - start, 1)

    run_cfg = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers:
        if isinstance(lg, TensorBoardLogger):
            lg.log_hyperparams(run_cfg, metrics={f"hparams/{k}": v for k, v in metrics.items() if k in SUMMARY_KEYS})
        else:
            lg.log_hyperparams(run_cfg)
        lg.finalize("success")

    if cfg.get("save_classifiers", True) and validator.is_global_zero:
        path = classifier_path(run_dir / "classifiers", layer, case, positive)
        training = {
            "seed": int(cfg.seed),
            "max_rounds": int(cfg.max_rounds),
            "rounds": [  # checkpoints named relative to the run directory
                {**h, "best_model_path": os.path.relpath(h["best_model_path"], run_dir) if h["best_model_path"] else ""}
                for h in history
            ],
            "best_round": best_round,
            "batch_size": int(cfg.data.batch_size),
            "trainer": OmegaConf.to_container(cfg.trainer, resolve=True),
            "callbacks": OmegaConf.to_container(cfg.callbacks, resolve=True) if cfg.get("callbacks") else {},
            "optimizer": OmegaConf.to_container(cfg.model.optimizer, resolve=True),
            "scheduler": OmegaConf.to_container(cfg.model.scheduler, resolve=True)
            if cfg.model.get("scheduler")
            else None,
            "balance": balance,
            "init_spectrum_from": Path(str(cfg.init_spectrum_from)).name if cfg.get("init_spectrum_from") else None,
            "data": {
                k: v
                for k, v in OmegaConf.to_container(cfg.data, resolve=True).items()
                if k not in ("preprocessing", "labels", *PATH_KEYS)
            },
            "run_dir": run_dir.name,
            "seconds": metrics["seconds"],
            "refit": refit,
        }
        _save(
            cfg,
            path,
            model.network,
            positive,
            datamodule.manifest,
            metrics,
            training,
            datamodule.summary().to_dict(orient="index"),
        )
        metrics["path"] = str(path)
        log.info("%s: wrote %s", label, path)
    log.info("%s: %s", label, {k: v for k, v in metrics.items() if k != "path"})
    return metrics


def train_ensemble(
    cfg: DictConfig, positive: str, run_dir: Path, prepared: tuple, extra_callbacks: Sequence[Callback] = ()
) -> dict[str, Any]:
    """Train ``cfg.ensemble`` members of one classifier (seeds ``seed``, ``seed + 1``, ... each in
    ``<run_dir>/members/seed_<s>``), then write them as one
    :class:`~ccsnscore.model.network.EnsembleClassifier` file with the ensemble's validation metrics."""
    from ccsnscore.model.checkpoints import load_classifier
    from ccsnscore.model.network import EnsembleClassifier

    layer, case = str(cfg.data.layer), str(cfg.data.input_case)
    start = time.perf_counter()
    members, member_metrics = [], []
    for k in range(int(cfg.ensemble)):
        member_cfg = copy.deepcopy(cfg)
        with open_dict(member_cfg):
            member_cfg.seed = int(cfg.seed) + k
            member_cfg.ensemble = 1
        member_dir = run_dir / "members" / f"seed_{member_cfg.seed}"
        done = classifier_path(member_dir / "classifiers", layer, case, positive)
        if cfg.get("ckpt_resume") and done.is_file():
            metrics = {**classifier_metadata(done)["metrics"], "path": str(done)}
        else:
            metrics = train_classifier(member_cfg, positive, member_dir, prepared, extra_callbacks if k == 0 else ())
        members.append(load_classifier(metrics["path"]))
        member_metrics.append({key: v for key, v in metrics.items() if key != "path"})
    ensemble = EnsembleClassifier.from_members(members)
    datamodule = instantiate(cfg.data, positive=positive, prepared=prepared)
    datamodule.setup("fit")
    val = datamodule.datasets["val"]
    with torch.no_grad():
        probability = ensemble.eval().predict_proba({k: v for k, v in val.tensors.items() if k != "label"})
    label = val.tensors["label"]
    from torchmetrics.functional.classification import binary_accuracy, binary_auroc

    metrics = {
        "val/loss": float(torch.nn.functional.binary_cross_entropy(probability.clamp(1e-7, 1 - 1e-7), label)),
        "val/auroc": float(binary_auroc(probability, label.long())),
        "val/acc": float(binary_accuracy(probability, label.long())),
    }
    metrics["val/loss_best"] = metrics["val/loss"]
    metrics.update(
        members=len(members),
        epochs=sum(m.get("epochs", 0) for m in member_metrics),
        seconds=round(time.perf_counter() - start, 1),
    )
    first = members[0].metadata
    training = {
        **first["training"],
        "seeds": [int(cfg.seed) + k for k in range(len(members))],
        "member_metrics": member_metrics,
        "run_dir": run_dir.name,
    }
    path = classifier_path(run_dir / "classifiers", layer, case, positive)
    _save(cfg, path, ensemble, positive, datamodule.manifest, metrics, training, first["dataset"]["splits"])
    log.info("%s/%s/%s: ensemble of %d, %s", layer, case, positive, len(members), metrics)
    return {**metrics, "path": str(path)}


def _summarise(per_classifier: dict[str, dict]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in SUMMARY_KEYS:
        values = [m[key] for m in per_classifier.values() if key in m]
        if values:
            result[key] = float(np.mean(values))
    for positive, metrics in per_classifier.items():
        for key, value in metrics.items():
            result[f"{positive}/{key}"] = value
    return result


TRAINER_COUNTS = (
    "max_epochs",
    "min_epochs",
    "max_steps",
    "min_steps",
    "check_val_every_n_epoch",
    "log_every_n_steps",
    "num_nodes",
    "accumulate_grad_batches",
)
"""Trainer settings that must be whole numbers (or null)."""


def quiet_lightning() -> None:
    """Lightning's start-up lines (tips, device summaries) and the warnings every fit repeats stay out
    of the log; the epoch summaries and real warnings remain."""
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in (
        r".*does not have many workers.*",
        r".*is smaller than the logging interval.*",
        r".*exists and is not empty.*",
        r".*treespec.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def check_config(cfg: DictConfig) -> None:
    """Everything that can be checked before the data are read: the layer, the input case, the
    trainer (built once and thrown away) and the model; raises ValueError saying what is wrong."""
    from ccsnscore.data.channels import INPUT_CASES

    layer, case = str(cfg.data.layer), str(cfg.data.input_case)
    if layer not in cfg.labels.layers:
        raise ValueError(f"data.layer={layer}: not a layer of the labels config ({list(cfg.labels.layers)})")
    if case not in INPUT_CASES:
        raise ValueError(f"data.input_case={case}: choose one of {list(INPUT_CASES)}")
    if cfg.get("refit") and str(cfg.get("balance", "rounds")) != "weighted":
        raise ValueError("refit=true replays a single fit: it needs balance=weighted, not balanced rounds")
    if cfg.get("ckpt_resume") and not Path(cfg.ckpt_resume).is_dir():
        raise ValueError(f"ckpt_resume={cfg.ckpt_resume}: no such run directory")
    for key in TRAINER_COUNTS:
        value = cfg.trainer.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"trainer.{key}={value}: must be a whole number")
    instantiate(cfg.trainer, logger=False, callbacks=[], enable_checkpointing=False)
    build_module(cfg)


def train(cfg: DictConfig, extra_callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Train every classifier of ``cfg.data.layer`` (or ``cfg.classifiers``) for ``cfg.data.input_case``.

    Returns metrics by name: the mean over the classifiers of ``val/loss_best``, ``val/loss``,
    ``val/auroc`` and ``val/acc``, and per classifier ``<positive>/<key>`` (those plus ``rounds``,
    ``epochs``, ``seconds``, ``path``). They are also written to ``<run_dir>/metrics.json``. The
    dataset is read, hashed and loaded once for all classifiers. ``extra_callbacks`` join the first
    classifier's first round.
    """
    if cfg.get("num_threads"):
        torch.set_num_threads(int(cfg.num_threads))
    quiet_lightning()
    check_config(cfg)
    run_dir = resolve_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    layer, case = str(cfg.data.layer), str(cfg.data.input_case)
    classes = list(cfg.labels.layers[layer].keys())
    positives = list(cfg.get("classifiers") or classes)
    unknown = sorted(set(positives) - set(classes))
    if unknown:
        raise ValueError(f"classifiers {unknown} are not classes of {layer}: {classes}")
    log.info("training %s/%s classifiers %s into %s", layer, case, positives, run_dir)
    prepared = load_or_prepare(cfg.paths.data_root, cfg.paths.cache_dir, cfg.preprocessing, int(cfg.get("n_jobs") or 1))
    per_classifier: dict[str, dict] = {}
    for positive in positives:
        done = classifier_path(run_dir / "classifiers", layer, case, positive)
        if cfg.get("ckpt_resume") and done.is_file():
            per_classifier[positive] = {**classifier_metadata(done)["metrics"], "path": str(done)}
            log.info("%s/%s/%s: finished before, kept %s", layer, case, positive, done)
            continue
        callbacks = extra_callbacks if not per_classifier else ()
        if int(cfg.get("ensemble") or 1) > 1:
            per_classifier[positive] = train_ensemble(cfg, positive, run_dir, prepared, callbacks)
        else:
            per_classifier[positive] = train_classifier(cfg, positive, run_dir, prepared, callbacks)
        result = _summarise(per_classifier)
        (run_dir / "metrics.json").write_text(json.dumps(result, indent=1))
    result = _summarise(per_classifier)
    (run_dir / "metrics.json").write_text(json.dumps(result, indent=1))
    return result
