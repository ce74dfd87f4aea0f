"""Reading a spectrum from the files and objects people have: FITS (a 1-D image with a wavelength WCS,
or a table), CSV and ECSV tables, two-column ascii (each optionally ``.gz``), and Python objects
(arrays, astropy tables, data frames, specutils spectra).

Wavelengths come back in Angstrom, in the observed frame as stored. Every refusal is a
:class:`~ccsnscore.data.io.BadInputError` whose message is one line naming the source and what was
expected; no message quotes the data of a file. astropy is imported only when it is needed.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import os
import re
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ccsnscore.data.io import BadInputError, check_input_file
from ccsnscore.data.io import read_spectrum as read_ascii_spectrum

WAVE_COLUMNS = ("wave", "wavelength", "lambda", "wl", "loglam")
"""Accepted wavelength column names (any case), first match wins; ``loglam`` holds log10(Angstrom)."""
FLUX_COLUMNS = ("flux", "f_lambda", "flam", "fluxes")
"""Accepted flux column names (any case), first match wins."""
FITS_SUFFIXES = (".fits", ".fit", ".fts")
TEXT_SUFFIXES = (".ascii", ".txt", ".dat", ".spec", ".flm")
TABLE_SUFFIXES = (".csv", ".ecsv")
ZTF_NAME = re.compile(r"ZTF\d{2}[a-z]{7}")

EXPECTED_FILE = (
    "expected FITS (.fits/.fit/.fts: a 1-D image with a wavelength WCS or a table with wavelength and flux "
    "columns), CSV/ECSV with wavelength and flux columns, or two-column ascii (.txt/.dat/.ascii/.spec/.flm), "
    "each optionally .gz"
)
EXPECTED_COLUMNS = (
    f"a wavelength column named one of {', '.join(WAVE_COLUMNS)} and a flux column named one of "
    f"{', '.join(FLUX_COLUMNS)} (any case, optionally with a unit as in 'wave [nm]')"
)
EXPECTED_FITS = (
    "expected a 1-D image with wavelength WCS keywords (CRVAL1, CDELT1 or CD1_1, CRPIX1) or a binary table "
    f"with {EXPECTED_COLUMNS}"
)
EXPECTED_OBJECT = (
    "expected a (wave, flux) pair of arrays, a (2, n) or (n, 2) array, an astropy Table or pandas DataFrame "
    f"with {EXPECTED_COLUMNS}, a specutils spectrum, a SpectrumData or a file path"
)

_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7z archive"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x7fELF", "an executable"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))
_ANGSTROM_NAMES = {"a", "aa", "å", "ang", "angs", "angstrom", "angstroms", "angstroem"}
_UNIT_WORDS = {  # spellings astropy does not parse (IRAF writes ``units=nanometers``)
    **dict.fromkeys(("µm", "micron", "microns", "micrometer", "micrometers", "micrometre", "micrometres"), "um"),
    **dict.fromkeys(("nanometer", "nanometers", "nanometre", "nanometres"), "nm"),
    **dict.fromkeys(("meter", "meters", "metre", "metres"), "m"),
}
_NAME_WITH_UNIT = re.compile(r"\s*([A-Za-z_]\w*)\s*[\[(]\s*([^\])]*?)\s*[\])]\s*")
_PLAIN_NAME = re.compile(r"[A-Za-z_][\w .()\[\]/*-]{0,39}")


@dataclass
class SpectrumData:
    """One spectrum as read from a file or object.

    Attributes
    ----------
    wave : ndarray, shape (n,)
        Wavelengths in Angstrom, observed frame, in the order stored.
    flux : ndarray, shape (n,)
        Flux in the units of the source (NaN where the source masks a pixel).
    header : dict[str, str]
        FITS header cards, table metadata or ``# KEY: value`` comment lines, as strings.
    object_name : str
        The ``OBJECT`` card when present, else a ZTF name in the file name, else the file name without
        suffixes; for objects the ``name`` given (or ``OBJECT`` of their metadata), else "".
    source : str
        The file path, or ``"<array>"``, ``"<Table>"``, ``"<DataFrame>"``, ``"<Spectrum1D>"``.
    """

    wave: np.ndarray
    flux: np.ndarray
    header: dict[str, str] = field(default_factory=dict)
    object_name: str = ""
    source: str = ""


# ---------------------------------------------------------------------------------------------- files


def read_spectrum_file(path: str | os.PathLike) -> SpectrumData:
    """Read one spectrum file, choosing the reader from its suffix (any case, ``.gz`` allowed).

    ``.fits/.fit/.fts`` (or content starting with a FITS card): a 1-D image with a linear or log10
    wavelength WCS, or a binary table (rows of arrays are flattened). ``.csv``: a table with a header
    row; ``.ecsv``: an astropy ECSV table (units respected). Anything else that is text: ``#`` header
    lines then two columns, wavelength (Angstrom) and flux (:func:`ccsnscore.data.io.read_spectrum`).

    Returns
    -------
    SpectrumData
        ``wave`` in Angstrom and ``flux``, both shape (n,).

    Raises
    ------
    BadInputError
        ``reason`` is ``not_a_file``, ``missing_file``, ``unreadable_file``, ``unsupported_format``,
        ``unsupported_fits``, ``bad_columns``, ``non_numeric`` or ``too_few_points``.
    """
    path = check_input_file(Path(path).expanduser(), "spectrum")
    suffixes = [s.lower() for s in path.suffixes]
    named_gz = bool(suffixes) and suffixes[-1] == ".gz"
    if named_gz:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    raw, was_gzip = _read_bytes(path, named_gz)

    if raw.startswith(b"SIMPLE  ="):
        wave, flux, header = _read_fits(raw, path)
    else:
        kind = _binary_kind(raw[:8192])
        if kind is not None:
            raise BadInputError("unsupported_format", f"{path}: not a spectrum file (it holds {kind}); {EXPECTED_FILE}")
        if suffix in FITS_SUFFIXES:
            raise BadInputError("unsupported_format", f"{path}: not a FITS file (it holds text); {EXPECTED_FILE}")
        text = raw.decode("utf-8-sig", errors="replace")
        if suffix == ".ecsv" or text.lstrip().startswith("# %ECSV"):
            wave, flux, header = _read_ecsv(text, path)
        elif suffix == ".csv":
            wave, flux, header = _read_csv(text, path)
        elif was_gzip and not named_gz:
            raise BadInputError(
                "unsupported_format", f"{path}: gzip-compressed but not named .gz; rename it to end in .gz"
            )
        else:
            wave, flux, header = _read_ascii(path)
    wave, flux = _checked(wave, flux, str(path), "bad_columns")
    return SpectrumData(wave, flux, header, _file_object_name(header, path), str(path))


def _read_bytes(path: Path, named_gz: bool) -> tuple[bytes, bool]:
    """The file's bytes, decompressed when they are gzip data; and whether they were."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise BadInputError("unreadable_file", f"{path}: cannot read the file ({reason})") from None
    if raw.startswith(b"\x1f\x8b"):
        try:
            return gzip.decompress(raw), True
        except (OSError, EOFError, zlib.error):
            raise BadInputError(
                "unreadable_file", f"{path}: damaged gzip data; expected a gzip-compressed spectrum"
            ) from None
    if named_gz:
        raise BadInputError("unreadable_file", f"{path}: named .gz but not gzip-compressed")
    return raw, False


