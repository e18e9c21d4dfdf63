"""SignWorld data sizes (`crkd synth --profile`): `smoke` (tests, CI), `default` (the study),
`full` (tight error bars).

SignWorld is this project's invention. A profile fixes the number of videos per split, the number
of signers, the frame size and the signing tempo. Generation times are for one CPU core.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ...errors import ConfigError
from ...registry import Registry


@dataclass(frozen=True)
class DataSize:
    """How much SignWorld to draw. `test_unseen` videos come from `unseen_signers` new signers."""

    name: str
    train: int
    dev: int
    test: int
    signers: int  # seen signers, shared by train, dev and test
    unseen_signers: int
    size: int = 96  # frame width = height, in px
    sign_frames: tuple[int, int] = (5, 8)  # frames per sign before the signer's speed
    unseen_test: int | None = None  # videos of `test_unseen` (None: as many as `test`)

    @property
    def test_unseen(self) -> int:
        return self.test if self.unseen_test is None else self.unseen_test

    def with_size(self, size: int | None) -> DataSize:
        """This profile at another frame size (None keeps it)."""
        if size is None:
            return self
        if not 32 <= size <= 512:
            raise ConfigError(f"frame size must be between 32 and 512 px, got {size}")
        return replace(self, size=size)

    def to_dict(self) -> dict:
        return asdict(self)


DATA_SIZES: Registry[DataSize] = Registry("SignWorld data size")
DATA_SIZES.register("smoke")(
    DataSize("smoke", train=24, dev=8, test=8, signers=3, unseen_signers=2)
)
# default's test split: 400 sentences, so that the study's headline gap (a student against its
# own teacher, paired by sentence) has a sentence-level 95 % half-width under 1.5 points; at 80
# sentences one such gap's was 3.6 (`crkd compare`, a CRKD student against its teacher)
DATA_SIZES.register("default")(
    DataSize("default", train=600, dev=80, test=400, signers=8, unseen_signers=3, unseen_test=80)
)
DATA_SIZES.register("full")(
    DataSize("full", train=3000, dev=300, test=300, signers=9, unseen_signers=3)
)
