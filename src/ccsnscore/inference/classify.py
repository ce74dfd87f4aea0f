"""Real-time classification of new spectra through the classifier hierarchy.

Input is a table like ``metadata.csv`` (``specfilename``, ``z``, optional ``lcfilename``, ``specjd``,
``instrument``, ``name``, ``num_snid``) or, from Python, spectra as objects
(:func:`classify_spectra`). Output is one row per input spectrum, always with the same columns
(:func:`output_columns`): identification, ``error`` (empty when classified) and ``warnings``, the
decision with its score, the model used and where the redshift came from, each layer's decision,
and every classifier's Monte-Carlo mean and ``_std`` (blank for layers the spectrum never reached).
A bad row never stops the batch; rows are classified in chunks, and ``on_chunk`` receives the table
of every finished row after each chunk (so a caller can write it and keep it on an interrupt).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import ccsnscore
from ccsnscore.data.channels import build_channels
from ccsnscore.data.config import SEDM_INSTRUMENT
from ccsnscore.data.formats import read_spectrum_file, spectrum_from_object
from ccsnscore.data.io import BadInputError
from ccsnscore.data.preprocess import parse_number, prepare_dataset, resolve_input_path
from ccsnscore.inference.decisions import TNS_LAYER, tns_reportable
from ccsnscore.inference.model_set import ModelSet
from ccsnscore.inference.pipeline import predict

INPUT_DEFAULTS = {"name": "", "z": np.nan, "lcfilename": "", "specjd": np.nan, "instrument": SEDM_INSTRUMENT}
HEADER_REDSHIFT_KEYS = ("SNIDZMED", "SNIDMATCHREDSHIFT")
"""SEDM header cards holding SNID's redshift, in the order they are tried (``--z-from-header``)."""
LEADING_COLUMNS = [
    "name",
    "specfilename",
    "error",
    "warnings",
    "decision",
    "score",
    "score_std",
    "path",
    "model",
    "z",
    "z_source",
    "passes",
]


@dataclass
class ClassifyOptions:
    """How :func:`classify_table` runs. ``realtime`` None: as the models were trained."""

    n_passes: int | str = 100
    seed: int | None = 0
    realtime: bool | None = None
    use_gate: bool = True
    z_from_header: bool = False
    confine: bool = False
    chunk_size: int = 500
    progress: bool = False
    extra: dict = field(default_factory=dict)


def normalise_inputs(table: pd.DataFrame) -> pd.DataFrame:
    """Fill optional input columns; ``name`` defaults to the spectrum's file name."""
    table = table.reset_index(drop=True).copy()
    if "specfilename" not in table:
        raise ValueError("the input table needs a 'specfilename' column")
    for column, default in INPUT_DEFAULTS.items():
        if column not in table:
            table[column] = default
    for column in ("specfilename", "lcfilename", "name", "instrument"):
        table[column] = table[column].astype(object).where(table[column].notna(), "").astype(str).str.strip()
    table.loc[table["instrument"] == "", "instrument"] = SEDM_INSTRUMENT
    table["row"] = np.arange(len(table))
    return table


def output_columns(model_set: ModelSet, observed: ModelSet | None = None) -> list[str]:
    """The columns of the output whatever happens to the rows: identification, decision, then each
    layer's decision columns and every classifier's mean and std."""
    layers: dict[str, list[str]] = {}
    for models in (model_set, observed):
        if models is None:
            continue
        for layer in models.hierarchy.layers():
            if layer in models.layers:
                layers.setdefault(layer, [])
                layers[layer] += [c for c in models.layers[layer] if c not in layers[layer]]
    steps = [f"{layer}_{k}" for layer in layers for k in ("decision", "score", "score_std")]
    scores = [c for classes in layers.values() for cls in classes for c in (cls, f"{cls}_std")]
    return LEADING_COLUMNS + steps + scores


