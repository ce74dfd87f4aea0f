"""ccsnscore: core-collapse supernova classification from SEDM spectra and ZTF light curves."""

__version__ = "0.1.0"
