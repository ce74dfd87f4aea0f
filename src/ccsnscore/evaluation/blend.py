"""Blend trained classifiers with gradient-boosted trees fitted on the same rows.

    python -m ccsnscore.evaluation.blend RUN_DIR --out OUT_DIR [--tree-weight 0.5|auto] [--seed 0]
        [--continuum-window 15] [--data-root DIR] [--cache-dir DIR]

For every classifier ``RUN_DIR/classifiers/<layer>/<case>/<class>.pt`` one
:class:`~sklearn.ensemble.HistGradientBoostingClassifier` is fitted on the rows its network could
learn from (the layer's labelled samples outside the test split recorded in the file; the tree
baseline's settings, :func:`ccsnscore.evaluation.baseline.fit_tree`), copied into tensors
(:class:`ccsnscore.model.trees.TreeEnsemble`) and stored with the network as a
:class:`ccsnscore.model.network.BlendedClassifier` in ``OUT_DIR/classifiers/...``. The blended file
keeps the original's record and adds the trees' settings under ``training.tree``. Classifying with
it needs neither scikit-learn nor the dataset.

``--tree-weight auto`` chooses each classifier's share of the trees on its network's validation rows
(:mod:`ccsnscore.evaluation.blend_weight`) before the trees are fitted on every non-test row.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch

from ccsnscore.data.channels import build_channels
from ccsnscore.evaluation.baseline import fit_tree, tree_features
from ccsnscore.evaluation.blend_weight import WEIGHT_GRID, choose_tree_weight, validation_split
from ccsnscore.evaluation.testset import labelled_samples
from ccsnscore.inference.model_set import load_model_set, unclassified_types
from ccsnscore.model.checkpoints import classifier_path, replace_network
from ccsnscore.model.network import BlendedClassifier
from ccsnscore.model.trees import CONTINUUM_WINDOW, LC_STEP, TreeEnsemble

log = logging.getLogger("ccsnscore.evaluation")
DEFAULT_TREE_WEIGHT = 0.5
AUTO = "auto"


def _cases(run_dir: Path) -> list[str]:
    root = run_dir / "classifiers" if (run_dir / "classifiers").is_dir() else run_dir
    return sorted({p.parent.name for p in root.glob("*/*/*.pt")})


def _tree_weight(value) -> float | str:
    """``value`` as a fixed share strictly between 0 and 1, or ``"auto"``."""
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    try:
        weight = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--tree-weight must be a number strictly between 0 and 1 or 'auto', got {value!r}") from None
    if not 0.0 < weight < 1.0:
        raise ValueError(f"--tree-weight must lie strictly between 0 and 1, got {value}")
    return weight


def held_out_scores(network, features, arrays, case, labels, is_val, is_train, seed) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities ``(network, trees)`` of the validation rows ``is_val``: one deterministic pass
    of ``network`` and a tree of ``seed`` fitted on the ``is_train`` rows' ``features`` and 0/1
    ``labels`` (both over every row of ``arrays``)."""
    if not is_val.any():
        raise ValueError("the recorded validation split holds no rows of this dataset; give a fixed --tree-weight")
    tree = fit_tree(features[is_train], labels[is_train], seed)
    tree_p = tree.predict_proba(features[is_val])[:, 1]
    subset = {k: (v[is_val] if k != "bands" else v) for k, v in arrays.items()}
    channels = build_channels(subset, case, tuple(arrays["bands"]))
    was_training = network.training
    network.eval()
    with torch.no_grad():
        network_p = network.predict_proba(channels).numpy().astype(float)
    network.train(was_training)
    return network_p, tree_p


def held_out_weight(network, features, arrays, case, labels, is_val, is_train, seed) -> tuple[float, dict]:
    """The trees' share chosen on the validation rows ``is_val`` (see
    :mod:`ccsnscore.evaluation.blend_weight`; scores from :func:`held_out_scores`) and its record."""
    network_p, tree_p = held_out_scores(network, features, arrays, case, labels, is_val, is_train, seed)
    weight, losses = choose_tree_weight(network_p, tree_p, labels[is_val])
    record = {
        "chosen_on": "validation rows of the network (trees fitted on its training rows)",
        "n_val": int(is_val.sum()),
        "n_val_positive": int(labels[is_val].sum()),
        "log_loss": {f"{w:.1f}": round(v, 5) for w, v in losses.items()},
    }
    return weight, record


