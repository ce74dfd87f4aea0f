"""Evaluate trained classifiers on a test split: scores, decisions and a report folder.

    python -m ccsnscore.evaluate models=outputs/train/layer1_S/<run> [cases=[S,SL]] [output_dir=...]
    python -m ccsnscore.evaluate models=shipped                  # the models shipped with ccsnscore

``models`` is required (a model folder ``<layer>/<case>/<class>.pt``, a training run directory, a
list of them, or ``shipped``). The test split is the one recorded in the checkpoints (the fixed
split the data module wrote); ``test_split`` may name another CSV of object names, or ``all`` to
evaluate every spectrum of ``paths.data_root`` (a new dataset in the same layout).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from ccsnscore.evaluation.report import write_report
from ccsnscore.evaluation.testset import evaluate_case
from ccsnscore.hydra_configs import register_configs
from ccsnscore.inference.model_set import load_model_set
from ccsnscore.runtime import configure_malloc, report_user_errors

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@report_user_errors("evaluate")
def main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "models"):
        raise ValueError("give models=<folder | run directory | [list] | shipped>; evaluation never guesses")
    if int(cfg.n_passes) < 1:
        raise ValueError(f"n_passes={cfg.n_passes}: need at least 1 Monte-Carlo pass")
    configure_malloc()
    roots = cfg.models if OmegaConf.is_list(cfg.models) else [cfg.models]
    device = cfg.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    roots = [None if str(r) == "shipped" else str(r) for r in roots]
    scored, infos = {}, {}
    for case in cfg.cases:
        model_set = load_model_set(roots, case, map_location=device)
        if not cfg.use_layer0:
            model_set = model_set.without(model_set.hierarchy.root)
        scored[case], infos[case] = evaluate_case(model_set, cfg)
    out = write_report(
        scored, Path(cfg.output_dir), infos, command="python -m ccsnscore.evaluate " + " ".join(sys.argv[1:])
    )
    print(f"report written to {out}")


if __name__ == "__main__":
    main()
