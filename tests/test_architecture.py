"""The package's layers: one direction of imports, and inference without the training stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ccsnscore"
ALLOWED = {
    "data": {"data"},
    "model": {"data", "model"},
    "training": {"data", "model", "training"},
    "tuning": {"data", "model", "training", "tuning"},
    "inference": {"data", "model", "inference"},
    "evaluation": {"data", "model", "inference", "evaluation"},
    "testing": {"data", "model", "testing"},
}
"""For each subpackage, the subpackages its modules may import (data <- model <- inference <-
evaluation; training uses data and model; tuning uses training). Only the entry points on top
(train, evaluate, prepare, sweep, cli) use everything."""


def imported_subpackages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ccsnscore":
                found.add(parts[1] if len(parts) > 1 else "ccsnscore")
    return found


def test_imports_go_one_way():
    wrong = []
    for subpackage, allowed in ALLOWED.items():
        for path in sorted((PACKAGE / subpackage).rglob("*.py")):
            bad = imported_subpackages(path) - allowed - {"ccsnscore"}
            if bad:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert not wrong, "\n".join(wrong)
    assert set(ALLOWED) <= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}


def test_classifying_loads_no_training_stack():
    code = (
        "import sys; import ccsnscore.cli, ccsnscore.inference.classify, ccsnscore.inference.model_set; "
        "import ccsnscore; ccsnscore.load_model_set; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'lightning', 'pytorch_lightning', 'hydra', 'optuna', 'sklearn', 'torchmetrics', 'matplotlib'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
