"""Train the one-vs-rest classifiers of one layer and input case (paper section 4).

    python -m ccsnscore.train +experiment=layer1_S
    python -m ccsnscore.train -m +experiment=layer1_S,layer1_SL         # several experiments
    python -m ccsnscore.train +experiment=layer1_S ckpt_resume=outputs/train/layer1_S/<date>

The loop itself is :func:`ccsnscore.training.loop.train`.
"""

from __future__ import annotations

import json

import hydra
from omegaconf import DictConfig

from ccsnscore.hydra_configs import register_configs
from ccsnscore.runtime import configure_malloc, report_user_errors
from ccsnscore.training.loop import train

register_configs()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@report_user_errors("train")
def main(cfg: DictConfig) -> float | None:
    configure_malloc()
    metrics = train(cfg)
    print(json.dumps({k: v for k, v in metrics.items() if not k.endswith("/path")}, indent=1))
    objective = cfg.get("optimized_metric")
    return metrics.get(objective) if objective else None


if __name__ == "__main__":
    main()
