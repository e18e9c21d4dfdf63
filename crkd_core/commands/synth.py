"""`crkd synth`: draw SignWorld (docs/DESIGN.md, "The embedded dataset") in PHOENIX's layout."""

from __future__ import annotations

import argparse
import sys

from ..data.signworld.sizes import DATA_SIZES
from ._args import positive_int

PROFILE_NAMES = DATA_SIZES.registered()  # smallest first


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="dataset root to create")
    parser.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default="default",
        help="smoke (seconds), default (the study) or full (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything (default: 0)")
    parser.add_argument(
        "--unseen-signers",
        action="store_true",
        help="also write test_unseen, signed by signers absent from train",
    )
    parser.add_argument(
        "--size", type=int, default=None, help="frame size in px (default: the profile's, 96)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace --out when it holds a SignWorld dataset (never any other folder)",
    )
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="processes drawing videos at once; the dataset is the same for any number",
    )


def run(args: argparse.Namespace) -> int:
    from ..data.signworld import generate_signworld

    result = generate_signworld(
        args.out,
        profile=args.profile,
        seed=args.seed,
        unseen_signers=args.unseen_signers,
        force=args.force,
        size=args.size,
        progress=lambda line: print(line, file=sys.stderr),
        jobs=args.jobs,
    )
    print(result.summary())
    return 0
