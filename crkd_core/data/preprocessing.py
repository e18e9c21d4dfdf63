"""Named frame preprocessing: the resize and crop sizes of the view transform.

`peers`: resize every frame to 256 x 256, then crop 224 x 224 (random in train, centre in
evaluation), as the VAC family of CSLR repositories does. It fits presets whose teacher sees
224 px (`paper`).
`crkd`: ours, the preset's own sizes: resize to `preset.pre_size`, crop the teacher's input size.

`preprocessing_sizes(name, preset)` gives `(pre_size, crop)` for a `ViewSpec`, so that a CLI flag
can pick a row by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..registry import Registry

if TYPE_CHECKING:
    from ..models.presets import Preset


@dataclass(frozen=True)
class Preprocessing:
    """A named preprocessing; sizes of None mean "the preset's own"."""

    name: str
    description: str
    pre_size: int | None = None
    crop: int | None = None


PREPROCESSING: Registry[Preprocessing] = Registry("preprocessing")


def register_preprocessing(p: Preprocessing) -> Preprocessing:
    return PREPROCESSING.register(p.name)(p)


register_preprocessing(Preprocessing("peers", "resize 256 px, then crop 224 px", 256, 224))
register_preprocessing(Preprocessing("crkd", "the preset's pre_size, then its teacher's size"))


def preprocessing_sizes(name: str, preset: str | Preset) -> tuple[int, int]:
    """(pre_size, crop) of a named preprocessing for a model preset.

    Args:
        name: a registered preprocessing (`peers`, `crkd`).
        preset: a model preset, or its name; its teacher's input size must equal the crop.

    Raises:
        ConfigError: unknown name, or a crop that is not the teacher's input size.
    """
    p = PREPROCESSING.get(name)
    if isinstance(preset, str):
        from ..models.presets import PRESETS  # lazy: the model code imports torch

        preset = PRESETS.get(preset)
    teacher = preset.teacher.input_size
    pre_size, crop = p.pre_size or preset.pre_size, p.crop or teacher
    if crop != teacher:
        raise ConfigError(
            f"preprocessing {name!r} crops {crop} px, but the teacher of preset "
            f"{preset.name!r} sees {teacher} px; use 'crkd' or the 'paper' preset"
        )
    return pre_size, crop
