"""Preprocessing settings: the single definition of every constant (paper section 2.1).

These dataclasses are the schema and the defaults of the ``preprocessing`` config group (registered
with Hydra by :mod:`ccsnscore.hydra_configs`), the object the preprocessing code receives, and what
every classifier file records. Runtime settings (parallel jobs, devices) are not here: they do not
change the arrays, so they stay out of cache keys and model files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

DM_EDGES = (
    -4.5,
    -3.0,
    -2.5,
    -2.0,
    -1.5,
    -1.25,
    -0.75,
    -0.5,
    -0.3,
    -0.2,
    -0.1,
    -0.05,
    0.0,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    0.75,
    1.25,
    1.5,
    2.0,
    2.5,
    3.0,
    4.5,
)
"""delta-m bin edges, mag (paper section 2.1.3)."""
DT_EDGES = (
    0.0,
    1 / 24,
    4 / 24,
    0.25,
    0.5,
    0.75,
    1.0,
    2.0,
    3.0,
    6.0,
    9.0,
    12.0,
    15.0,
    24.0,
    33.0,
    48.0,
    63.0,
    72.0,
    96.0,
    126.0,
    153.0,
    180.0,
    216.0,
    255.0,
    300.0,
)
"""delta-t bin edges, days."""
SEDM_INSTRUMENT = "P60"
"""The ``instrument`` value of SED-Machine spectra (the Palomar 60-inch)."""
SEDM_SOURCE = "sedm"
"""The ``source`` value of SED-Machine spectra in a metadata table."""


@dataclass
class SpectrumConfig:
    """Spectrum preprocessing. Wavelengths in Angstrom."""

    rest_frame: bool = True  # False keeps the observed frame (redshift-free models)
    wave_min: float = 4200.0  # the model's grid: n_wave points, linear from wave_min...
    wave_max: float = 9200.0  # ...to wave_max
    n_wave: int = 256
    median_kernel: int = 3  # pixels of the grid: removes single-pixel spikes
    min_points: int = 20  # fewer points in [wave_min, wave_max]: skipped
    valid_wave_min: float = 3000.0  # after deredshifting; coverage outside: skipped (wrong units?)
    valid_wave_max: float = 11000.0
    max_z: float = 5.0  # larger z are placeholders (the SEDM sample writes 99 for unknown)
    sedm_instrument: str = SEDM_INSTRUMENT  # spectra of any other instrument are smoothed to SEDM's R
    target_resolution: float = 100.0  # R = lambda / FWHM of SEDM
    native_resolution: float = 1000.0  # assumed R of other spectra (subtracted in quadrature)


@dataclass
class LightCurveConfig:
    """Light-curve preprocessing: detections -> Gaussian process -> daily fluxes."""

    bands: list[str] = field(default_factory=lambda: ["r", "g"])
    n_days: int = 200  # 1-day bins from the first detection
    detection_sigma: float = 5.0  # keep points with emag < 1.0857 / detection_sigma
    min_detections: int = 4  # per band, else that band's channels are zero
    length_scale_bounds: list[float] = field(default_factory=lambda: [20.0, 200.0])  # days, RBF kernel
    realtime: bool = False  # True: only photometry up to the spectrum's epoch
    seed: int = 0


@dataclass
class DmdtConfig:
    """delta-m / delta-t histogram bins."""

    dm_edges: list[float] = field(default_factory=lambda: list(DM_EDGES))
    dt_edges: list[float] = field(default_factory=lambda: list(DT_EDGES))

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_dm, n_dt)`` of a histogram."""
        return len(self.dm_edges) - 1, len(self.dt_edges) - 1


@dataclass
class PreprocessingConfig:
    """Every preprocessing constant; a change makes a new cache and new models."""

    spectrum: SpectrumConfig = field(default_factory=SpectrumConfig)
    lightcurve: LightCurveConfig = field(default_factory=LightCurveConfig)
    dmdt: DmdtConfig = field(default_factory=DmdtConfig)

    RUNTIME_KEYS = {"lightcurve": ("n_jobs",)}
    """Keys that older model files and configs carried in ``preprocessing`` but that do not change
    the arrays; ignored when read."""

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | PreprocessingConfig) -> PreprocessingConfig:
        """From a mapping (a config node, a model file's ``preprocessing``); unknown keys are refused,
        runtime keys of older files ignored."""
        if isinstance(cfg, PreprocessingConfig):
            return cfg
        cfg = _plain(cfg)
        parts = {}
        for part in fields(cls):
            kind = part.default_factory
            values = dict(cfg.get(part.name, {}))
            for key in cls.RUNTIME_KEYS.get(part.name, ()):
                values.pop(key, None)
            known = {f.name for f in fields(kind)}
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"unknown preprocessing.{part.name} settings {sorted(unknown)}")
            parts[part.name] = kind(**values)
        return cls(**parts)

    def to_dict(self) -> dict:
        """Plain JSON-able dict (what cache keys hash and model files record)."""
        return asdict(self)

    @property
    def wavelength_grid(self) -> np.ndarray:
        """``(n_wave,)`` Angstrom, the spectrum channel's wavelengths."""
        return wavelength_grid(self.spectrum)


def wavelength_grid(cfg: SpectrumConfig) -> np.ndarray:
    """The fixed wavelength grid, ``(n_wave,)`` Angstrom, linear from ``wave_min`` to ``wave_max``."""
    return np.linspace(cfg.wave_min, cfg.wave_max, cfg.n_wave)


def _plain(cfg) -> dict:
    """A config node (OmegaConf) or mapping as plain Python containers, without importing OmegaConf."""
    if hasattr(cfg, "_metadata") and type(cfg).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in dict(cfg).items()}
