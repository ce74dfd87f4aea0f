"""ccsnscore: core-collapse supernova classification from SEDM spectra and ZTF light curves.

The public API is importable from here; names are loaded on first use so that ``import ccsnscore``
stays fast::

    from ccsnscore import load_model_set, classify_table, load_classifier
"""

from __future__ import annotations

import importlib

__version__ = "0.3.0.dev0"

_EXPORTS = {
    "load_classifier": "ccsnscore.model.checkpoints",
    "classifier_metadata": "ccsnscore.model.checkpoints",
    "ClassifierFileError": "ccsnscore.model.checkpoints",
    "BinaryClassifier": "ccsnscore.model.network",
    "load_model_set": "ccsnscore.inference.model_set",
    "ModelSet": "ccsnscore.inference.model_set",
    "classify_table": "ccsnscore.inference.classify",
    "classify_spectra": "ccsnscore.inference.classify",
    "predict": "ccsnscore.inference.pipeline",
    "decide": "ccsnscore.inference.decisions",
    "decide_hierarchy": "ccsnscore.inference.decisions",
    "mc_dropout_scores": "ccsnscore.inference.mc_dropout",
    "PreprocessingConfig": "ccsnscore.data.config",
    "preprocess_spectrum": "ccsnscore.data.spectra",
    "read_spectrum": "ccsnscore.data.io",
    "BadInputError": "ccsnscore.data.io",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ccsnscore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