def empty_output(table: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The output frame for ``table``'s rows: text columns empty, numbers NaN."""
    out = pd.DataFrame(index=table.index)
    for column in columns:
        text = column in ("name", "specfilename", "error", "warnings", "decision", "path", "model", "z_source") or (
            column.endswith("_decision")
        )
        out[column] = "" if text else np.nan
    out["name"], out["specfilename"] = table["name"].to_numpy(), table["specfilename"].to_numpy()
    return out


def _header_redshift(header: dict, max_z: float) -> float:
    lookup = {str(k).strip().upper(): v for k, v in header.items()}
    for key in HEADER_REDSHIFT_KEYS:
        try:
            z = float(str(lookup.get(key, "")).strip())
        except ValueError:
            continue
        if np.isfinite(z) and 0 <= z <= max_z:
            return z
    return float("nan")


def _read_rows(chunk: pd.DataFrame, root: Path, options: ClassifyOptions, max_z: float, objects=None):
    """Per row: the spectrum read (or the error), its redshift and where the redshift came from."""
    spectra, errors, redshifts, sources, names = {}, {}, {}, {}, {}
    for row in chunk.itertuples():
        try:
            z = parse_number(row.z, "z")
            if objects is not None:
                spectrum = spectrum_from_object(objects[row.row], name=row.name)
            else:
                spectrum = read_spectrum_file(resolve_input_path(root, row.specfilename, options.confine))
            spectra[row.row] = spectrum
            names[row.row] = spectrum.object_name
        except BadInputError as err:
            errors[row.row] = str(err)
            continue
        usable = np.isfinite(z) and 0 <= z <= max_z
        source = "input" if usable else ""
        if not usable and options.z_from_header:
            z = _header_redshift(spectrum.header, max_z)
            usable, source = np.isfinite(z), "header (SNID)" if np.isfinite(z) else ""
        redshifts[row.row], sources[row.row] = (z if usable else np.nan), source
    return spectra, errors, redshifts, sources, names


def _gate_note(model_set: ModelSet) -> str:
    gate_case = getattr(model_set, "gate_case", None)
    if gate_case and gate_case != model_set.input_case:
        return f"gate: case-{gate_case} layer-0 models (none for case {model_set.input_case})"
    if model_set.hierarchy.root not in model_set.layers:
        return "no gate: the models have no layer 0 for this case (SNe Ia and other transients are not stopped)"
    return ""


def _classify_group(
    rows: pd.DataFrame,
    model_set: ModelSet,
    root: Path,
    options: ClassifyOptions,
    spectra: dict,
    frame: str,
    out: pd.DataFrame,
) -> None:
    """Preprocess and score the rows of one model set (rest or observed frame) into ``out``."""
    pp = model_set.preprocessing
    if options.realtime is not None:
        pp.lightcurve.realtime = bool(options.realtime)
    if model_set.input_case == "S":  # light curves are not an input: no GP fits
        rows = rows.assign(lcfilename="")
    prepared = prepare_dataset(rows, root, pp, confine=options.confine, given=spectra)
    skips = prepared.skips
    for stage, column in (("spectrum", "error"), ("warning", "warnings")):
        messages = skips[skips["stage"] == stage].groupby("row")["message"].agg("; ".join)
        _append(out, column, messages)
    lc_notes = skips[skips["stage"] == "lightcurve"].groupby("row")["message"].agg("; ".join)
    _append(out, "warnings", lc_notes.map(lambda m: f"light curve not used: {m}"))
    if model_set.input_case != "S":
        has_lc = prepared.samples.filter(like="has_lc_").any(axis=1).to_numpy()
        missing = prepared.samples["row"].to_numpy()[~has_lc]
        _append(
            out,
            "warnings",
            pd.Series("no usable light curve for a case-" + model_set.input_case + " model", index=missing),
        )
    if len(prepared.samples) == 0:
        return
    arrays = {"spectrum": prepared.spectrum, "lc": prepared.lc, "dmdt": prepared.dmdt}
    channels = build_channels(arrays, model_set.input_case, prepared.bands)
    kept = prepared.samples["row"].to_numpy()
    active = model_set if options.use_gate else model_set.without(model_set.hierarchy.root)
    result = blank_branches_not_taken(predict(active, channels, options.n_passes, options.seed, index=kept), active)
    for column in result.columns:
        if column in out.columns:
            out.loc[kept, column] = result[column].to_numpy()
    out.loc[kept, "model"] = f"{frame} {model_set.input_case}"
    if "passes" not in result:
        out.loc[kept, "passes"] = options.n_passes
    note = _gate_note(active) if options.use_gate else "gate switched off"
    if note:
        _append(out, "warnings", pd.Series(note, index=kept))


def _append(out: pd.DataFrame, column: str, messages: pd.Series) -> None:
    """Join ``messages`` (indexed by row) onto the text already in ``out[column]``."""
    for row, message in messages.items():
        current = out.at[row, column]
        out.at[row, column] = f"{current}; {message}" if current else message


def classify_table(
    table: pd.DataFrame,
    model_set: ModelSet,
    root: str | os.PathLike = ".",
    realtime: bool | None = None,
    n_passes: int | str = 100,
    seed: int | None = 0,
    use_layer0: bool = True,
    observed: ModelSet | None = None,
    z_from_header: bool = False,
    confine: bool = False,
    chunk_size: int = 500,
    on_chunk: Callable[[pd.DataFrame], None] | None = None,
    progress: bool = False,
    objects: list | None = None,
) -> pd.DataFrame:
    """Classify every spectrum of ``table`` (paths relative to ``root``, or absolute).

    ``model_set``: rest-frame classifiers, used for spectra with a usable redshift (``z`` column,
    or SNID's from the SEDM header with ``z_from_header``); ``observed``: observed-frame
    classifiers for the spectra without one (else those rows get an error saying so).
    ``realtime`` (default: as the models were trained) cuts light curves at ``specjd``.
    ``n_passes``: Monte-Carlo passes per classifier, or ``"auto"`` (blocks of passes until each
    spectrum's decision is settled; see :mod:`ccsnscore.inference.adaptive`).
    ``confine``: file names must stay inside ``root``. Rows are done ``chunk_size`` at a time and
    ``on_chunk`` gets the finished rows after each chunk. ``objects``: spectra as Python objects,
    one per row (see :func:`classify_spectra`), instead of reading ``specfilename``.
    """
    options = ClassifyOptions(n_passes, seed, realtime, use_layer0, z_from_header, confine, chunk_size, progress)
    table = normalise_inputs(table)
    columns = output_columns(model_set, observed)
    out = empty_output(table, columns)
    root = Path(root)
    max_z = model_set.preprocessing.spectrum.max_z
    starts = range(0, len(table), max(1, int(chunk_size)))
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=len(starts), unit="chunk", desc="classify", leave=False)
    for start in starts:
        chunk = table.iloc[start : start + chunk_size]
        spectra, errors, redshifts, sources, names = _read_rows(chunk, root, options, max_z, objects)
        for row, message in errors.items():
            out.at[row, "error"] = message
        for row, name in names.items():
            if not table.at[row, "name"] and name:
                out.at[row, "name"] = name
        read = chunk[chunk["row"].isin(spectra)].copy()
        read["z"] = read["row"].map(redshifts)
        out.loc[read["row"].to_numpy(), "z"] = read["z"].to_numpy()
        out.loc[read["row"].to_numpy(), "z_source"] = read["row"].map(sources).to_numpy()
        with_z = read["z"].notna().to_numpy()
        _classify_group(read[with_z], model_set, root, options, spectra, "rest-frame", out)
        without_z = read[~with_z]
        if observed is not None:
            _classify_group(without_z, observed, root, options, spectra, "observed-frame", out)
            note = "no usable redshift: observed-frame models"
            if observed.input_case != model_set.input_case:
                note += f" of case {observed.input_case} (light curves not used)"
            _append(out, "warnings", pd.Series(note, index=without_z["row"]))
        else:
            for row in without_z["row"]:
                out.at[row, "error"] = (
                    "no usable redshift (give z, or --z-from-header for SEDM spectra; no "
                    "observed-frame models were loaded)"
                )
        if on_chunk is not None:
            on_chunk(finish(out.loc[: chunk.index[-1]], table, model_set))
    return finish(out, table, model_set)


