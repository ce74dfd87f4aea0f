"""The ``ccsnscore`` command.

ccsnscore classify SPECTRUM [SPECTRUM ...] --z Z [Z ...] [--lc LC ...] [--specjd JD ...]
ccsnscore classify --metadata new_spectra.csv [--root DIR]
ccsnscore models                      # list the shipped classifiers and their test metrics
"""

from __future__ import annotations

import argparse
import sys


def _per_file(values, n: int, name: str):
    if values is None:
        return None
    if len(values) == 1 and n > 1:
        return list(values) * n
    if len(values) != n:
        raise SystemExit(f"ccsnscore classify: give one {name} per spectrum ({n}), got {len(values)}")
    return list(values)


def _classify(args) -> int:
    from ccsnscore.inference.classify import classify_table, write_table
    from ccsnscore.inference.model_set import load_model_set
    from ccsnscore.runtime import configure_malloc

    configure_malloc()

    import pandas as pd

    if args.metadata:
        table = pd.read_csv(args.metadata)
    elif args.spectra:
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
    else:
        raise SystemExit("ccsnscore classify: give spectrum files or --metadata TABLE")
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model_set = load_model_set(args.models, args.case, map_location=device)
    result = classify_table(
        table,
        model_set,
        root=args.root,
        realtime=args.realtime,
        n_passes=args.n_passes,
        seed=args.seed,
        use_layer0=not args.no_layer0,
    )
    text = write_table(result, args.output, args.format)
    if text is not None:
        sys.stdout.write(text)
    n_bad = int((result["error"] != "").sum())
    if n_bad:
        print(
            f"ccsnscore classify: {n_bad} of {len(result)} spectra could not be classified (see the error column)",
            file=sys.stderr,
        )
    return 0


def _models(args) -> int:
    from pathlib import Path

    import pandas as pd

    from ccsnscore.model.checkpoints import classifier_metadata, shipped_models_dir

    root = shipped_models_dir() if args.models is None else args.models
    rows = []
    for path in sorted(Path(root).glob("*/*/*.pt")):
        meta = classifier_metadata(path)
        rows.append(
            {
                "name": f"{meta['layer']}/{meta['input_case']}/{meta['positive']}",
                **{k: meta["metrics"].get(k) for k in ("val/auroc", "val/acc")},
                "card": str(path.with_suffix(".md")) if path.with_suffix(".md").is_file() else "",
            }
        )
    print(pd.DataFrame(rows).to_string(index=False) if rows else f"no classifiers under {root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccsnscore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classify", help="classify spectra with trained classifiers")
    c.add_argument("spectra", nargs="*", help="ascii spectra (wavelength in Angstrom, flux; .gz ok)")
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
        help="a CSV with specfilename, z[, lcfilename, specjd, instrument, name, "
        "num_snid] instead of files on the command line",
    )
    c.add_argument("--root", default=".", help="folder that relative paths in --metadata start from")
    c.add_argument(
        "--models",
        default=None,
        help="model folder <layer>/<case>/<class>.pt or a training "
        "run directory (default: the models shipped with ccsnscore)",
    )
    c.add_argument("--case", default="S", choices=["S", "SL", "SD", "SLD"], help="input case")
    c.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="cut light curves at the spectrum epoch (default: as the models were trained)",
    )
    c.add_argument("--no-layer0", action="store_true", help="skip the Ia gate")
    c.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: a GPU when present)")
    c.add_argument("--n-passes", type=int, default=100, help="Monte-Carlo dropout passes")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("-o", "--output", default=None, help="output file (.csv, .json, .ecsv); default stdout")
    c.add_argument("--format", choices=["csv", "json", "ecsv"], default=None)
    c.set_defaults(func=_classify)
    m = sub.add_parser("models", help="list classifiers and their metrics")
    m.add_argument("--models", default=None)
    m.set_defaults(func=_models)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
