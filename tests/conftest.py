"""Shared fixtures: the real public dataset (when present) and small generated datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from ccsnscore.hydra_configs import register_configs
from ccsnscore.runtime import configure_malloc
from ccsnscore.testing.toy_dataset import write_toy_dataset

REPO = Path(__file__).resolve().parents[1]
CONF_DIR = REPO / "src" / "ccsnscore" / "conf"
register_configs()
configure_malloc()  # as the entry points do: LSTMs are slow without it

PUBLIC_DATA = Path(os.environ.get("CCSNSCORE_DATA_ROOT", REPO.parent / "shared" / "data" / "ccsn-public"))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP threads
    waiting for each other stall for seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def public_data_root() -> Path:
    """The public dataset; tests that need it are skipped, with the reason, when it is absent."""
    if not (PUBLIC_DATA / "metadata.csv").is_file():
        pytest.skip(f"public dataset not found at {PUBLIC_DATA} (set CCSNSCORE_DATA_ROOT)")
    return PUBLIC_DATA


@pytest.fixture(scope="session")
def toy_root(tmp_path_factory) -> Path:
    """A generated dataset of 60 objects x 2 SEDM spectra with light curves."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy") / "data")


@pytest.fixture
def compose_cfg(tmp_path):
    """Compose a config of ``conf/`` with overrides; caches and splits go to ``tmp_path``."""

    def _compose(config_name: str = "prepare", overrides=(), data_root=None):
        base = [
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"paths.test_split_file={tmp_path / 'test_split.csv'}",
            f"paths.output_dir={tmp_path / 'outputs'}",
        ]
        if data_root is not None:
            base.append(f"paths.data_root={data_root}")
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(config_name=config_name, overrides=base + list(overrides), return_hydra_config=False)

    return _compose
