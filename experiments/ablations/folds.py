"""Cross-fitting folds of the non-test objects: fold files for training networks whose held-out
scores cover every non-test spectrum (a probe's input; see ``stacking.py``).

    python experiments/ablations/folds.py --data-root ../shared/data/ccsn-public --out outputs/ablations

Each non-test object of the dataset goes to fold ``md5(name) mod K`` (so a fold never depends on
the order of the metadata or on which other objects exist). ``<out>/folds/fold<k>.csv`` lists the
fixed test split's objects plus fold ``k``'s: trained with ``data.test_split_file`` pointing at it
(``run.py --folds K`` trains ``<variant>_fold<k>`` so), a network never sees fold ``k`` (nor the test split)
in training, validation or early stopping, and scoring its "test" rows gives fold ``k``'s
held-out scores.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
TEST_SPLIT = HERE.parent / "splits" / "ccsn-public-test.csv"


def fold_of(name: str, n_folds: int) -> int:
    return int(hashlib.md5(str(name).encode()).hexdigest(), 16) % n_folds


def fold_tables(metadata: pd.DataFrame, test: pd.DataFrame, n_folds: int) -> list[pd.DataFrame]:
    """One ``name,type`` table per fold: the test split's rows, then the fold's non-test objects."""
    objects = metadata.groupby("name", sort=True)["type"].agg(lambda s: s.value_counts().index[0]).reset_index()
    objects = objects[~objects["name"].isin(set(test["name"]))]
    folds = objects["name"].map(lambda n: fold_of(n, n_folds))
    return [pd.concat([test[["name", "type"]], objects[folds == k]], ignore_index=True) for k in range(n_folds)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--out", default="outputs/ablations")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    metadata = pd.read_csv(Path(args.data_root) / "metadata.csv", dtype={"name": str})
    test = pd.read_csv(TEST_SPLIT, dtype={"name": str})
    folder = Path(args.out) / "folds"
    folder.mkdir(parents=True, exist_ok=True)
    for k, table in enumerate(fold_tables(metadata, test, args.folds)):
        table.to_csv(folder / f"fold{k}.csv", index=False)
        print(f"{folder / f'fold{k}.csv'}: {len(table) - len(test)} held-out objects + {len(test)} test objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
