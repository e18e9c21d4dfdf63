"""Loss terms and their weighted sum. Each term's module docstring gives its formula and source."""

from .combine import LossTerm, WeightedLoss
from .ctc import CTCLoss, VisualCTCLoss
from .kd_features import FeatureKD
from .kd_logits import LogitKD

__all__ = ["CTCLoss", "VisualCTCLoss", "FeatureKD", "LogitKD", "LossTerm", "WeightedLoss"]
