"""Hyperparameter sweeps with Optuna over the training config (paper section 4, Table 2).

    python -m ccsnscore.sweep hparams_search=layer1_optuna +experiment=layer1_S [n_trials=30]
        [classifiers=[Hrich]] [trainer.max_epochs=15] [any other train override]
    python -m ccsnscore.sweep summary outputs/sweeps/layer1_S [--out DIR]
    python -m ccsnscore.sweep summary postgresql://host/db --study layer1_S --out DIR

Every argument of a sweep is a Hydra override of the ``train`` config; ``n_trials``,
``direction``, ``storage``, ``study_name`` and ``sweep_dir`` are short for
``hparams_search.<key>`` (see ``conf/hparams_search/optuna.yaml``). A trial composes
``train`` with the sweep's overrides plus its sampled values (e.g.
``model.spectrum.lstm_units.0=8``) and ``run_dir=<sweep_dir>/trial_<k>``, calls
:func:`ccsnscore.train.train` and returns ``result[optimized_metric]``.

- The study lives in ``hparams_search.storage`` (default ``sqlite:///<sweep_dir>/optuna.db``) and
  is loaded if it exists: ``n_trials`` is the total number of finished trials of the study, so an
  interrupted study runs only the missing ones. Several machines can share one RDB study.
- With ``seeds`` (e.g. ``[12345, 1, 2]``) each trial trains once per seed (``<run_dir>/seed_<s>``)
  and the objective is the mean: single runs of these classifiers differ a lot from seed to seed,
  and a one-seed study tends to pick a lucky seed rather than better hyperparameters.
- With ``enqueue_defaults`` the first trial of a new study trains the config's own values (the
  experiment's defaults), a baseline under the same budget.
- A trial whose objective is NaN or infinite (a diverging loss) is pruned; one that raises is
  marked failed; neither stops the study (``max_consecutive_failures`` failures in a row do).
- The objective's metric as logged after every epoch of the first classifier's first round (e.g.
  ``val/loss_best``, the best validation loss so far) is the intermediate value (step = epoch) for
  the pruner.
- At the end, and with ``summary``: ``best_params.yaml`` (an experiment override file: copy it to
  ``conf/experiment/<name>.yaml`` and train with ``+experiment=<name>``), ``trials.csv``,
  ``optimization_history.png`` and ``param_importances.png``.

Why not Hydra's Optuna sweeper plugin: ``hydra-optuna-sweeper`` 1.3.0 (the latest) requires
``optuna>=2.10,<3``; installing it downgrades optuna 5.0.0 to 2.10.1, whose RDB storage fails with
the installed SQLAlchemy 2.x (``AssertionError`` in ``get_current_version`` on a new sqlite
study) and older SQLAlchemy conflicts with the installed alembic; with the hydra-core 1.4
pre-release it does not even compose its own config. Resumable studies need that storage, so
Optuna 5 is driven directly and configs come from Hydra's compose API, which gives the same
overrides and config groups as ``python -m ccsnscore.train``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from optuna.trial import TrialState

from ccsnscore.tuning.study import load_study, run_sweep
from ccsnscore.tuning.summary import write_summary


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    if argv[:1] == ["summary"]:
        parser = argparse.ArgumentParser(
            prog="python -m ccsnscore.sweep summary",
            description="Write best_params.yaml, trials.csv and plots of a study.",
        )
        parser.add_argument("target", help="a sweep directory (with optuna.db) or a storage URL")
        parser.add_argument("--study", help="the study name (needed when the storage holds several)")
        parser.add_argument(
            "--out", help="where to write (default: the sweep directory, or outputs/sweeps/<study> for a URL)"
        )
        args = parser.parse_args(argv[1:])
        from ccsnscore.runtime import report_user_errors

        study = report_user_errors("sweep summary")(load_study)(args.target, args.study)
        out = args.out or (args.target if "://" not in args.target else f"outputs/sweeps/{study.study_name}")
        for path in write_summary(study, out).values():
            print(path)
        return 0
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    from ccsnscore.runtime import configure_malloc, report_user_errors

    configure_malloc()
    study = report_user_errors("sweep")(run_sweep)(argv)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        print(f"best trial {study.best_trial.number}: {study.best_value:.6g} {study.best_trial.params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
