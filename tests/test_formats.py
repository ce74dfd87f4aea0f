"""Reading spectra in every supported file format and from Python objects, and the refusals.

Every fixture is a synthetic spectrum (400 points, 3700-9300 Angstrom, a Gaussian H-alpha line) written
in ``tmp_path``; each reader must give the wavelengths and fluxes of the ascii copy of the same spectrum.
"""

from __future__ import annotations

import gzip
import traceback
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable, Table

from ccsnscore.data.formats import SpectrumData, read_spectrum_file, spectrum_from_object
from ccsnscore.data.io import BadInputError

N_POINTS = 400
ZTF = "ZTF21abcdefg"
SECRET = "root:x:0:0:root:/root:/bin/bash"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"


def linear_wave() -> np.ndarray:
    return np.linspace(3700.0, 9300.0, N_POINTS)


def log_wave() -> np.ndarray:
    return np.logspace(np.log10(3700.0), np.log10(9300.0), N_POINTS)


def halpha_flux(wave: np.ndarray) -> np.ndarray:
    """A sloped continuum and a Gaussian H-alpha emission line at z = 0.02 (erg/s/cm^2/Angstrom)."""
    return 1e-16 * (1.5 - wave / 1e4 + 3.0 * np.exp(-0.5 * ((wave - 6563.0 * 1.02) / 40.0) ** 2))


