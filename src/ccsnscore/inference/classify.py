"""Real-time classification of new spectra through the classifier hierarchy.

Input is a table like ``metadata.csv`` (``specfilename``, ``z``, optional ``lcfilename``,
``specjd``, ``instrument``, ``name``, ``num_snid``); output is one row per input spectrum with the
hierarchy's decision, every classifier's mean and ``_std``, and an ``error`` column (empty when the
spectrum was classified). A bad spectrum never stops the batch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ccsnscore.data.channels import build_channels
from ccsnscore.data.config import SEDM_INSTRUMENT
from ccsnscore.data.preprocess import prepare_dataset
from ccsnscore.inference.decisions import TNS_LAYER, tns_reportable
from ccsnscore.inference.model_set import ModelSet
from ccsnscore.inference.pipeline import predict

INPUT_DEFAULTS = {"name": "", "z": np.nan, "lcfilename": "", "specjd": np.nan, "instrument": SEDM_INSTRUMENT}


def normalise_inputs(table: pd.DataFrame) -> pd.DataFrame:
    """Fill optional input columns; ``name`` defaults to the spectrum's file name."""
    table = table.reset_index(drop=True).copy()
    if "specfilename" not in table:
        raise ValueError("the input table needs a 'specfilename' column")
    for column, default in INPUT_DEFAULTS.items():
        if column not in table:
            table[column] = default
    table["lcfilename"] = table["lcfilename"].fillna("").astype(str)
    table["instrument"] = table["instrument"].fillna(SEDM_INSTRUMENT).replace("", SEDM_INSTRUMENT).astype(str)
    table["name"] = table["name"].fillna("").astype(str)
    unnamed = table["name"] == ""
    table.loc[unnamed, "name"] = table.loc[unnamed, "specfilename"].map(lambda p: Path(str(p)).name)
    table["row"] = np.arange(len(table))
    return table


def classify_table(
    table: pd.DataFrame,
    model_set: ModelSet,
    root: str | os.PathLike = ".",
    realtime: bool | None = None,
    n_passes: int = 100,
    seed: int | None = 0,
    use_layer0: bool = True,
) -> pd.DataFrame:
    """Classify every spectrum of ``table`` (paths relative to ``root`` or absolute).

    ``realtime`` (default: as the models were trained) cuts light curves at ``specjd``.
    """
    table = normalise_inputs(table)
    pp = model_set.preprocessing
    if realtime is not None:
        pp.lightcurve.realtime = bool(realtime)
    to_prepare = table
    if model_set.input_case == "S":  # light curves are not an input: no GP fits
        to_prepare = table.assign(lcfilename="")
    prepared = prepare_dataset(to_prepare, Path(root), pp)
    out = table.drop(columns=["row"]).copy()
    errors = prepared.skips.groupby("row")["message"].agg("; ".join)
    spectrum_failed = prepared.skips.loc[prepared.skips["stage"] == "spectrum", "row"]
    out["error"] = ""
    out.loc[spectrum_failed.to_numpy(), "error"] = errors.reindex(spectrum_failed).to_numpy()
    lc_notes = prepared.skips.loc[prepared.skips["stage"] == "lightcurve"].groupby("row")["reason"].agg(",".join)
    out["lightcurve_note"] = ""
    out.loc[lc_notes.index.to_numpy(), "lightcurve_note"] = lc_notes.to_numpy()
    if len(prepared.samples) == 0:
        return order_columns(out, [])
    arrays = {"spectrum": prepared.spectrum, "lc": prepared.lc, "dmdt": prepared.dmdt}
    channels = build_channels(arrays, model_set.input_case, prepared.bands)
    kept_rows = prepared.samples["row"].to_numpy()
    if not use_layer0:
        model_set = model_set.without(model_set.hierarchy.root)
    result = blank_branches_not_taken(predict(model_set, channels, n_passes, seed, index=kept_rows), model_set)
    for column in result.columns:
        out.loc[kept_rows, column] = result[column].to_numpy()
    if "num_snid" in out:
        out["tns_reportable"] = tns_reportable_rows(out, model_set)
    return order_columns(out, list(model_set.classifiers))


def blank_branches_not_taken(result: pd.DataFrame, model_set: ModelSet) -> pd.DataFrame:
    """Scores of the classifiers of layers a row never reached set to NaN (a layer-2b score of a
    spectrum decided H-rich means nothing); the decision columns already say which were reached."""
    result = result.copy()
    for layer, classes in model_set.layer_classes().items():
        unreached = (result[f"{layer}_decision"] == "").to_numpy()
        columns = [c for cls in classes for c in (cls, f"{cls}_std")]
        result.loc[unreached, columns] = np.nan
    return result


def tns_reportable_rows(out: pd.DataFrame, model_set: ModelSet) -> np.ndarray:
    """Section 6 on each row: a decided layer-1 class whose score passes the tier of its numSNID."""
    if f"{TNS_LAYER}_decision" not in out:
        return np.zeros(len(out), bool)
    decided = out[f"{TNS_LAYER}_decision"].isin(model_set.layer_classes().get(TNS_LAYER, [])).to_numpy()
    passes = tns_reportable(
        pd.to_numeric(out[f"{TNS_LAYER}_score"], errors="coerce"),
        pd.to_numeric(out[f"{TNS_LAYER}_score_std"], errors="coerce"),
        pd.to_numeric(out["num_snid"], errors="coerce"),
    )
    return decided & passes & (out["error"] == "").to_numpy()


def order_columns(table: pd.DataFrame, classes) -> pd.DataFrame:
    """Identification and decision first, then each classifier's mean and std, then the rest."""
    first = ["name", "specfilename", "error", "decision", "score", "score_std", "path", "tns_reportable"]
    scores = [c for cls in classes for c in (cls, f"{cls}_std")]
    leading = [c for c in first + scores if c in table.columns]
    return table[leading + [c for c in table.columns if c not in leading]]


def write_table(table: pd.DataFrame, path: str | os.PathLike | None, fmt: str | None = None) -> str | None:
    """Write ``table`` as CSV, JSON (records) or ECSV (by ``fmt`` or the file suffix, else CSV); to stdout as
    CSV when ``path`` is None or '-'. Returns the text when written to stdout."""
    fmt = (fmt or (Path(path).suffix.lstrip(".") if path not in (None, "-") else "") or "csv").lower()
    if fmt == "csv":
        text = table.to_csv(index=False)
    elif fmt == "json":
        text = table.to_json(orient="records", indent=1)
    elif fmt == "ecsv":
        import io

        from astropy.table import Table

        buffer = io.StringIO()
        Table.from_pandas(table.astype({c: str for c in table.columns if table[c].dtype == object})).write(
            buffer, format="ascii.ecsv"
        )
        text = buffer.getvalue()
    else:
        raise ValueError(f"unknown output format {fmt!r}: choose csv, json or ecsv")
    if path in (None, "-"):
        return text
    Path(path).write_text(text)
    return None