def finish(out: pd.DataFrame, table: pd.DataFrame, model_set: ModelSet) -> pd.DataFrame:
    """Final columns: the TNS criterion when ``num_snid`` is given; unclassified rows blank."""
    out = out.copy()
    if "num_snid" in table:
        num_snid = pd.to_numeric(table.loc[out.index, "num_snid"], errors="coerce")
        bad = table.loc[out.index, "num_snid"].notna() & num_snid.isna()
        _append(out, "warnings", pd.Series("num_snid is not a number", index=out.index[bad.to_numpy()]))
        out["num_snid"] = num_snid
        out["tns_reportable"] = tns_reportable_rows(out, model_set)
    return out


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


def classify_spectra(
    spectra: Iterable,
    model_set: ModelSet | None = None,
    z=None,
    names: Iterable[str] | None = None,
    **options,
) -> pd.DataFrame:
    """Classify spectra given as Python objects: file paths, ``(wave, flux)`` arrays (Angstrom),
    astropy Tables, pandas DataFrames or ``specutils`` spectra (see
    :func:`ccsnscore.data.formats.spectrum_from_object`), one output row each.

    ``z``: one redshift for all, or one per spectrum (None or NaN: unknown). ``model_set``: the
    shipped case-S classifiers by default, with the shipped observed-frame ones for spectra without
    a redshift (as ``ccsnscore classify``). Other keywords go to :func:`classify_table`.
    """
    from ccsnscore.inference.model_set import load_model_set, load_observed_model_set

    spectra = list(spectra)
    n = len(spectra)
    redshifts = list(z) if np.ndim(z) else [z] * n
    names = list(names) if names is not None else [""] * n
    if len(redshifts) != n or len(names) != n:
        raise ValueError(f"give one z and one name per spectrum ({n}), or one z for all")
    labels = [
        str(s) if isinstance(s, (str, os.PathLike)) else f"<{type(s).__name__} {k}>" for k, s in enumerate(spectra)
    ]
    table = pd.DataFrame({"specfilename": labels, "z": [np.nan if v is None else v for v in redshifts], "name": names})
    if model_set is None:
        model_set = load_model_set()
        options.setdefault("observed", load_observed_model_set())
    return classify_table(table, model_set, objects=spectra, **options)