def write_ascii(path: Path, wave: np.ndarray, flux: np.ndarray, header: str = "# TELESCOPE: P60\n") -> Path:
    text = header + "".join(f"{w:.12e} {f:.12e}\n" for w, f in zip(wave, flux))
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def gzip_copy(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


def write_csv(path: Path, wave, flux, wave_name: str = "wavelength") -> Path:
    pd.DataFrame({wave_name: wave, "flux": flux}).to_csv(path, index=False, float_format="%.12e")
    return path


def write_ecsv(path: Path, wave, flux, wave_unit=u.AA) -> Path:
    table = QTable({"wave": (wave * u.AA).to(wave_unit), "flux": flux * u.erg / u.s / u.cm**2 / u.AA})
    table.meta["OBJECT"] = "SN 2021abc"
    table.write(path, format="ascii.ecsv")
    return path


def write_image(path: Path, wave, flux, log: bool = False, **cards) -> Path:
    header = fits.Header()
    if log:
        loglam = np.log10(wave)
        header.update(CRVAL1=loglam[0], CDELT1=loglam[1] - loglam[0], CRPIX1=1.0, CTYPE1="WAVE-LOG")
    else:
        header.update(CRVAL1=wave[0], CDELT1=wave[1] - wave[0], CTYPE1="WAVE", CUNIT1="Angstrom")
    header.update(cards)
    fits.PrimaryHDU(flux, header).writeto(path)
    return path


def write_table(path: Path, wave, flux, one_row: bool = False, **names) -> Path:
    wave_name, flux_name = names.get("wave_name", "WAVELENGTH"), names.get("flux_name", "FLUX")
    if one_row:  # one row holding the arrays, as SDSS and specutils write
        fmt, wave, flux = f"{wave.size}D", wave[None, :], flux[None, :]
    else:
        fmt = "D"
    columns = [
        fits.Column(name=wave_name, format=fmt, array=wave, unit=names.get("unit", "Angstrom")),
        fits.Column(name=flux_name, format=fmt, array=flux),
    ]
    primary = fits.PrimaryHDU(header=fits.Header({"OBJECT": "SN 2021xyz"}))
    fits.HDUList([primary, fits.BinTableHDU.from_columns(columns)]).writeto(path)
    return path


def assert_same(spectrum: SpectrumData, reference: SpectrumData) -> None:
    assert spectrum.wave.shape == spectrum.flux.shape == (N_POINTS,)
    assert spectrum.wave.dtype == spectrum.flux.dtype == np.float64
    np.testing.assert_allclose(spectrum.wave, reference.wave, rtol=1e-6)
    np.testing.assert_allclose(spectrum.flux, reference.flux, rtol=1e-6)


def one_line_error(excinfo, reason: str) -> str:
    err = excinfo.value
    assert err.reason == reason, str(err)
    message = str(err)
    assert "\n" not in message.strip() and message
    return message


# --------------------------------------------------------------------------------------------- files


def test_ascii_reference_reads_header_and_ztf_name(tmp_path):
    wave = linear_wave()
    spectrum = read_spectrum_file(write_ascii(tmp_path / f"{ZTF}_20210601_P60_v1.ascii", wave, halpha_flux(wave)))
    np.testing.assert_allclose(spectrum.wave, wave, rtol=1e-12)
    assert spectrum.header == {"TELESCOPE": "P60"}
    assert spectrum.object_name == ZTF
    assert spectrum.source == str(tmp_path / f"{ZTF}_20210601_P60_v1.ascii")


XYZ = "SN 2021xyz"
WRITERS = {  # kind: (writer(folder, wave, flux) -> path, expected object_name)
    "csv": (lambda p, w, f: write_csv(p / f"{ZTF}.csv", w, f), ZTF),
    "csv_gz": (lambda p, w, f: gzip_copy(write_csv(p / f"{ZTF}.csv", w, f)), ZTF),
    "csv_unit_in_name": (lambda p, w, f: write_csv(p / f"{ZTF}.csv", w / 10, f, wave_name="Wave [nm]"), ZTF),
    "ecsv": (lambda p, w, f: write_ecsv(p / "spec.ecsv", w, f), "SN 2021abc"),
    "ecsv_nm": (lambda p, w, f: write_ecsv(p / "spec.ECSV", w, f, wave_unit=u.nm), "SN 2021abc"),
    "ecsv_nm_gz": (lambda p, w, f: gzip_copy(write_ecsv(p / "spec.ecsv", w, f, wave_unit=u.nm)), "SN 2021abc"),
    "ascii_gz": (lambda p, w, f: write_ascii(p / f"{ZTF}.txt.gz", w, f), ZTF),
    "image": (lambda p, w, f: write_image(p / "spec.fits", w, f, OBJECT=XYZ), XYZ),
    "image_gz": (lambda p, w, f: gzip_copy(write_image(p / "spec.fits", w, f, OBJECT=XYZ)), XYZ),
    "image_cd_nm": (
        lambda p, w, f: write_image(
            p / "spec.v2.FIT", w, f, CD1_1=(w[1] - w[0]) / 10, CDELT1=99.0, CRVAL1=w[9] / 10, CRPIX1=10.0, CUNIT1="nm"
        ),
        "spec.v2",
    ),
    "table": (lambda p, w, f: write_table(p / "spec.fits", w, f), XYZ),
    "table_one_row": (lambda p, w, f: write_table(p / "spec.fts", w, f, one_row=True), XYZ),
    "table_one_row_gz": (lambda p, w, f: gzip_copy(write_table(p / "spec.fits", w, f, one_row=True)), XYZ),
    "table_um": (lambda p, w, f: write_table(p / "spec.fits", w / 1e4, f, wave_name="Lambda", unit="um"), XYZ),
    "table_loglam": (
        lambda p, w, f: write_table(p / "spec.fits", np.log10(w), f, wave_name="loglam", unit="log(Angstrom)"),
        XYZ,
    ),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_file_formats_match_ascii(tmp_path, kind):
    wave = linear_wave()
    flux = halpha_flux(wave)
    reference = read_spectrum_file(write_ascii(tmp_path / "reference.txt", wave, flux))
    (tmp_path / "out").mkdir()
    writer, object_name = WRITERS[kind]
    spectrum = read_spectrum_file(writer(tmp_path / "out", wave, flux))
    assert_same(spectrum, reference)
    assert spectrum.object_name == object_name


@pytest.mark.parametrize("cards", [{}, {"CTYPE1": "LINEAR", "DC-FLAG": 1}], ids=["ctype_log", "dc_flag"])
def test_log_linear_image_matches_ascii(tmp_path, cards):
    wave = log_wave()
    flux = halpha_flux(wave)
    reference = read_spectrum_file(write_ascii(tmp_path / "reference.dat", wave, flux))
    spectrum = read_spectrum_file(write_image(tmp_path / f"{ZTF}_log.fits", wave, flux, log=True, **cards))
    assert_same(spectrum, reference)
    assert spectrum.object_name == ZTF
    assert spectrum.header["CRPIX1"] == "1.0"


def test_fits_wave_log_axis_in_angstrom(tmp_path):
    """FITS paper III WAVE-LOG: CRVAL1 and CDELT1 in Angstrom, wave = CRVAL1 exp(CDELT1 (p - CRPIX1) / CRVAL1)."""
    wave = log_wave()
    step = wave[0] * np.log(wave[1] / wave[0])
    path = write_image(tmp_path / "wavelog.fits", wave, halpha_flux(wave), CRVAL1=wave[0], CDELT1=step)
    fits.setval(path, "CTYPE1", value="WAVE-LOG")
    np.testing.assert_allclose(read_spectrum_file(path).wave, wave, rtol=1e-6)


def test_image_in_extension_and_iraf_units(tmp_path):
    wave = linear_wave()
    header = fits.Header({"CRVAL1": wave[0] / 10, "CDELT1": (wave[1] - wave[0]) / 10})
    header["WAT1_001"] = "wtype=linear label=Wavelength units=nanometers"
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(halpha_flux(wave), header)])
    hdus.writeto(tmp_path / "ext.fits")
    spectrum = read_spectrum_file(tmp_path / "ext.fits")
    np.testing.assert_allclose(spectrum.wave, wave, rtol=1e-9)


