"""What the probes on cached scores (``calibration.py``, ``by_phase.py``) share: their command line and
the tree baseline's test scores that ``score.py`` leaves in ``<out>/<experiment>/_tree``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

TREE_SEEDS = 3  # run k of a variant is paired with tree seed k mod 3, as score.py pairs them


def probe_parser(doc: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="layer1_S")
    parser.add_argument("--out", default="outputs/ablations")
    parser.add_argument("--variants", required=True)
    parser.add_argument("--table", default=None)
    return parser


def baseline_tree_scores(root: Path) -> pd.DataFrame:
    """The tree baseline's test scores (``<class>@<seed>`` columns, indexed by spectrum file)."""
    found = sorted((root / "_tree").glob("*.scores.csv"))
    if len(found) != 1:
        raise SystemExit(f"expected one tree baseline in {root / '_tree'}, found {len(found)}: run score.py first")
    return pd.read_csv(found[0], index_col=0)


def write_tables(table: pd.DataFrame, lines: list[str], out: Path) -> None:
    """``out.csv`` (one row per run) and ``out.md`` (the summary ``lines``), also printed."""
    table.to_csv(out.with_suffix(".csv"), index=False)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def decisions(scores: dict[str, np.ndarray], classes) -> np.ndarray:
    """Each spectrum's class with the highest score (no ambiguity rule)."""
    return np.asarray(classes)[np.stack([np.asarray(scores[c], float) for c in classes], axis=1).argmax(axis=1)]
