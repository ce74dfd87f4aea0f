"""The one inference path shared by ``classify`` and ``evaluate``: model inputs -> every
classifier's Monte-Carlo-dropout scores -> the hierarchy's decisions."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch

from ccsnscore.inference.decisions import decide_hierarchy
from ccsnscore.inference.mc_dropout import eval_score_table, score_table
from ccsnscore.inference.model_set import ModelSet


def predict(
    model_set: ModelSet,
    channels: Mapping[str, torch.Tensor],
    n_passes: int | str = 100,
    seed: int | None = 0,
    index=None,
    mc: bool = True,
    progress: bool | None = False,
) -> pd.DataFrame:
    """Scores and decisions of ``n`` spectra, one row each (on ``index``).

    ``channels``: the model inputs of the set's input case (:func:`ccsnscore.data.channels.build_channels`).
    Columns: the hierarchy's (:func:`ccsnscore.inference.decisions.decide_hierarchy`: ``decision``,
    ``score``, ``score_std``, ``path`` and ``<layer>_decision``/``_score``/``_score_std``), then every
    classifier's ``<class>`` and ``<class>_std``. ``mc=False``: one pass with dropout off (std 0).
    ``n_passes="auto"``: :func:`ccsnscore.inference.adaptive.adaptive_predict` (adds ``passes``).
    """
    if n_passes == "auto":  # blocks of passes until each spectrum's decision is settled
        from ccsnscore.inference.adaptive import adaptive_predict

        return adaptive_predict(model_set, channels, seed=0 if seed is None else seed, index=index)
    if mc:
        scores = score_table(model_set.classifiers, channels, n_passes, seed, index=index, progress=progress)
    else:
        scores = eval_score_table(model_set.classifiers, channels, index=index)
    decisions = decide_hierarchy(scores, model_set.layer_classes(), model_set.hierarchy)
    return pd.concat([decisions, scores], axis=1)