def test_csv_with_ecsv_content_and_comment_header(tmp_path):
    wave = linear_wave()
    flux = halpha_flux(wave)
    ecsv_as_csv = write_ecsv(tmp_path / "x.ecsv", wave, flux, wave_unit=u.nm).rename(tmp_path / "x.csv")
    np.testing.assert_allclose(read_spectrum_file(ecsv_as_csv).wave, wave, rtol=1e-9)
    path = tmp_path / "commented.csv"
    path.write_text("# OBJECT: SN 2020abc\n" + write_csv(tmp_path / "plain.csv", wave, flux).read_text())
    spectrum = read_spectrum_file(path)
    assert spectrum.object_name == "SN 2020abc" and spectrum.header["OBJECT"] == "SN 2020abc"


# ------------------------------------------------------------------------------------------- objects


class FakeSpectrum1D:
    """The attributes of ``specutils.Spectrum1D`` that the reader uses."""

    def __init__(self, spectral_axis, flux, mask=None, meta=None):
        self.spectral_axis, self.flux, self.mask, self.meta = spectral_axis, flux, mask, meta or {}


OBJECTS = {
    "tuple": lambda w, f: (w, f),
    "list": lambda w, f: [list(w), list(f)],
    "tuple_quantity_nm": lambda w, f: ((w * u.AA).to(u.nm), f * u.Jy),
    "array_2n": lambda w, f: np.vstack([w, f]),
    "array_n2": lambda w, f: np.column_stack([w, f]),
    "table_nm": lambda w, f: Table({"Wavelength": w / 10, "flux": f}, units={"Wavelength": u.nm}),
    "qtable": lambda w, f: QTable({"wl": (w * u.AA).to(u.um), "FLAM": f * u.erg}),
    "dataframe": lambda w, f: pd.DataFrame({"WAVE": w, "f_lambda": f, "err": f / 10}),
    "spectrum1d_nm": lambda w, f: FakeSpectrum1D((w * u.AA).to(u.nm), f * u.Jy),
}


@pytest.mark.parametrize("kind", sorted(OBJECTS))
def test_objects_match_ascii(tmp_path, kind):
    wave = linear_wave()
    flux = halpha_flux(wave)
    reference = read_spectrum_file(write_ascii(tmp_path / "reference.txt", wave, flux))
    spectrum = spectrum_from_object(OBJECTS[kind](wave, flux), name="SN 2021abc")
    assert_same(spectrum, reference)
    assert spectrum.object_name == "SN 2021abc"
    assert spectrum.source.startswith("<")


def test_spectrum1d_mask_meta_and_unnamed():
    wave = linear_wave()
    mask = np.zeros(N_POINTS, bool)
    mask[:5] = True
    meta = {"header": fits.Header({"OBJECT": "ZTF20aaaaaaa", "EXPTIME": 300})}
    spectrum = spectrum_from_object(FakeSpectrum1D(wave * u.AA, halpha_flux(wave) * u.Jy, mask, meta))
    assert np.isnan(spectrum.flux[:5]).all() and np.isfinite(spectrum.flux[5:]).all()
    assert spectrum.object_name == "ZTF20aaaaaaa" and spectrum.header["EXPTIME"] == "300"
    assert spectrum_from_object((wave, halpha_flux(wave))).object_name == ""


def test_spectrum_data_and_paths(tmp_path):
    wave = linear_wave()
    data = SpectrumData(wave, halpha_flux(wave), {}, "x", "<array>")
    assert spectrum_from_object(data) is data
    path = write_ascii(tmp_path / f"{ZTF}.flm", wave, halpha_flux(wave))
    assert spectrum_from_object(path).object_name == ZTF
    assert spectrum_from_object(str(path), name="SN 2021abc").object_name == "SN 2021abc"


@pytest.mark.parametrize(
    "obj",
    [{"wave": [1.0, 2.0]}, 42, b"3700 1.0", np.zeros((3, 4)), np.zeros((2, 3, 4)), (["a", "b"], [1.0, 2.0])],
    ids=["dict", "int", "bytes", "array_3x4", "array_3d", "text_values"],
)
def test_unsupported_objects(obj):
    with pytest.raises(BadInputError) as excinfo:
        spectrum_from_object(obj)
    assert "expected" in one_line_error(excinfo, "unsupported_object")


