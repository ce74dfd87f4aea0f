"""Run a list of faults through `ccsnscore classify` and tabulate how the command behaves.

    PYTHONPATH=<a ccsnscore src folder> python experiments/robustness/fault_table.py --models DIR --out table.md

Each fault is one command on generated files (a bad row beside a good one, a bad option, a
tampered model file, ...). A fault is handled when the command exits with the expected status,
prints no traceback, keeps the good row, and puts the problem in one line (the row's ``error`` or
``warnings``, or stderr). Run it against two versions of the package to compare them.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

SECRET = "root:x:0:0:secret-content"
CASES = {"S", "SL", "SD", "SLD"}


def _spectrum(path: Path, sign: float = 1.0) -> None:
    wave = np.linspace(3800, 9200, 300)
    flux = sign * (1 + np.exp(-0.5 * ((wave / 1.03 - 6563) / 60) ** 2))
    path.write_text("\n".join(f"{w:.2f} {f:.5e}" for w, f in zip(wave, flux)) + "\n")


def _setup(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _spectrum(root / "good.ascii")
    _spectrum(root / "negative.ascii", -1.0)
    (root / "secret.ascii").write_text(SECRET + "\n")
    (root / "garbage.ascii").write_bytes(b"\x89PNG\r\n\x1a\n\x00binary")
    (root / "a_folder").mkdir(exist_ok=True)
    (root.parent / "passwd").write_text(SECRET + "\n")
    t = np.arange(0, 40, 2.0)
    (root / "lc_inf.csv").write_text("mjd,mag,emag,filter\n" + "\n".join(f"{59000 + d},inf,0.05,r" for d in t))


ROWS = {
    "non-numeric z": {"specfilename": "good.ascii", "z": "abc"},
    "empty specfilename": {"specfilename": "", "z": 0.03},
    "missing file": {"specfilename": "nothere.ascii", "z": 0.03},
    "a folder as spectrum": {"specfilename": "a_folder", "z": 0.03},
    "binary garbage": {"specfilename": "garbage.ascii", "z": 0.03},
    "file content in error": {"specfilename": "secret.ascii", "z": 0.03},
    "path outside root": {"specfilename": "../passwd", "z": 0.03},
    "file name too long": {"specfilename": "x" * 5000, "z": 0.03},
    "placeholder z=99": {"specfilename": "good.ascii", "z": 99},
    "negative flux": {"specfilename": "negative.ascii", "z": 0.03},
    "non-numeric num_snid": {"specfilename": "good.ascii", "z": 0.03, "num_snid": "many"},
    "inf light curve, realtime": {
        "specfilename": "good.ascii",
        "z": 0.03,
        "lcfilename": "lc_inf.csv",
        "specjd": "2459010.5",
        "case": "SL",
    },
    "non-numeric specjd, realtime": {
        "specfilename": "good.ascii",
        "z": 0.03,
        "lcfilename": "lc_inf.csv",
        "specjd": "yesterday",
        "case": "SL",
    },
}
OPTIONS = {
    "-o in a missing folder": ["-o", "{tmp}/missing/out.csv"],
    "-o is a folder": ["-o", "{tmp}"],
    "unknown output suffix": ["-o", "{tmp}/out.xlsx"],
    "--n-passes 0": ["--n-passes", "0"],
    "--n-passes -3": ["--n-passes", "-3"],
    "--device cuda without a GPU": ["--device", "cuda"],
}


def _run(command: list[str], env: dict) -> tuple[int, str]:
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    return done.returncode, done.stderr


def classify(tmp: Path, rows: list[dict], extra: list[str], models: str, env: dict, case: str = "S"):
    pd.DataFrame(rows).to_csv(tmp / "in.csv", index=False)
    out = tmp / "out.csv"
    out.unlink(missing_ok=True)
    command = [
        sys.executable,
        "-m",
        "ccsnscore.cli",
        "classify",
        "--metadata",
        str(tmp / "in.csv"),
        "--root",
        str(tmp / "night"),
        "--models",
        models,
        "--n-passes",
        "3",
        "--case",
        case,
    ]
    command += extra if "-o" in extra else [*extra, "-o", str(out)]
    code, err = _run(command, env)
    table = pd.read_csv(out, comment="#", keep_default_na=False) if out.is_file() else None
    return code, err, table


def verdict(code: int, err: str, table, expect_rows: int | None, problem_text: bool = True) -> str:
    if "Traceback" in err:
        return "fails (traceback)"
    if SECRET in err or (table is not None and table.astype(str).apply(lambda c: c.str.contains(SECRET)).any().any()):
        return "fails (echoes file content)"
    if expect_rows is None:  # a user error: one line, status 2
        lines = [line for line in err.splitlines() if line.strip()]
        if code == 0:
            return "silent (accepted)"
        return "handled" if code == 2 and len(lines) == 1 else f"confusing (status {code}, {len(lines)} lines)"
    if code != 0 or table is None or len(table) != expect_rows:
        return f"fails (status {code}, batch lost)"
    good = table.iloc[0]
    bad = table.iloc[1]
    flagged = any(str(bad.get(c, "")).strip() not in ("", "nan") for c in ("error", "warnings", "lightcurve_note"))
    if str(good.get("error", "")).strip() not in ("", "nan"):
        return "fails (good row lost)"
    return "handled" if flagged or not problem_text else "silent (no flag)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    env = {**os.environ}
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        _setup(tmp / "night")
        good = {"specfilename": "good.ascii", "z": 0.03}
        for name, row in ROWS.items():
            row = dict(row)
            case = row.pop("case", "S")
            extra = ["--realtime"] if "realtime" in name else []
            code, err, table = classify(tmp, [good, row], extra, args.models, env, case)
            results[name] = verdict(code, err, table, 2)
        for name, extra in OPTIONS.items():
            code, err, table = classify(tmp, [good], [e.format(tmp=tmp) for e in extra], args.models, env)
            results[name] = verdict(code, err, table, None)
        models = tmp / "models"
        shutil.copytree(args.models, models, ignore=lambda folder, names: [n for n in names if n in CASES - {"S"}])
        code, err, table = classify(tmp, [good], ["--case", "SD"], str(models), env)
        results["models for another case (only S, --case SD)"] = verdict(code, err, table, None)
        shutil.rmtree(models)
        shutil.copytree(args.models, models)
        files = sorted(models.glob("layer1/S/*.pt"))
        files[0].rename(tmp / "swap.pt")
        files[1].rename(files[0])
        (tmp / "swap.pt").rename(files[1])
        code, err, table = classify(tmp, [good], [], str(models), env)
        results["swapped Hrich/Hpoor files"] = verdict(code, err, table, None)
        shutil.rmtree(models)
        shutil.copytree(args.models, models)
        target = sorted(models.glob("layer1/S/*.pt"))[0]
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        code, err, table = classify(tmp, [good], [], str(models), env)
        results["a flipped byte in a model file"] = verdict(code, err, table, None)
        marker = tmp / "pwned"

        class Exploit:
            def __reduce__(self):
                return (os.system, (f"touch {marker}",))

        with open(target, "wb") as fh:
            pickle.dump({"format": "ccsnscore-classifier/1", "state_dict": Exploit()}, fh)
        code, err, table = classify(tmp, [good], [], str(models), env)
        results["a pickle that runs code"] = "fails (code ran)" if marker.exists() else verdict(code, err, table, None)
    table = pd.Series(results, name=args.label or "result").rename_axis("fault").to_frame()
    Path(args.out).write_text(table.to_markdown() + "\n")
    print(table.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
