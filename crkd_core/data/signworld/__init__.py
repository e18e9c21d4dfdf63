"""SignWorld: a procedural, synthetic CSLR dataset (this project's invention, not a public corpus).

Glosses are built from sign-language phonology: coarse location, movement, hands and orientation,
and a fine handshape (finger strokes that a 16 px view cannot resolve). Sentences come from a small
grammar, with co-articulated transitions, signer variation and camera noise. `generate_signworld`
writes the PHOENIX-2014 release layout, so the same reader loads synthetic and real data.

Modules: phonology (gloss table), grammar (sentences), signer (appearance), motion (poses per
frame), render (pixels), sizes (data sizes), writer (disk). The layout class and the
handshape-blind floor live in `crkd_core.data.synthetic`.
"""

from ..synthetic import SignWorld, handshape_blind_floor
from .phonology import HANDSHAPES, GlossSpec, Handshape, build_gloss_table
from .sizes import DATA_SIZES, DataSize
from .writer import SynthResult, generate_signworld

__all__ = [
    "HANDSHAPES",
    "DATA_SIZES",
    "GlossSpec",
    "Handshape",
    "DataSize",
    "SignWorld",
    "SynthResult",
    "build_gloss_table",
    "generate_signworld",
    "handshape_blind_floor",
]
