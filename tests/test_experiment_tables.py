"""Tables of the experiment scripts under experiments/ (loaded from their files)."""

import importlib.util
from pathlib import Path

import pandas as pd

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def load_script(name: str, monkeypatch):
    """``name``: the script's path under experiments/ without ``.py`` (``ablations/score``)."""
    path = EXPERIMENTS / f"{name}.py"
    monkeypatch.syspath_prepend(str(path.parent))  # the scripts import each other, as when run
    spec = importlib.util.spec_from_file_location(path.stem, path)
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


def test_ablation_table_pairs_each_blended_run_with_the_tree_seed_it_was_blended_with(monkeypatch):
    score = load_script("ablations/score", monkeypatch)
    trees = "tree+cont31[C1]"
    rows = [{"variant": trees, "run": f"seed{s}", "accuracy": a, "macro_auc": a} for s, a in enumerate([0.80, 0.90])]
    # run seed1 blended with tree seed 1, run seed2 with tree seed 0
    for run, tree_seed, network, blend in (("seed1", 1, 0.85, 0.92), ("seed2", 0, 0.80, 0.84)):
        rows.append({"variant": "C1[MC head]", "run": run, "accuracy": network, "macro_auc": network})
        rows.append(
            {
                "variant": "C1[MC head]+tree+cont31",
                "run": run,
                "tree_seed": tree_seed,
                "trees": trees,
                "accuracy": blend,
                "macro_auc": blend,
            }
        )
    lines = score.paired_differences(pd.DataFrame(rows).sample(frac=1.0, random_state=0))
    # blend: 0.92 - 0.90 and 0.84 - 0.80; network alone: 0.85 - 0.90 and 0.80 - 0.80
    assert "| C1[MC head]+tree+cont31 | 2 | +0.030 ± 0.014 | 2 / 0 | +0.030 ± 0.014 | 2 / 0 |" in lines
    assert "| C1[MC head] (network alone) | 2 | -0.025 ± 0.035 | 0 / 1 | -0.025 ± 0.035 | 0 / 1 |" in lines


def test_ablation_table_without_blends_has_no_paired_differences(monkeypatch):
    score = load_script("ablations/score", monkeypatch)
    table = pd.DataFrame([{"variant": "C1", "run": "seed1", "accuracy": 0.8, "macro_auc": 0.9}])
    assert score.paired_differences(table) == []
