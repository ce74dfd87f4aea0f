"""The ``ccsnscore`` command.

    ccsnscore classify SPECTRUM [SPECTRUM ...] --z Z [Z ...] [--lc LC ...] [--specjd JD ...] [-o OUT]
    ccsnscore classify --metadata tonight.csv [--root DIR] [--z-from-header] [--plot DIR] [-o OUT]
    ccsnscore models                      # list the shipped classifiers and their validation metrics

Everything cheap is checked before any spectrum is read (options, output path, device, model
files); a user error ends with one line on stderr and exit status 2 (``--debug`` shows the
traceback). Rows are written as they finish, so an interrupt (Ctrl-C) keeps every finished row.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A mistake in the command's input, reported in one line."""


def _per_file(values, n: int, name: str):
    if values is None:
        return None
    if len(values) == 1 and n > 1:
        return list(values) * n
    if len(values) != n:
        raise UserError(f"give one {name} per spectrum ({n}), got {len(values)}")
    return list(values)


def _check_output(path: str | None, fmt: str | None) -> None:
    from ccsnscore.inference.classify import output_format

    if path in (None, "-"):
        return
    target = Path(path)
    if target.is_dir():
        raise UserError(f"-o {path}: is a folder; give a file name such as {Path(path) / 'scores.csv'}")
    if not target.parent.is_dir():
        raise UserError(f"-o {path}: the folder {target.parent} does not exist")
    try:
        output_format(path, fmt)
    except ValueError as err:
        raise UserError(f"-o {path}: {err}") from None


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device on this machine (use --device cpu)")
    try:
        torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a device name (cpu, cuda, cuda:1, ...)") from None
    return name


