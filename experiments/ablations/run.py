"""Train the ablation variants of one experiment over several seeds (resumable).

    python experiments/ablations/run.py --variants paper,w128 --seeds 1,2,3 [--experiment layer1_S]
        [--out outputs/ablations] [--dry-run]

Each variant is a list of Hydra overrides in ``variants.yaml`` (beside this script; ``{out}`` stands
for the output folder, e.g. to start from another run's classifier). Every
(variant, seed) trains into ``<out>/<experiment>/<variant>/seed<k>`` with ``python -m
ccsnscore.train``; a run whose classifiers all exist is skipped, an interrupted one is resumed
(``ckpt_resume``). The log of each run is ``train.log`` in its folder. Score finished runs with
``score.py``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import yaml

from ccsnscore.inference.model_set import LABELS_CONFIG
from ccsnscore.runtime import malloc_environment

HERE = Path(__file__).resolve().parent
# each layer's classes, from the label configuration the package trains with
CLASSES = {layer: list(classes) for layer, classes in yaml.safe_load(LABELS_CONFIG.read_text())["layers"].items()}


def _flat(items) -> list[str]:
    """Overrides with YAML-anchor lists (``[*R, extra]``) flattened; later overrides win in Hydra."""
    return [o for item in items for o in (_flat(item) if isinstance(item, list) else [item])]


def load_variants(path: Path = HERE / "variants.yaml") -> dict[str, list[str]]:
    return {name: _flat(spec.get("overrides", [])) for name, spec in yaml.safe_load(path.read_text()).items()}


def expected_classifiers(run_dir: Path, experiment: str, overrides: list[str]) -> list[Path]:
    layer, case = experiment.split("_")
    case = next((o.split("=", 1)[1] for o in overrides if o.startswith("data.input_case=")), case)
    return [run_dir / "classifiers" / layer / case / f"{c}.pt" for c in CLASSES[layer]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", required=True, help="comma-separated names from variants.yaml")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--experiment", default="layer1_S")
    parser.add_argument("--out", default="outputs/ablations")
    parser.add_argument(
        "--folds",
        type=int,
        default=0,
        help="cross-fitting: train <variant>_fold<k> for k < FOLDS, each also holding out fold k of "
        "folds.py (<out>/folds/fold<k>.csv, written by folds.py --folds FOLDS)",
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    variants = load_variants()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in variants]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {sorted(variants)}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", **malloc_environment()}
    folds = [Path(args.out).resolve() / "folds" / f"fold{k}.csv" for k in range(args.folds)]
    missing = [str(f) for f in folds if not f.is_file()]
    if missing:
        parser.error(f"fold files missing: {missing}; write them with folds.py --folds {args.folds}")
    jobs = [(name, name, []) for name in names] if not folds else []
    jobs += [(f"{name}_fold{k}", name, [f"data.test_split_file={f}"]) for name in names for k, f in enumerate(folds)]
    for label, name, extra in jobs:
        for seed in args.seeds.split(","):
            run_dir = Path(args.out) / args.experiment / label / f"seed{seed}"
            overrides = [o.replace("{out}", str(Path(args.out).resolve())) for o in variants[name]] + extra
            if all(p.is_file() for p in expected_classifiers(run_dir, args.experiment, overrides)):
                print(f"done before: {run_dir}", flush=True)
                continue
            command = [
                sys.executable,
                "-m",
                "ccsnscore.train",
                f"+experiment={args.experiment}",
                *overrides,
                f"seed={seed}",
                f"run_dir={run_dir}",
                "num_threads=1",
                "logger=csv",
                f"hydra.run.dir={run_dir}/hydra",
            ]
            if run_dir.is_dir():
                command.append(f"ckpt_resume={run_dir}")
            print(" ".join(command), flush=True)
            if args.dry_run:
                continue
            run_dir.mkdir(parents=True, exist_ok=True)
            with open(run_dir / "train.log", "a") as log:
                rc = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            print(f"exit {rc}: {run_dir}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