def blend_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    data_root=None,
    cache_dir: str | os.PathLike = ".cache/ccsnscore",
    tree_weight: float | str = DEFAULT_TREE_WEIGHT,
    seed: int = 0,
    continuum_window: int = CONTINUUM_WINDOW,
) -> list[Path]:
    """Write a blended copy of every classifier of ``run_dir`` under ``out_dir/classifiers``;
    returns the files written. The trees read :func:`ccsnscore.model.trees.channel_features` with
    ``continuum_window`` (0: the flux grid only). ``tree_weight="auto"`` chooses each classifier's
    share on its network's validation rows (:func:`held_out_weight`)."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    tree_weight = _tree_weight(tree_weight)
    if not 0 <= continuum_window <= 1024:
        raise ValueError(f"--continuum-window must lie between 0 and 1024 pixels, got {continuum_window}")
    written = []
    for case in _cases(run_dir):
        model_set = load_model_set(run_dir, case)
        table, arrays, _ = labelled_samples(model_set, data_root, cache_dir, "checkpoint", unclassified_types())
        features = tree_features(arrays, case, LC_STEP, continuum_window)
        for layer, models in model_set.layers.items():
            true = table[f"true_{layer}"].to_numpy(object)
            train = ~table["is_test"].to_numpy() & (true != "")
            for positive, model in models.items():
                labels = true[train] == positive
                if labels.all() or not labels.any():
                    raise ValueError(f"{layer}/{case}/{positive}: the training rows hold one class only")
                network = model.network if isinstance(model, BlendedClassifier) else model
                weight, selection = tree_weight, None
                if tree_weight == AUTO:
                    try:
                        is_val, is_train = validation_split(table, layer, model.metadata)
                        weight, selection = held_out_weight(
                            network, features, arrays, case, true == positive, is_val, is_train, seed
                        )
                    except ValueError as err:
                        raise ValueError(f"{layer}/{case}/{positive}: {err}") from None
                    log.info(
                        "%s/%s/%s: tree weight %.1f on %d validation rows",
                        layer,
                        case,
                        positive,
                        weight,
                        selection["n_val"],
                    )
                fitted = fit_tree(features[train], labels, seed)
                trees = TreeEnsemble.from_sklearn(fitted, features.shape[1], LC_STEP, continuum_window)
                check = np.flatnonzero(train)[:500]
                gap = np.abs(
                    trees(torch.as_tensor(features[check])).numpy() - fitted.predict_proba(features[check])[:, 1]
                )
                if gap.max() > 1e-5:
                    raise RuntimeError(
                        f"{layer}/{case}/{positive}: copied trees differ from scikit-learn by {gap.max():.2g}"
                    )
                blend = BlendedClassifier.from_parts(network, trees, weight)
                note = {
                    "tree": {
                        "kind": "HistGradientBoostingClassifier",
                        "weight": weight,
                        "seed": seed,
                        "iterations": int(fitted.n_iter_),
                        "n_nodes": trees.config["n_nodes"],
                        "features": "spectrum flux grid"
                        + (f" and its flux minus a {continuum_window}-pixel running mean" if continuum_window else "")
                        + f", light-curve flux every {LC_STEP} days, dm-dt histograms (those of the input case)",
                        "continuum_window": continuum_window,
                        "n_train": int(train.sum()),
                        "n_positive": int(labels.sum()),
                        **({"weight_selection": selection} if selection else {}),
                    }
                }
                target = classifier_path(out_dir / "classifiers", layer, case, positive)
                written.append(replace_network(model.path, target, blend, note, run_dir))
                log.info("%s: %d trees, %d nodes", target, trees.config["n_trees"], trees.config["n_nodes"])
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ccsnscore.evaluation.blend", description=__doc__.split("\n\n")[0].strip()
    )
    parser.add_argument("run_dir", help="a training run (or model folder) with <layer>/<case>/<class>.pt")
    parser.add_argument("--out", required=True, help="folder for the blended classifiers (OUT/classifiers/...)")
    parser.add_argument(
        "--tree-weight",
        default=DEFAULT_TREE_WEIGHT,
        help="the trees' share, strictly between 0 and 1, or 'auto': chosen per classifier on its network's "
        f"validation rows from {', '.join(map(str, WEIGHT_GRID))}",
    )
    parser.add_argument("--seed", type=int, default=0, help="the trees' seed (early-stopping rows)")
    parser.add_argument(
        "--continuum-window",
        type=int,
        default=CONTINUUM_WINDOW,
        help="pixels of the running mean for the continuum-removed spectrum features (0: flux only)",
    )
    parser.add_argument("--data-root", default=None, help="dataset folder (default: CCSNSCORE_DATA_ROOT)")
    parser.add_argument(
        "--cache-dir", default=os.environ.get("CCSNSCORE_CACHE_DIR", ".cache/ccsnscore"), help="prepared arrays"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        files = blend_run(
            args.run_dir, args.out, args.data_root, args.cache_dir, args.tree_weight, args.seed, args.continuum_window
        )
    except (ValueError, FileNotFoundError, OSError) as err:
        if os.environ.get("CCSNSCORE_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(files)} blended classifiers in {Path(args.out) / 'classifiers'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
