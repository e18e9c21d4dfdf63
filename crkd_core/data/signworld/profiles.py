"""SignWorld size profiles: `smoke` (tests, CI), `default` (the study), `full` (tight error bars).

SignWorld is this project's invention. A profile fixes the number of videos per split, the number
of signers, the frame size and the signing tempo. Generation times are for one CPU core.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from ...errors import ConfigError
from ...registry import Registry


@dataclass(frozen=True)
class Profile:
    """How much SignWorld to draw. `test_unseen` videos come from `unseen_signers` new signers."""

    name: str
    train: int
    dev: int
    test: int
    signers: int  # seen signers, shared by train, dev and test
    unseen_signers: int
    size: int = 96  # frame width = height, in px
    sign_frames: tuple[int, int] = (5, 8)  # frames per sign before the signer's speed

    @property
    def test_unseen(self) -> int:
        return self.test

    def with_size(self, size: int | None) -> Profile:
        """This profile at another frame size (None keeps it)."""
        if size is None:
            return self
        if not 32 <= size <= 512:
            raise ConfigError(f"frame size must be between 32 and 512 px, got {size}")
        return replace(self, size=size)

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: Registry[Profile] = Registry("SignWorld profile")
PROFILES.register("smoke")(Profile("smoke", train=24, dev=8, test=8, signers=3, unseen_signers=2))
PROFILES.register("default")(
    Profile("default", train=600, dev=80, test=80, signers=8, unseen_signers=3)
)
PROFILES.register("full")(
    Profile("full", train=3000, dev=300, test=300, signers=9, unseen_signers=3)
)
