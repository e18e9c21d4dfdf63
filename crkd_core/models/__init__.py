"""Teacher, LRINet and their parts. Models return `SLROutput`; losses and decoding live outside."""

from .network import SLRNet, SLROutput
from .presets import PRESETS, Preset, build_student, build_teacher

__all__ = ["SLRNet", "SLROutput", "PRESETS", "Preset", "build_student", "build_teacher"]
