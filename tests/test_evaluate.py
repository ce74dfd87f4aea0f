import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.config import PreprocessingConfig
from ccsnscore.data.splits import load_or_create_test_split
from ccsnscore.evaluation.report import write_report
from ccsnscore.evaluation.testset import evaluate_case
from ccsnscore.inference.model_set import load_model_set
from ccsnscore.testing.toy_models import write_untrained_models
from tests.conftest import CONF_DIR


@pytest.fixture
def toy_models(toy_root, tmp_path):
    """Untrained classifiers of all layers (case S) and layer 1 (case SL), recording a test split."""
    ds, _ = load_or_prepare(toy_root, tmp_path / "cache", PreprocessingConfig())
    split = tmp_path / "split.csv"
    load_or_create_test_split(split, ds.samples, 0.4, 0)
    return write_untrained_models(tmp_path / "models", cases=("S", "SL"), test_split_file=split), split


def test_evaluate_writes_a_report_for_two_cases(toy_root, toy_models, tmp_path):
    models, split = toy_models
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            "evaluate",
            overrides=[
                f"models={models}",
                f"paths.data_root={toy_root}",
                f"paths.cache_dir={tmp_path / 'cache'}",
                "n_passes=5",
                f"output_dir={tmp_path / 'report'}",
            ],
        )
    scored, infos = {}, {}
    for case in ("S", "SL"):
        scored[case], infos[case] = evaluate_case(load_model_set(models, case), cfg)
    test_names = set(pd.read_csv(split)["name"])
    assert set(scored["S"]["name"]) == test_names
    assert {"Hrich", "Hrich_std", "II_std", "decision", "path", "ambiguous", "true_layer1"} <= set(scored["S"])
    assert "II" not in scored["SL"]
    report = write_report(scored, tmp_path / "report", infos, command="test")
    text = report.read_text()
    for heading in (
        "Layer 1: H-rich vs H-poor",
        "Layer 2a",
        "Ib vs Ic (Ic-BL merged",
        "Layer 0",
        "Whole hierarchy",
        "Input cases side by side",
    ):
        assert heading in text
    figures = list((tmp_path / "report" / "figures").glob("*.png"))
    assert {"roc_layer1_S.png", "hist_layer1_S.png", "roc_layer1_SL.png"} <= {f.name for f in figures}
    assert (tmp_path / "report" / "scores_S.csv").is_file()
    metrics = pd.read_csv(tmp_path / "report" / "tables" / "metrics_layer1_S.csv", index_col=0)
    assert {"TPR_lo", "TPR_hi", "FPR", "F1"} <= set(metrics.columns)
    assert metrics["n"].sum() == 2 * (scored["S"]["true_layer1"] != "").sum()
    # every layer shows the networks with and without MC dropout beside the tree baseline
    assert {"eval_Hrich", "tree_Hrich", "tree_Ic", "tree_CC"} <= set(scored["S"].columns)
    comparison = pd.read_csv(tmp_path / "report" / "tables" / "comparison_layer1_S.csv", index_col=0)
    assert list(comparison.index[:3]) == ["network (MC dropout)", "network (dropout off)", "tree baseline"]
    assert {"accuracy_lo", "macro_auc_hi", "confident_fraction", "recall_Hrich"} <= set(comparison.columns)
    assert (comparison["n"] == (scored["S"]["true_layer1"] != "").sum()).all()
    gate = pd.read_csv(tmp_path / "report" / "tables" / "gate_S.csv", index_col=0)
    assert set(gate.index) <= {"Ia", "CC", "other"} and (gate["let through"] + gate["stopped"]).round(9).eq(1).all()
    assert "reliability_layer1_S.png" in {f.name for f in figures} and "The gate" in text
    by_phase = pd.read_csv(tmp_path / "report" / "tables" / "recall_by_phase_layer1_S.csv")
    assert by_phase["n"].sum() == (scored["S"]["true_layer1"] != "").sum() and "Recall by phase" in text


def test_evaluate_refuses_to_guess_the_models():
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("evaluate")
    with pytest.raises(Exception, match="Missing mandatory value"):
        _ = cfg.models
