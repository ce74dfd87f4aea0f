"""On-the-fly augmentation of training spectra: the perturbations real SEDM spectra carry.

Applied to every training batch (never to validation or test) on the model's grid, vectorised
over the batch. Each perturbation is applied to a sample with probability ``probability``:

- ``redshift``: a redshift error; the rest-frame grid is stretched by ``1 + dz``, ``dz ~ N(0, redshift)``;
- ``tilt``: a flux-calibration slope, flux times ``1 + a x`` with ``x`` from -1 (blue end of the
  grid) to 1 (red end) and ``a ~ U(-tilt, tilt)``;
- ``host``: host-galaxy light, a smooth red continuum and narrow (SEDM-resolution) emission lines
  (H-alpha, [N II], H-beta, [O III], [S II]) of total strength up to ``host`` times the spectrum's
  median absolute flux;
- ``telluric``: residuals of the telluric O2 A and B bands (observed 7605 and 6875 Angstrom) left by an
  imperfect telluric correction, placed at the rest wavelengths of a redshift ``U(0, telluric_zmax)``:
  SEDM-width dips or bumps of depth ``U(-telluric, telluric)`` times the median absolute flux;
- ``blur``: a coarser resolution, a Gaussian smoothing of ``U(0, blur)`` pixels' standard
  deviation within the covered pixels (literature spectra smoothed to a resolution that is not
  quite SEDM's);
- ``noise``: Gaussian noise of standard deviation ``U(0, noise)`` (normalised flux units);
- ``crop``: up to ``crop`` of the covered pixels removed at each end (shorter coverage).

The result is normalised to unit maximum absolute flux again; pixels without coverage stay zero
(they are masked by the encoders).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch

HOST_LINES = (
    (6563.0, 1.0),
    (6584.0, 0.35),
    (6548.0, 0.12),
    (4861.0, 0.3),
    (5007.0, 0.5),
    (4959.0, 0.17),
    (6717.0, 0.2),
    (6731.0, 0.15),
)
"""Rest wavelength (Angstrom) and relative strength of typical star-forming host emission lines."""
TELLURIC_BANDS = (7605.0, 6875.0)
"""Observed wavelengths (Angstrom) of the telluric O2 A and B bands."""


@dataclass
class SpectrumAugmentation:
    """Random perturbations of spectra ``(B, n_wave, 1)`` on a linear grid ``wave_min..wave_max``
    (Angstrom); see the module docstring. All strengths default to 0 (off)."""

    wave_min: float = 4200.0
    wave_max: float = 9200.0
    probability: float = 0.5
    redshift: float = 0.0
    tilt: float = 0.0
    host: float = 0.0
    noise: float = 0.0
    crop: float = 0.0
    telluric: float = 0.0
    telluric_zmax: float = 0.1
    blur: float = 0.0
    resolution: float = 100.0

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, **grid) -> SpectrumAugmentation | None:
        """From the ``data.batch_augment`` config (None, or with ``enabled: false``: no augmentation)."""
        if not cfg or not cfg.get("enabled", True):
            return None
        known = {f.name for f in fields(cls)}
        unknown = set(cfg) - known - {"enabled"}
        if unknown:
            raise ValueError(f"unknown batch_augment settings {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{**{k: v for k, v in cfg.items() if k in known}, **grid})

    def _chosen(self, n: int, device) -> torch.Tensor:
        return torch.rand(n, 1, device=device) < self.probability

    def __call__(self, spectrum: torch.Tensor) -> torch.Tensor:
        flux = spectrum[..., 0]
        covered = flux != 0
        n, n_wave = flux.shape
        device = flux.device
        wave = torch.linspace(self.wave_min, self.wave_max, n_wave, device=device)
        if self.redshift > 0:
            flux, covered = self._stretch(flux, covered, wave)
        if self.tilt > 0:
            slope = (torch.rand(n, 1, device=device) * 2 - 1) * self.tilt * self._chosen(n, device)
            x = torch.linspace(-1.0, 1.0, n_wave, device=device)
            flux = flux * (1 + slope * x)
        scale = _median_abs(flux, covered)
        if self.host > 0:
            flux = flux + self._host(wave, n, device) * scale * self._chosen(n, device)
        if self.telluric > 0:
            flux = flux + self._telluric(wave, n, device) * scale * self._chosen(n, device)
        if self.blur > 0:
            flux = self._blur(flux, covered)
        if self.noise > 0:
            sigma = torch.rand(n, 1, device=device) * self.noise * self._chosen(n, device)
            flux = flux + torch.randn_like(flux) * sigma
        if self.crop > 0:
            covered = self._crop(covered)
        flux = torch.where(covered, flux, torch.zeros_like(flux))
        peak = flux.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        return (flux / peak).unsqueeze(-1)

    def _stretch(self, flux, covered, wave):
        """Resample each row at ``wave * (1 + dz)`` (linear interpolation; no extrapolation)."""
        n, n_wave = flux.shape
        dz = torch.randn(n, 1, device=flux.device) * self.redshift * self._chosen(n, flux.device)
        step = (self.wave_max - self.wave_min) / (n_wave - 1)
        position = (wave[None, :] * (1 + dz) - self.wave_min) / step
        lo = position.floor().long()
        frac = position - lo
        inside = (lo >= 0) & (lo + 1 < n_wave)
        lo_c, hi_c = lo.clamp(0, n_wave - 1), (lo + 1).clamp(0, n_wave - 1)
        ok = inside & covered.gather(1, lo_c) & covered.gather(1, hi_c)
        value = flux.gather(1, lo_c) * (1 - frac) + flux.gather(1, hi_c) * frac
        return torch.where(ok, value, torch.zeros_like(value)), ok

    def _host(self, wave, n, device):
        """``(n, n_wave)`` host spectra: red continuum plus SEDM-width lines, peak ~ U(0, host)."""
        slope = torch.rand(n, 1, device=device) * 2.0
        continuum = (wave[None, :] / 6500.0) ** slope * torch.rand(n, 1, device=device)
        sigma = wave / self.resolution / 2.3548
        lines = torch.zeros(n, wave.numel(), device=device)
        line_strength = torch.rand(n, 1, device=device) * 3
        for centre, strength in HOST_LINES:
            lines = lines + strength * torch.exp(-0.5 * ((wave - centre) / sigma) ** 2)[None, :]
        host = continuum + line_strength * lines
        host = host / host.amax(dim=1, keepdim=True).clamp_min(1e-12)
        return host * torch.rand(n, 1, device=device) * self.host

    def _telluric(self, wave, n, device):
        """``(n, n_wave)`` telluric residuals: one SEDM-width Gaussian per band at its rest wavelength
        for a random redshift, signed depth ~ U(-telluric, telluric) each."""
        z = torch.rand(n, 1, device=device) * self.telluric_zmax
        residual = torch.zeros(n, wave.numel(), device=device)
        for observed in TELLURIC_BANDS:
            centre = observed / (1 + z)
            sigma = centre / self.resolution / 2.3548
            depth = (torch.rand(n, 1, device=device) * 2 - 1) * self.telluric
            residual = residual + depth * torch.exp(-0.5 * ((wave[None, :] - centre) / sigma) ** 2)
        return residual

    def _blur(self, flux, covered):
        """Each chosen row smoothed by a Gaussian of ``U(0, blur)`` pixels' sigma, normalised by the
        smoothed coverage so that uncovered pixels add nothing."""
        n, n_wave = flux.shape
        sigma = (torch.rand(n, 1, device=flux.device) * self.blur * self._chosen(n, flux.device)).clamp_min(1e-3)
        half = max(1, int(3 * self.blur + 0.5))
        offsets = torch.arange(-half, half + 1, device=flux.device, dtype=flux.dtype)
        kernel = torch.exp(-0.5 * (offsets[None, :] / sigma) ** 2)  # (n, 2 half + 1)
        mask = covered.to(flux.dtype)
        pad = torch.nn.functional.pad
        windows = pad(flux * mask, (half, half)).unfold(1, 2 * half + 1, 1)  # (n, n_wave, 2 half + 1)
        weights = pad(mask, (half, half)).unfold(1, 2 * half + 1, 1)
        smoothed = (windows * kernel[:, None, :]).sum(-1) / (weights * kernel[:, None, :]).sum(-1).clamp_min(1e-12)
        return torch.where(covered, smoothed, flux)

    def _crop(self, covered):
        n, n_wave = covered.shape
        index = torch.arange(n_wave, device=covered.device)[None, :]
        first = torch.where(covered, index, n_wave).amin(dim=1, keepdim=True)
        last = torch.where(covered, index, -1).amax(dim=1, keepdim=True)
        length = (last - first + 1).clamp_min(0)
        chosen = self._chosen(n, covered.device)
        cut_blue = (torch.rand(n, 1, device=covered.device) * self.crop * length).long() * chosen
        cut_red = (torch.rand(n, 1, device=covered.device) * self.crop * length).long() * chosen
        return covered & (index >= first + cut_blue) & (index <= last - cut_red)


def _median_abs(flux: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
    """``(n, 1)`` median absolute flux over each row's covered pixels (1 where none)."""
    values = torch.where(covered, flux.abs(), torch.full_like(flux, float("nan")))
    median = values.nanmedian(dim=1, keepdim=True).values
    return torch.nan_to_num(median, nan=1.0)
