"""Tables of the experiment scripts under experiments/ (loaded from their files)."""

import importlib.util
from pathlib import Path

import pandas as pd

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load_script(name: str, monkeypatch):
    monkeypatch.syspath_prepend(str(EXPERIMENTS))  # the scripts import each other, as when run
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tree_seed_table_pairs_each_blend_with_the_trees_of_its_own_seed(monkeypatch):
    script = load_script("blend_tree_seeds", monkeypatch)
    blend, off, trees = script.SCORERS
    rows = []
    # seed 0: the blend 0.05 above its trees; seed 1: level; seed 2: 0.02 below
    for seed, (b, t) in enumerate([(0.90, 0.85), (0.88, 0.88), (0.86, 0.88)]):
        for scorer, accuracy in ((blend, b), (off, b), (trees, t)):
            rows.append(
                {
                    "layer": "layer1",
                    "tree_seed": seed,
                    "scorer": scorer,
                    "n": 10,
                    "accuracy": accuracy,
                    "macro_auc": accuracy,
                    "ambiguous_fraction": 0.0,
                    "confident_fraction": 0.5,
                    "confident_accuracy": 1.0,
                }
            )
    # sorted by scorer first: the pairing must follow the seed, not the row order
    table = script.summary_table(pd.DataFrame(rows).sort_values(["scorer", "tree_seed"], ascending=[True, False]))
    paired = table.split("Paired differences")[1]
    assert "| layer1 | 3 | +0.010 ± 0.036 | 1 / 1 | +0.010 ± 0.036 | 1 / 1 |" in paired
    assert "| layer1 | 10 | trees alone | 3 | 0.870 ± 0.017 |" in table
