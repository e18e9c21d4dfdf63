"""CRKD workbench: continuous sign language recognition with cross-resolution distillation.

Reconstruction note: the CRKD paper (arXiv 2303.06820) and TSCM (arXiv 2211.03387) are public
only as abstracts. What the abstracts state is marked "paper" in docstrings; everything else is
this project's reconstruction.
"""

__version__ = "0.1.0"