def _read_metadata(path: str):
    import pandas as pd

    file = Path(path)
    if file.is_dir():
        raise UserError(f"--metadata {path}: is a folder, not a CSV table")
    if not file.is_file():
        raise UserError(f"--metadata {path}: file not found")
    try:
        table = pd.read_csv(file, comment="#", dtype={"name": str, "specfilename": str, "lcfilename": str})
    except pd.errors.EmptyDataError:
        raise UserError(f"--metadata {path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeError, ValueError) as err:
        raise UserError(f"--metadata {path}: not a readable CSV table ({type(err).__name__})") from None
    if "specfilename" not in table.columns:
        raise UserError(f"--metadata {path}: no 'specfilename' column (columns: {list(table.columns)[:12]})")
    if table.empty:
        raise UserError(f"--metadata {path}: no rows")
    return table


def _input_table(args):
    import pandas as pd

    if args.metadata:
        return _read_metadata(args.metadata)
    if not args.spectra:
        raise UserError("give spectrum files or --metadata TABLE")
    n = len(args.spectra)
    table = pd.DataFrame({"specfilename": args.spectra})
    for column, values in (
        ("z", args.z),
        ("lcfilename", args.lc),
        ("specjd", args.specjd),
        ("instrument", args.instrument),
        ("num_snid", args.num_snid),
    ):
        values = _per_file(values, n, column)
        if values is not None:
            table[column] = values
    return table


def _load_models(args, device: str):
    from ccsnscore.inference.model_set import load_model_set, load_observed_model_set

    roots = args.models or None
    model_set = load_model_set(roots, args.case, map_location=device, gate_case="S")
    model_set.check_complete()
    observed = None
    if not args.no_observed_frame and (args.observed_models or roots is None):
        observed = load_observed_model_set(args.observed_models, args.case, map_location=device)
        if args.observed_models and observed is None:
            raise UserError(f"--observed-models {args.observed_models}: no such folder")
    return model_set, observed


def _passes(value: str):
    if value == "auto":
        return "auto"
    try:
        passes = int(value)
    except ValueError:
        raise UserError(f"--passes {value}: give a number of Monte-Carlo passes or auto") from None
    if passes < 1:
        raise UserError(f"--passes {value}: need at least 1 Monte-Carlo pass")
    return passes


def _classify(args) -> int:
    from ccsnscore.inference.classify import classify_table, output_metadata, write_table
    from ccsnscore.runtime import configure_malloc

    passes = _passes(args.passes if args.passes is not None else str(args.n_passes))
    if args.chunk_size < 1:
        raise UserError(f"--chunk-size {args.chunk_size}: need at least 1")
    _check_output(args.output, args.format)
    if args.plot and Path(args.plot).exists() and not Path(args.plot).is_dir():
        raise UserError(f"--plot {args.plot}: exists and is not a folder")
    table = _input_table(args)
    device = _device(args.device)
    configure_malloc()
    model_set, observed = _load_models(args, device)
    metadata = output_metadata(
        [model_set, observed],
        args.n_passes,
        args.seed,
        {"realtime": args.realtime, "z_from_header": args.z_from_header},
    )
    state = {"rows": None}

    def keep(finished):
        state["rows"] = finished
        if args.output not in (None, "-"):
            write_table(finished, args.output, args.format, metadata)

    try:
        result = classify_table(
            table,
            model_set,
            root=args.root,
            realtime=args.realtime,
            n_passes=passes,
            seed=args.seed,
            use_layer0=not args.no_layer0,
            observed=observed,
            z_from_header=args.z_from_header,
            confine=bool(args.metadata) and not args.allow_outside_root,
            chunk_size=args.chunk_size,
            on_chunk=keep,
            progress=sys.stderr.isatty() and not args.quiet,
        )
    except KeyboardInterrupt:
        done = 0 if state["rows"] is None else len(state["rows"])
        where = f" to {args.output}" if args.output not in (None, "-") and done else ""
        print(f"ccsnscore classify: interrupted; {done} of {len(table)} spectra written{where}", file=sys.stderr)
        return EXIT_INTERRUPTED
    text = write_table(result, args.output, args.format, metadata)
    if text is not None:
        sys.stdout.write(text)
    if args.plot:
        _plots(result, table, model_set, args)
    n_bad = int((result["error"] != "").sum())
    if n_bad and not args.quiet:
        print(
            f"ccsnscore classify: {n_bad} of {len(result)} spectra could not be classified (see the error column)",
            file=sys.stderr,
        )
    return 0


def _plots(result, table, model_set, args) -> None:
    """One PNG per spectrum and an index.html in ``--plot``."""
    import numpy as np

    from ccsnscore.data.formats import read_spectrum_file
    from ccsnscore.data.io import BadInputError, read_lightcurve
    from ccsnscore.evaluation.spectrum_plots import write_classification_plots, write_night_page

    root = Path(args.root)
    spectra, lightcurves, redshifts, epochs = {}, {}, {}, {}
    for i, row in table.reset_index(drop=True).iterrows():
        try:
            spectrum = read_spectrum_file(root / str(row["specfilename"]))
            spectra[i] = (spectrum.wave, spectrum.flux)
        except BadInputError:
            pass
        name = str(row.get("lcfilename", "") or "")
        if name and name != "nan":
            try:
                lightcurves[i] = read_lightcurve(root / name)
            except BadInputError:
                pass
        redshifts[i] = float(result.at[i, "z"]) if np.isfinite(float(result.at[i, "z"])) else np.nan
        jd = float(row["specjd"]) if "specjd" in row and str(row["specjd"]).strip() not in ("", "nan") else np.nan
        epochs[i] = jd - 2400000.5 if np.isfinite(jd) else None
    pngs = write_classification_plots(
        result, spectra, model_set.layer_classes(), args.plot, lightcurves=lightcurves, z=redshifts, mjd=epochs
    )
    page = write_night_page(result, pngs, args.plot)
    if not args.quiet:
        print(f"ccsnscore classify: {len(pngs)} figures and {page}", file=sys.stderr)


def _models(args) -> int:
    import pandas as pd

    from ccsnscore.model.checkpoints import classifier_metadata, shipped_models_dir

    root = Path(shipped_models_dir() if args.models is None else args.models)
    if not root.is_dir():
        raise UserError(f"--models {root}: no such folder")
    rows = []
    for path in sorted(root.glob("**/*.pt")):
        meta = classifier_metadata(path)
        frame = "rest" if meta["preprocessing"]["spectrum"].get("rest_frame", True) else "observed"
        rows.append(
            {
                "name": f"{meta['layer']}/{meta['input_case']}/{meta['positive']}",
                "frame": frame,
                **{k: meta["metrics"].get(k) for k in ("val/auroc", "val/acc")},
                "card": str(path.with_suffix(".md").relative_to(root)) if path.with_suffix(".md").is_file() else "",
            }
        )
    print(pd.DataFrame(rows).to_string(index=False) if rows else f"no classifiers under {root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccsnscore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classify", help="classify spectra with trained classifiers")
    c.add_argument("spectra", nargs="*", help="spectrum files: ascii, CSV/ECSV with a header, FITS (.gz ok)")
    c.add_argument("--z", type=float, nargs="+", help="redshift of each spectrum (one value: all)")
    c.add_argument("--lc", nargs="+", help="light-curve CSV of each spectrum (mjd,mag,emag,filter)")
    c.add_argument("--specjd", type=float, nargs="+", help="JD of each spectrum (for --realtime)")
    c.add_argument(
        "--instrument",
        nargs="+",
        help="instrument of each spectrum (default P60 = SEDM; others are smoothed to SEDM resolution)",
    )
    c.add_argument("--num-snid", type=float, nargs="+", help="numSNID of each spectrum (TNS criteria)")
    c.add_argument(
        "--metadata",
        help="a CSV with specfilename[, z, lcfilename, specjd, instrument, name, num_snid] instead of files",
    )
    c.add_argument("--root", default=".", help="folder that file names in --metadata start from")
    c.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="let --metadata name files outside --root (refused by default)",
    )
    c.add_argument(
        "--models",
        nargs="+",
        default=None,
        help="model folders <layer>/<case>/<class>.pt or training run directories (default: shipped)",
    )
    c.add_argument(
        "--observed-models",
        default=None,
        help="observed-frame models for spectra without a usable redshift (default: the shipped ones)",
    )
    c.add_argument(
        "--no-observed-frame",
        action="store_true",
        help="never use observed-frame models: spectra without a redshift get an error",
    )
    c.add_argument(
        "--z-from-header",
        action="store_true",
        help="take SNID's redshift from the SEDM header (SNIDZMED) when z is missing (column z_source)",
    )
    c.add_argument("--case", default="S", choices=["S", "SL", "SD", "SLD"], help="input case")
    c.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cut light curves at the spectrum epoch (default: as the models were trained)",
    )
    c.add_argument("--no-layer0", action="store_true", help="skip the gate (layer 0)")
    c.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: a GPU when present)")
    c.add_argument(
        "--passes",
        default=None,
        help="Monte-Carlo dropout passes per classifier, or auto: blocks of 20 until each spectrum's "
        "decision is settled (at most 100; only the layers it reaches)",
    )
    c.add_argument("--n-passes", type=int, default=100, help="Monte-Carlo dropout passes (same as --passes N)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--chunk-size", type=int, default=500, help="spectra read and scored at a time")
    c.add_argument("-o", "--output", default=None, help="output file (.csv, .json, .ecsv); default stdout (CSV)")
    c.add_argument("--format", choices=["csv", "json", "ecsv"], default=None)
    c.add_argument("--plot", default=None, help="folder for one PNG per spectrum and an index.html")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    c.set_defaults(func=_classify)
    m = sub.add_parser("models", help="list classifiers and their metrics")
    m.add_argument("--models", default=None)
    m.set_defaults(func=_models)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as err:
        if args.debug:
            raise
        print(f"ccsnscore {args.command}: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (FileNotFoundError, ValueError, OSError) as err:
        # model files, unreadable inputs, bad values: one line, no traceback (--debug shows it)
        if args.debug:
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"ccsnscore {args.command}: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
