"""Write a small toy dataset in the CCSNscore layout (``metadata.csv``, spectra, light curves).

Classes differ in their spectra (H-alpha emission for H-rich types, none for H-poor ones, a broad
Si II absorption for SNe Ia) so that tiny models can learn something in tests.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

TOY_TYPES = ("II", "IIP", "IIb-H", "IIn", "Ib", "Ic", "Ic-BL", "IIb-noH", "Ia")
H_RICH = {"II", "IIP", "IIb-H", "IIn"}


def toy_spectrum(sn_type: str, z: float, rng: np.random.Generator, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """An SEDM-like observed-frame spectrum: ``(wave, flux)``, Angstrom and erg/s/cm2/A."""
    rest = np.linspace(3700.0, 9300.0, n) / (1 + z) * (1 + z)
    rest_frame = rest / (1 + z)
    flux = 1.0 + 0.3 * np.exp(-(((rest_frame - 5000.0) / 1500.0) ** 2))
    if sn_type in H_RICH:
        width = 20.0 if sn_type == "IIn" else 60.0
        flux += 1.5 * np.exp(-0.5 * ((rest_frame - 6563.0) / width) ** 2)
    elif sn_type == "Ia":
        flux -= 0.5 * np.exp(-0.5 * ((rest_frame - 6150.0) / 80.0) ** 2)
    else:
        flux -= 0.3 * np.exp(-0.5 * ((rest_frame - 5876.0 if sn_type == "Ib" else 7774.0) / 60.0) ** 2)
    flux += rng.normal(0, 0.05, n)
    return rest, flux * 1e-16


def toy_lightcurve(rng: np.random.Generator, t0: float, n: int = 30) -> pd.DataFrame:
    """A rising-then-falling g/r alert light curve (``mjd, mag, emag, filter``)."""
    t = np.sort(rng.uniform(0, 120, n))
    band = rng.choice(["g", "r"], n)
    mag = 18.0 + 0.02 * (t - 15) ** 2 / 10 - 0.0 * t
    mag = np.where(t < 15, 18.0 + (15 - t) * 0.1, 18.0 + (t - 15) * 0.02) + (band == "g") * 0.2
    emag = rng.uniform(0.03, 0.12, n)
    return pd.DataFrame({"mjd": t0 + t, "mag": mag + rng.normal(0, emag), "emag": emag, "filter": band})


def write_toy_dataset(
    root: str | Path, n_objects: int = 60, spectra_per_object: int = 2, seed: int = 0, types=TOY_TYPES
) -> Path:
    """Write ``n_objects`` objects (types cycling through ``types``) into ``root``; returns root."""
    root = Path(root)
    (root / "spectra" / "sedm").mkdir(parents=True, exist_ok=True)
    (root / "lightcurves").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_objects):
        sn_type = types[k % len(types)]
        name = f"ZTF20toy{k:04d}"
        z = float(rng.uniform(0.01, 0.08))
        t0 = 59000.0 + 10 * k
        lc_rel = f"lightcurves/{name}.csv"
        toy_lightcurve(rng, t0).to_csv(root / lc_rel, index=False)
        for s in range(spectra_per_object):
            wave, flux = toy_spectrum(sn_type, z, rng)
            rel = f"spectra/sedm/{name}_{s}_P60_v1.ascii.gz"
            header = "# SNIDFRAC_II: 0.5\n# SNIDFRAC_IB: 0.2\n# SNIDFRAC_IC: 0.1\n# SNIDFRAC_IA: 0.2\n"
            body = "\n".join(f"{w:.2f} {f:.5e}" for w, f in zip(wave, flux))
            with gzip.open(root / rel, "wt") as fh:
                fh.write(header + body + "\n")
            specjd = t0 + 2400000.5 + 5 + 10 * s
            maxjd = t0 + 2400000.5 + 15
            rows.append(
                {
                    "name": name,
                    "type": sn_type,
                    "type_raw": sn_type,
                    "z": z,
                    "specjd": specjd,
                    "maxjd": maxjd,
                    "phase": specjd - maxjd,
                    "instrument": "P60",
                    "source": "sedm",
                    "specfilename": rel,
                    "lcfilename": lc_rel,
                }
            )
    pd.DataFrame(rows).to_csv(root / "metadata.csv", index=False)
    return root