def _binary_kind(head: bytes) -> str | None:
    """What binary content ``head`` (the first bytes of a file) holds, or None when it looks like text."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary data"
    control = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return "binary data" if head and control > 0.05 * len(head) else None


def _read_ascii(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """:func:`ccsnscore.data.io.read_spectrum` (its messages name the line, never its content)."""
    return read_ascii_spectrum(path)


def _file_object_name(header: dict[str, str], path: Path) -> str:
    """``OBJECT`` of the header, else the ZTF name in the file name, else the name without suffixes."""
    name = _header_object(header)
    if name:
        return name
    match = ZTF_NAME.search(path.name)
    if match:
        return match.group(0)
    stem = path.name
    for suffix in (".gz", *FITS_SUFFIXES, *TABLE_SUFFIXES, *TEXT_SUFFIXES):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            if suffix != ".gz":
                break
    return stem


def _header_object(header: dict[str, str]) -> str:
    for key, value in header.items():
        if key.strip().upper() == "OBJECT" and str(value).strip():
            return str(value).strip()
    return ""


# ----------------------------------------------------------------------------------------------- FITS


def _read_fits(raw: bytes, path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Wavelength (Angstrom), flux and header of a FITS file's first usable HDU."""
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            with fits.open(io.BytesIO(raw), memmap=False) as hdul:
                return _fits_spectrum(hdul, path)
        except BadInputError:
            raise
        except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, fits.VerifyError) as err:
            raise BadInputError(
                "unreadable_file", f"{path}: damaged or unreadable FITS file ({type(err).__name__}); {EXPECTED_FITS}"
            ) from None


