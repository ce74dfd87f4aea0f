"""Retrain an experiment with its default and its tuned hyperparameters; compare validation and
test-split metrics per classifier.

    python experiments/sweeps/compare.py --experiment layer1_S \
        --best experiments/sweeps/layer1_S/best_params.yaml --seeds 12345 1 2 3 4 \
        --runs outputs/sweeps/layer1_S_retrain --out experiments/sweeps/layer1_S [train overrides ...]

Both variants are trained with the same seeds and overrides into
``<runs>/retrain_<variant>_seed<seed>`` (a finished run there is reused). One training run per
seed and variant: single runs of these classifiers differ a lot from seed to seed, so compare the
means. The tuned variant composes
``+experiment=<experiment>_tuned`` from a copy of the best-parameters file on Hydra's search path.
Test metrics are computed on the fixed test split (the data module's ``test`` set): one
deterministic pass (dropout off) and the mean of 100 MC-dropout passes, threshold 0.5.
Writes ``comparison.json`` and ``comparison.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from sklearn.metrics import roc_auc_score

from ccsnscore.inference.mc_dropout import mc_dropout_scores
from ccsnscore.model.checkpoints import classifier_path, load_classifier
from ccsnscore.runtime import configure_malloc
from ccsnscore.training.loop import train
from ccsnscore.tuning.objective import CONF_DIR

log = logging.getLogger("compare")
VAL_KEYS = ("val/loss", "val/auroc", "val/acc")


def compose_variant(experiment: str, best: Path | None, overrides: list[str], run_dir: Path, search_dir: Path):
    if best is None:
        chosen = [f"+experiment={experiment}"]
    else:
        (search_dir / "experiment").mkdir(parents=True, exist_ok=True)
        shutil.copy(best, search_dir / "experiment" / f"{experiment}_tuned.yaml")
        chosen = [f"+experiment={experiment}_tuned", f"hydra.searchpath=[file://{search_dir.resolve()}]"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("train", [*chosen, *overrides, f"run_dir={run_dir}"])


def positives_of(cfg) -> list[str]:
    return list(cfg.get("classifiers") or cfg.labels.layers[str(cfg.data.layer)].keys())


def train_or_reuse(cfg) -> dict:
    run_dir = Path(cfg.run_dir)
    layer, case = str(cfg.data.layer), str(cfg.data.input_case)
    files = [classifier_path(run_dir / "classifiers", layer, case, p) for p in positives_of(cfg)]
    if (run_dir / "metrics.json").is_file() and all(f.is_file() for f in files):
        log.info("reusing %s", run_dir)
        return json.loads((run_dir / "metrics.json").read_text())
    return train(cfg)


def test_metrics(cfg, positive: str) -> dict:
    layer, case = str(cfg.data.layer), str(cfg.data.input_case)
    model = load_classifier(classifier_path(Path(cfg.run_dir) / "classifiers", layer, case, positive))
    datamodule = instantiate(cfg.data, positive=positive)
    datamodule.setup()
    batch = datamodule.datasets["test"].tensors
    label = batch["label"].numpy().astype(int)
    model.eval()
    single = model.predict_proba({k: v for k, v in batch.items() if k != "label"}).numpy()
    mc_mean, _ = mc_dropout_scores(model, batch, n_passes=100, seed=0)
    return {
        "test/n": int(len(label)),
        "test/n_positive": int(label.sum()),
        "test/auroc": float(roc_auc_score(label, single)),
        "test/acc": float(np.mean((single >= 0.5) == label)),
        "test/auroc_mc": float(roc_auc_score(label, mc_mean)),
        "test/acc_mc": float(np.mean((mc_mean >= 0.5) == label)),
    }


SCORE_KEYS = (*VAL_KEYS, "test/auroc", "test/acc", "test/auroc_mc", "test/acc_mc")
HEADERS = ["val/loss", "val/auroc", "val/acc", "test AUROC", "test acc", "test AUROC (MC mean)", "test acc (MC mean)"]


def markdown(rows: list[dict]) -> str:
    """A table of the means (± standard deviation over seeds) and one of every run."""
    table = pd.DataFrame(rows)
    head = ["variant", "classifier", "seeds", *HEADERS, "test spectra (positive)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (classifier, variant), group in table.groupby(["classifier", "variant"], sort=False):
        cells = [variant, classifier, str(len(group))]
        cells += [
            f"{group[k].mean():.3f} ± {group[k].std(ddof=1):.3f}" if len(group) > 1 else f"{group[k].mean():.3f}"
            for k in SCORE_KEYS
        ]
        cells.append(f"{group['test/n'].iloc[0]} ({group['test/n_positive'].iloc[0]})")
        lines.append("| " + " | ".join(cells) + " |")
    head = ["variant", "classifier", "seed", *HEADERS, "epochs"]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["variant"], r["classifier"], str(r["seed"]), *(f"{r[k]:.4f}" for k in SCORE_KEYS), str(r["epochs"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--best", required=True, type=Path, help="best_params.yaml of the sweep")
    parser.add_argument("--runs", required=True, type=Path, help="where the two runs are trained")
    parser.add_argument("--out", required=True, type=Path, help="where comparison.{json,md} go")
    parser.add_argument("--seeds", type=int, nargs="+", default=[12345], help="training seeds (default: 12345)")
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    configure_malloc()
    rows = []
    with tempfile.TemporaryDirectory() as search_dir:
        runs = [
            (seed, variant, best) for seed in args.seeds for variant, best in (("default", None), ("tuned", args.best))
        ]
        for seed, variant, best in runs:
            cfg = compose_variant(
                args.experiment,
                best,
                [*overrides, f"seed={seed}"],
                args.runs / f"retrain_{variant}_seed{seed}",
                Path(search_dir),
            )
            metrics = train_or_reuse(cfg)
            for positive in positives_of(cfg):
                row = {
                    "variant": variant,
                    "classifier": positive,
                    "seed": seed,
                    **{k: metrics[f"{positive}/{k}"] for k in VAL_KEYS},
                    "epochs": metrics.get(f"{positive}/epochs"),
                    **test_metrics(cfg, positive),
                }
                log.info("%s", row)
                rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.json").write_text(
        json.dumps({"experiment": args.experiment, "overrides": overrides, "rows": rows}, indent=1)
    )
    (args.out / "comparison.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