def output_metadata(model_sets: Iterable[ModelSet], n_passes: int, seed, extra: dict | None = None) -> dict:
    """What an output file records about how it was made: version, input case, passes, seed, and
    every classifier used with its weights' sha256."""
    models = {}
    for model_set in model_sets:
        if model_set is None:
            continue
        frame = "rest-frame" if model_set.preprocessing.spectrum.rest_frame else "observed-frame"
        for layer, classifiers in model_set.layers.items():
            for positive, model in classifiers.items():
                name = f"{frame}/{layer}/{model.metadata.get('input_case')}/{positive}"
                models[name] = model.metadata.get("weights_sha256") or "unverified (format 1)"
    first = next(m for m in model_sets if m is not None)
    return {
        "ccsnscore_version": ccsnscore.__version__,
        "input_case": first.input_case,
        "n_passes": n_passes,
        "seed": seed,
        "models": models,
        **(extra or {}),
    }


def write_table(
    table: pd.DataFrame, path: str | os.PathLike | None, fmt: str | None = None, metadata: dict | None = None
) -> str | None:
    """Write ``table`` as CSV, JSON or ECSV (by ``fmt`` or the file suffix, else CSV); to stdout's
    text (returned) when ``path`` is None or '-'. A file is written atomically (a temporary file in
    the same folder, then renamed), so a reader never sees half of it.

    ``metadata`` goes into the ECSV header (``meta``), a JSON ``{"metadata": ..., "rows": [...]}``
    object, or ``# key: value`` lines at the top of a CSV.
    """
    import json

    fmt = output_format(path, fmt)
    metadata = metadata or {}
    if fmt == "csv":
        lines = "".join(f"# {k}: {json.dumps(v)}\n" for k, v in metadata.items())
        text = lines + table.to_csv(index=False)
    elif fmt == "json":
        rows = json.loads(table.to_json(orient="records"))
        text = json.dumps({"metadata": metadata, "rows": rows}, indent=1)
    else:
        import io

        from astropy.table import Table

        buffer = io.StringIO()
        astropy_table = Table.from_pandas(table.astype({c: str for c in table.columns if table[c].dtype == object}))
        astropy_table.meta.update(metadata)
        astropy_table.write(buffer, format="ascii.ecsv")
        text = buffer.getvalue()
    if path in (None, "-"):
        return text
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return None


OUTPUT_FORMATS = ("csv", "json", "ecsv")


def output_format(path, fmt: str | None = None) -> str:
    """The output format of ``path``: ``fmt``, else its suffix (no suffix: CSV); ValueError when unknown."""
    if fmt is None and path not in (None, "-"):
        fmt = Path(path).suffix.lstrip(".") or "csv"
    fmt = (fmt or "csv").lower()
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}: use a .csv, .json or .ecsv file, or --format")
    return fmt