def _fits_spectrum(hdul, path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    image, tables, seen = None, [], []
    for hdu in hdul:
        if hdu.is_image:
            if hdu.data is None:
                continue
            shape = hdu.data.shape
            seen.append(f"a {'x'.join(str(s) for s in shape[::-1])} image")
            if image is None and len(shape) >= 1 and shape[-1] == hdu.data.size:
                image = hdu
        elif hasattr(hdu, "columns"):
            tables.append(hdu)
            seen.append(f"a table ({_describe_names(hdu.columns.names)})")
    if image is not None:
        header = _fits_header(hdul[0].header, image.header)
        try:
            wave = _image_wave(image.header, image.data.size, path)
        except BadInputError:
            if not tables:
                raise
        else:
            return wave, np.asarray(image.data, dtype=float).ravel(), header
    for hdu in tables:
        names = hdu.columns.names
        wave_col, flux_col = _match_columns(names)
        if wave_col is not None and flux_col is not None and hdu.data is not None:
            units = {col.name: col.unit for col in hdu.columns}
            wave, flux = _wave_flux_from_columns(
                wave_col, flux_col, hdu.data.field, units.get, str(path), "unsupported_fits"
            )
            return wave, flux, _fits_header(hdul[0].header, hdu.header)
    found = "; ".join(seen) if seen else "no data"
    raise BadInputError("unsupported_fits", f"{path}: no usable spectrum (found {found}); {EXPECTED_FITS}")


def _fits_header(*headers) -> dict[str, str]:
    """Cards of the headers as strings, later headers winning; COMMENT and HISTORY left out."""
    out: dict[str, str] = {}
    for header in headers:
        for card in header.cards:
            if card.keyword and card.keyword not in ("COMMENT", "HISTORY"):
                out[card.keyword] = str(card.value).strip()
    return out


def _header_float(header, key: str, path: Path) -> float:
    try:
        return float(header[key])
    except (TypeError, ValueError):
        raise BadInputError("unsupported_fits", f"{path}: keyword {key} is not a number; {EXPECTED_FITS}") from None


def _image_wave(header, n: int, path: Path) -> np.ndarray:
    """Wavelengths (Angstrom), shape (n,), of a 1-D image from its WCS: linear, log10 (``CTYPE1`` holding
    LOG or ``DC-FLAG = 1``; ``CRVAL1`` above 10 is read as the FITS WAVE-LOG axis), or SDSS COEFF0/1."""
    ctype = str(header.get("CTYPE1", "")).upper()
    if "MULTISPE" in ctype:
        raise BadInputError("unsupported_fits", f"{path}: IRAF multispec WCS is not supported; {EXPECTED_FITS}")
    pixel = np.arange(1, n + 1, dtype=float)
    if "CRVAL1" in header:
        step_key = "CD1_1" if "CD1_1" in header else "CDELT1" if "CDELT1" in header else None
        if step_key is None:
            raise BadInputError(
                "unsupported_fits", f"{path}: 1-D image has CRVAL1 but no CDELT1 or CD1_1; {EXPECTED_FITS}"
            )
        crval, step = _header_float(header, "CRVAL1", path), _header_float(header, step_key, path)
        crpix = _header_float(header, "CRPIX1", path) if "CRPIX1" in header else 1.0
        axis = crval + (pixel - crpix) * step
        dc_flag = str(header.get("DC-FLAG", "0")).strip()
        if "LOG" in ctype or dc_flag in ("1", "1.0"):
            if abs(crval) < 10:  # log10(wavelength)
                axis = 10.0**axis
            else:  # FITS paper III WAVE-LOG: CRVAL1 and CDELT1 in wavelength units
                axis = crval * np.exp((pixel - crpix) * step / crval)
    elif "COEFF0" in header and "COEFF1" in header:  # SDSS: log10(Angstrom) = COEFF0 + COEFF1 * i
        axis = 10.0 ** (_header_float(header, "COEFF0", path) + _header_float(header, "COEFF1", path) * (pixel - 1))
    else:
        raise BadInputError("unsupported_fits", f"{path}: 1-D image without wavelength keywords; {EXPECTED_FITS}")
    unit = header.get("CUNIT1")
    if unit is None:
        match = re.search(r"units=(\w+)", str(header.get("WAT1_001", "")))
        unit = match.group(1) if match else None
    return _to_angstrom(axis, unit)


# --------------------------------------------------------------------------------------------- tables


def _split_name_unit(name: str) -> tuple[str, str | None]:
    """``'wave [nm]'`` -> ``('wave', 'nm')``; a name without a bracketed unit -> ``(name, None)``."""
    match = _NAME_WITH_UNIT.fullmatch(name)
    return (match.group(1), match.group(2) or None) if match else (name.strip(), None)


def _match_columns(names: Iterable) -> tuple[str | None, str | None]:
    """The wavelength and flux columns among ``names`` by :data:`WAVE_COLUMNS` / :data:`FLUX_COLUMNS`."""
    keyed: dict[str, str] = {}
    for name in names:
        keyed.setdefault(_split_name_unit(str(name))[0].lower(), name)
    wave = next((keyed[k] for k in WAVE_COLUMNS if k in keyed), None)
    flux = next((keyed[k] for k in FLUX_COLUMNS if k in keyed), None)
    return wave, flux


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _describe_names(names: Iterable) -> str:
    """The column names found, for a message: only those that look like names are quoted."""
    names = [str(n).strip() for n in names]
    shown = [n for n in names if _PLAIN_NAME.fullmatch(n) and not _is_number(n)]
    parts = [f"columns {shown}"] if shown else []
    numbers = sum(_is_number(n) for n in names)
    if numbers:
        parts.append(f"{numbers} column(s) named by numbers")
    others = len(names) - len(shown) - numbers
    if others:
        parts.append(f"{others} column(s) whose names are not plain names")
    return ", ".join(parts) if parts else "no columns"


def _no_columns_error(names: list, where: str, reason: str = "bad_columns") -> BadInputError:
    wave, flux = _match_columns(names)
    missing = "wavelength and flux columns" if wave is None and flux is None else "wavelength column"
    if wave is not None:
        missing = "flux column"
    return BadInputError(reason, f"{where}: no {missing} (found {_describe_names(names)}); expected {EXPECTED_COLUMNS}")


def _float_values(values, name: str, where: str) -> np.ndarray:
    """Column values as a flat float array (rows of arrays concatenated, masked entries NaN)."""
    values = getattr(values, "value", values) if hasattr(values, "unit") else values
    try:
        if isinstance(values, np.ndarray) and values.dtype == object and values.size and np.ndim(values.flat[0]):
            return np.concatenate([np.asarray(row, dtype=float).ravel() for row in values])
        return np.ma.filled(np.ma.asarray(values, dtype=float), np.nan).ravel()
    except (TypeError, ValueError):
        raise BadInputError("non_numeric", f"{where}: column {name!r} is not numeric") from None


def _wave_flux_from_columns(
    wave_col: str,
    flux_col: str,
    values: Callable[[str], object],
    unit: Callable[[str], object],
    where: str,
    reason: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength (Angstrom) and flux arrays from two columns; ``values(name)`` and ``unit(name)`` read
    a column and its unit (a string, an astropy unit or None). A ``loglam`` column is log10(Angstrom)."""
    wave = _float_values(values(wave_col), str(wave_col), where)
    flux = _float_values(values(flux_col), str(flux_col), where)
    key, unit_in_name = _split_name_unit(str(wave_col))
    if key.lower() == "loglam":
        wave = 10.0**wave
    else:
        wave = _to_angstrom(wave, unit(wave_col) or unit_in_name)
    if wave.shape != flux.shape:
        raise BadInputError(reason, f"{where}: the wavelength and flux columns hold {wave.size} and {flux.size} values")
    return wave, flux


def _comment_header(text: str) -> dict[str, str]:
    """``# KEY: value`` lines at the top of a text table, as in ``data.io.read_spectrum``."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if not line.startswith("#"):
            break
        key, sep, value = line.lstrip("#").partition(":")
        if sep and key.strip():
            header[key.strip()] = value.strip()
    return header


def _read_csv(text: str, path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """A CSV with a header row naming the wavelength and flux columns; ``#`` lines are comments."""
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    fields = [f.strip() for f in first.split(",") if f.strip()]
    if fields and all(_is_number(f) for f in fields):
        raise BadInputError(
            "bad_columns",
            f"{path}: its first line holds {len(fields)} numbers, not column names; expected a header row "
            f"such as 'wavelength,flux' with {EXPECTED_COLUMNS}",
        )
    try:
        frame = pd.read_csv(io.StringIO(text), comment="#", skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeError) as err:
        raise BadInputError(
            "unreadable_file",
            f"{path}: cannot parse it as CSV ({type(err).__name__}); expected a header row such as "
            "'wavelength,flux' then comma-separated numbers",
        ) from None
    wave, flux = _wave_flux_from_frame(frame, str(path))
    return wave, flux, _comment_header(text)


def _wave_flux_from_frame(frame: pd.DataFrame, where: str) -> tuple[np.ndarray, np.ndarray]:
    names = [str(c) for c in frame.columns]
    wave_col, flux_col = _match_columns(names)
    if wave_col is None or flux_col is None:
        raise _no_columns_error(names, where)
    frame = frame.set_axis(names, axis=1)
    return _wave_flux_from_columns(
        wave_col, flux_col, lambda n: frame[n].to_numpy(), lambda n: None, where, "bad_columns"
    )


def _read_ecsv(text: str, path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """An astropy ECSV table; column units are respected."""
    from astropy.table import Table
    from astropy.utils.exceptions import AstropyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            table = Table.read(text.splitlines(), format="ascii.ecsv")
        except Exception as err:  # the ECSV parser raises many types (YAML, astropy.io.ascii) on a damaged file
            raise BadInputError(
                "unreadable_file",
                f"{path}: cannot parse it as ECSV ({type(err).__name__}); expected an astropy ECSV table "
                f"with {EXPECTED_COLUMNS}",
            ) from None
    wave, flux = _wave_flux_from_table(table, str(path))
    return wave, flux, _table_header(table.meta)


def _wave_flux_from_table(table, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength (Angstrom) and flux of an astropy ``Table``/``QTable``."""
    names = list(table.colnames)
    wave_col, flux_col = _match_columns(names)
    if wave_col is None or flux_col is None:
        raise _no_columns_error(names, where)
    return _wave_flux_from_columns(
        wave_col, flux_col, lambda n: table[n], lambda n: getattr(table[n], "unit", None), where, "bad_columns"
    )


def _table_header(meta) -> dict[str, str]:
    """Scalar metadata entries (and ``KEY: value`` comments, or FITS cards under ``header``) as strings."""
    header: dict[str, str] = {}
    for key, value in dict(meta or {}).items():
        if key == "comments" and isinstance(value, list | tuple):
            for line in value:
                name, sep, text = str(line).lstrip("#").partition(":")
                if sep and name.strip():
                    header[name.strip()] = text.strip()
        elif hasattr(value, "cards"):  # an astropy FITS header (specutils keeps one in meta["header"])
            header.update(_fits_header(value))
        elif not isinstance(value, dict | list | tuple | set | np.ndarray):
            header[str(key)] = str(value).strip()
    return header


# --------------------------------------------------------------------------------------------- units


def _to_angstrom(values: np.ndarray, unit) -> np.ndarray:
    """``values`` in ``unit`` (a string, an astropy unit or None) converted to Angstrom when ``unit`` is a
    length (or another spectral unit); unknown, empty or non-spectral units leave the values as they are.
    An ``A`` unit on a wavelength means Angstrom, not ampere."""
    if unit is None:
        return values
    from astropy import units as u

    if isinstance(unit, str):
        text = unit.strip()
        if not text or text.lower() in _ANGSTROM_NAMES:
            return values
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unit = u.Unit(_UNIT_WORDS.get(text.lower(), text), parse_strict="silent")
    if not isinstance(unit, u.UnitBase) or unit == u.A:
        return values
    try:
        if not unit.is_equivalent(u.AA, equivalencies=u.spectral()):
            return values
        return np.asarray(unit.to(u.AA, values, equivalencies=u.spectral()), dtype=float)
    except (u.UnitsError, TypeError, ValueError):
        return values


# -------------------------------------------------------------------------------------------- objects


def spectrum_from_object(obj, name: str = "") -> SpectrumData:
    """A spectrum from a Python object.

    Parameters
    ----------
    obj
        A ``(wave, flux)`` tuple or list of two arrays (``wave`` in Angstrom, or an astropy Quantity of
        any spectral unit); an array of shape (2, n) or (n, 2) (Angstrom); an astropy ``Table`` (units
        respected) or pandas ``DataFrame`` (Angstrom) with wavelength and flux columns; a specutils
        ``Spectrum1D``/``Spectrum`` (anything with ``.spectral_axis`` and ``.flux``; masked pixels become
        NaN); a :class:`SpectrumData` (returned as is); or a path, read with :func:`read_spectrum_file`.
    name
        The object's name; it replaces the name read from a file or from the object's metadata.

    Returns
    -------
    SpectrumData
        ``wave`` in Angstrom and ``flux``, both shape (n,).

    Raises
    ------
    BadInputError
        ``unsupported_object`` for anything else, or the reasons of :func:`read_spectrum_file`.
    """
    if isinstance(obj, SpectrumData):
        return obj
    if isinstance(obj, str | os.PathLike):
        spectrum = read_spectrum_file(obj)
        return dataclasses.replace(spectrum, object_name=name) if name else spectrum
    kind = type(obj).__name__
    where = f"{name} ({kind})" if name else f"<{kind}>"
    header: dict[str, str] = {}
    if isinstance(obj, pd.DataFrame):
        source = "<DataFrame>"
        wave, flux = _wave_flux_from_frame(obj, where)
    elif hasattr(obj, "spectral_axis") and hasattr(obj, "flux"):
        source = "<Spectrum1D>"
        wave = _axis_to_angstrom(obj.spectral_axis, where)
        flux = _plain_array(obj.flux, where)
        mask = getattr(obj, "mask", None)
        if mask is not None and np.shape(mask) == flux.shape:
            flux = np.where(np.asarray(mask, dtype=bool), np.nan, flux)
        header = _table_header(getattr(obj, "meta", None))
    elif hasattr(obj, "colnames") and hasattr(obj, "columns"):
        source = "<Table>"
        wave, flux = _wave_flux_from_table(obj, where)
        header = _table_header(getattr(obj, "meta", None))
    elif isinstance(obj, tuple | list | np.ndarray):
        source = "<array>"
        wave, flux = _wave_flux_from_sequence(obj, where)
    else:
        raise BadInputError("unsupported_object", f"{where}: cannot read a spectrum from a {kind}; {EXPECTED_OBJECT}")
    wave, flux = _checked(wave, flux, where, "unsupported_object")
    return SpectrumData(wave, flux, header, name or _header_object(header), source)


def _plain_array(values, where: str) -> np.ndarray:
    """Numbers of an array or Quantity as floats (masked entries NaN)."""
    values = getattr(values, "value", values) if hasattr(values, "unit") else values
    try:
        return np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    except (TypeError, ValueError):
        raise BadInputError("unsupported_object", f"{where}: values are not numbers; {EXPECTED_OBJECT}") from None


def _axis_to_angstrom(axis, where: str) -> np.ndarray:
    """A spectral axis (Quantity of any spectral unit, or plain numbers in Angstrom) in Angstrom."""
    unit = getattr(axis, "unit", None)
    if unit is None or not hasattr(axis, "to_value"):
        return _plain_array(axis, where)
    from astropy import units as u

    try:
        return np.asarray(axis.to_value(u.AA, equivalencies=u.spectral()), dtype=float)
    except (u.UnitsError, TypeError, ValueError):
        raise BadInputError(
            "unsupported_object", f"{where}: a spectral axis in {unit} cannot be converted to Angstrom"
        ) from None


def _wave_flux_from_sequence(obj, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(wave, flux)`` of a pair of 1-D arrays, or of a (2, n) or (n, 2) array."""
    if isinstance(obj, tuple | list) and len(obj) == 2 and all(np.ndim(part) == 1 for part in obj):
        return _axis_to_angstrom(obj[0], where), _plain_array(obj[1], where)
    array = _plain_array(obj, where)
    if array.ndim == 2 and array.shape[0] == 2:
        return array[0], array[1]
    if array.ndim == 2 and array.shape[1] == 2:
        return array[:, 0], array[:, 1]
    raise BadInputError("unsupported_object", f"{where}: an array of shape {array.shape}; {EXPECTED_OBJECT}")


def _checked(wave, flux, where: str, reason: str) -> tuple[np.ndarray, np.ndarray]:
    """``wave`` and ``flux`` as float arrays of one shape (n,) with n >= 2."""
    wave, flux = np.asarray(wave, dtype=float), np.asarray(flux, dtype=float)
    if wave.ndim != 1 or wave.shape != flux.shape:
        raise BadInputError(
            reason, f"{where}: wavelength and flux of shapes {wave.shape} and {flux.shape}; expected two (n,) arrays"
        )
    if wave.size < 2:
        raise BadInputError("too_few_points", f"{where}: {wave.size} point(s); a spectrum needs at least 2")
    return wave, flux
