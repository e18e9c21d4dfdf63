"""Loss terms and their weighted sum. Each term's module docstring gives its formula and source.

Every `kd_*.py` module here is imported, so that the KD terms it declares (`@kd_term`) are in
`KD_TERMS`: a new KD term is one new file.
"""

import importlib
import pkgutil

from .combine import LossTerm, WeightedLoss
from .ctc import CTCLoss, VisualCTCLoss
from .kd_features import FeatureKD
from .kd_logits import LogitKD
from .registry import KD_TERMS, KDTerm, kd_term

for _module in pkgutil.iter_modules(__path__):
    if _module.name.startswith("kd_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "CTCLoss",
    "VisualCTCLoss",
    "FeatureKD",
    "LogitKD",
    "LossTerm",
    "WeightedLoss",
    "KD_TERMS",
    "KDTerm",
    "kd_term",
]
