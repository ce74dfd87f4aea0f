"""Build (or reuse) the preprocessed cache of a dataset and print what it holds.

python -m ccsnscore.prepare [paths.data_root=/path/to/ccsn-public] [preprocessing.lightcurve.realtime=true]
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ccsnscore.data.cache import load_or_prepare
from ccsnscore.data.labels import label_status, layer_class_of
from ccsnscore.data.splits import load_or_create_test_split
from ccsnscore.hydra_configs import register_configs
from ccsnscore.runtime import report_user_errors

log = logging.getLogger(__name__)
register_configs()


def dataset_report(cfg: DictConfig) -> dict[str, pd.DataFrame]:
    """Build or load the cache and return tables of counts: per type and split, per layer class
    and split, per skip reason, and of left-out labels."""
    ds, manifest = load_or_prepare(cfg.paths.data_root, cfg.paths.cache_dir, cfg.preprocessing, cfg.n_jobs)
    samples = ds.samples.copy()
    samples["label_status"] = label_status(samples["type"], cfg.labels.unclassified)
    usable = samples[samples["label_status"] == "ok"]
    test = load_or_create_test_split(
        cfg.paths.test_split_file, usable, cfg.data.test_fraction, cfg.data.split_seed, tuple(cfg.data.test_sources)
    )
    samples["split"] = samples["name"].isin(test).map({True: "test", False: "train+val"})
    samples.loc[samples["label_status"] != "ok", "split"] = "left out"
    tables = {
        "skipped_rows": ds.skips,
        "types": samples.pivot_table(index="type", columns="split", values="row", aggfunc="count", fill_value=0),
        "label_status": samples["label_status"].value_counts().rename_axis("label status").to_frame("spectra"),
        "skips": (
            ds.skips.groupby(["stage", "reason"]).size().rename("count").reset_index()
            if len(ds.skips)
            else pd.DataFrame(columns=["stage", "reason", "count"])
        ),
    }
    for layer, classes in cfg.labels.layers.items():
        cls = layer_class_of(usable["type"], OmegaConf.to_container(classes))
        tab = usable.assign(cls=cls, split=samples.loc[usable.index, "split"])
        tables[layer] = tab[tab["cls"] != ""].pivot_table(
            index="cls", columns="split", values="row", aggfunc="count", fill_value=0
        )
    tables["manifest"] = pd.Series(
        {k: manifest[k] for k in ("cache_key", "dataset_fingerprint", "n_rows", "n_samples")}
    ).to_frame("value")
    return tables


@hydra.main(version_base="1.3", config_path="conf", config_name="prepare")
@report_user_errors("prepare")
def main(cfg: DictConfig) -> None:
    start = time.perf_counter()
    tables = dataset_report(cfg)
    skipped = tables.pop("skipped_rows")
    out = (
        Path(HydraConfig.get().runtime.output_dir) / "skipped.csv" if HydraConfig.initialized() else Path("skipped.csv")
    )
    skipped.to_csv(out, index=False)
    with pd.option_context("display.max_rows", 200, "display.width", 160):
        for title, table in tables.items():
            print(f"\n== {title} ==\n{table.to_string()}")
    print(f"\nskipped and flagged rows, one per line with the reason: {out}")
    print(f"ready in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