def test_object_errors():
    wave = linear_wave()
    with pytest.raises(BadInputError) as excinfo:
        spectrum_from_object((wave, wave[:-1]))
    one_line_error(excinfo, "unsupported_object")
    with pytest.raises(BadInputError) as excinfo:
        spectrum_from_object(FakeSpectrum1D(wave * u.s, wave))
    one_line_error(excinfo, "unsupported_object")
    with pytest.raises(BadInputError) as excinfo:
        spectrum_from_object(pd.DataFrame({"wave": wave, "ivar": wave}))
    assert "flux column" in one_line_error(excinfo, "bad_columns")
    with pytest.raises(BadInputError) as excinfo:
        spectrum_from_object(([1.0], [2.0]))
    one_line_error(excinfo, "too_few_points")


# -------------------------------------------------------------------------------------------- errors


def test_folder_and_missing_file(tmp_path):
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path)
    assert one_line_error(excinfo, "not_a_file") == f"{tmp_path}: is a folder, not a spectrum file"
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path / "nothing.fits")
    assert "nothing.fits" in one_line_error(excinfo, "missing_file")


@pytest.mark.parametrize("name", ["image.fits", "image.txt", "image.png", "image.csv"])
def test_png_is_refused(tmp_path, name):
    (tmp_path / name).write_bytes(PNG)
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path / name)
    message = one_line_error(excinfo, "unsupported_format")
    assert name in message and "PNG" in message and "expected" in message


def test_zip_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "spectra.zip", "w") as archive:
        archive.writestr("a.txt", "3700 1.0\n3800 2.0\n")
    (tmp_path / "spectra.zip").rename(tmp_path / "spectra.dat")
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path / "spectra.dat")
    assert "zip" in one_line_error(excinfo, "unsupported_format")


def test_fits_2d_image_and_image_without_wcs(tmp_path):
    fits.PrimaryHDU(np.ones((50, 400))).writeto(tmp_path / "frame.fits")
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path / "frame.fits")
    message = one_line_error(excinfo, "unsupported_fits")
    assert "400x50 image" in message and "CRVAL1" in message
    fits.PrimaryHDU(np.ones(400)).writeto(tmp_path / "nowcs.fits")
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path / "nowcs.fits")
    assert "wavelength keywords" in one_line_error(excinfo, "unsupported_fits")


def test_fits_table_without_flux_column(tmp_path):
    wave = linear_wave()
    write_table(tmp_path / "noflux.fits", wave, wave, flux_name="IVAR")
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path / "noflux.fits")
    message = one_line_error(excinfo, "unsupported_fits")
    assert "'WAVELENGTH', 'IVAR'" in message and "f_lambda" in message


def test_csv_without_header(tmp_path):
    wave = linear_wave()
    path = tmp_path / "noheader.csv"
    path.write_text("".join(f"{w},{f}\n" for w, f in zip(wave, halpha_flux(wave))))
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(path)
    message = one_line_error(excinfo, "bad_columns")
    assert "not column names" in message and "wavelength" in message and "flam" in message
    assert f"{wave[0]}" not in message


@pytest.mark.parametrize("suffix", [".csv", ".ecsv"])
def test_table_without_flux_column(tmp_path, suffix):
    wave = linear_wave()
    path = tmp_path / f"noflux{suffix}"
    Table({"wave": wave, "mag": wave}).write(path, format="ascii.ecsv" if suffix == ".ecsv" else "ascii.csv")
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(path)
    message = one_line_error(excinfo, "bad_columns")
    assert "no flux column" in message and "['wave', 'mag']" in message and "fluxes" in message


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("secret.txt", "non_numeric"),
        ("secret.dat.gz", "non_numeric"),
        ("secret", "non_numeric"),
        ("secret.csv", "bad_columns"),
        ("secret.ecsv", "unreadable_file"),
        ("secret.fits", "unsupported_format"),
    ],
)
def test_messages_never_quote_the_file(tmp_path, name, reason):
    content = f"{SECRET}\n{SECRET}\n".encode()
    (tmp_path / name).write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    with pytest.raises(BadInputError) as excinfo:
        read_spectrum_file(tmp_path / name)
    message = one_line_error(excinfo, reason)
    assert name in message
    shown = "".join(traceback.format_exception(excinfo.type, excinfo.value, excinfo.tb))
    assert "root:x" not in shown and "/bin/bash" not in shown


def test_damaged_files(tmp_path):
    wave = linear_wave()
    whole = write_image(tmp_path / "whole.fits", wave, halpha_flux(wave)).read_bytes()
    (tmp_path / "cut.fits").write_bytes(whole[:3000])
    (tmp_path / "bad.txt.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    (tmp_path / "plain.txt.gz").write_text("3700 1\n3800 2\n")
    for name in ("cut.fits", "bad.txt.gz", "plain.txt.gz"):
        with pytest.raises(BadInputError) as excinfo:
            read_spectrum_file(tmp_path / name)
        one_line_error(excinfo, "unreadable_file")
