"""`crkd score`: WER of a CTM hypothesis file against an STM reference file.

crkd score --hyp HYP.ctm --ref REF.stm [--cleaning phoenix2014] [--engine python] [--json F]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io import atomic_write_json, check_output
from ..scoring import CLEANINGS, ENGINES, score_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hyp", required=True, help="hypotheses, a CTM file")
    parser.add_argument("--ref", required=True, help="references, an STM file")
    parser.add_argument(
        "--cleaning",
        choices=sorted(CLEANINGS),
        default="phoenix2014",
        help="gloss cleaning of the official scripts (default: phoenix2014)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="python",
        help="python (built in) or sclite (needs Debian's sctk)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON")


def run(args: argparse.Namespace) -> int:
    if args.json:  # an output never lands on an input or in a run folder
        check_output(Path(args.json), {"--hyp": Path(args.hyp), "--ref": Path(args.ref)})
    result = score_files(args.hyp, args.ref, cleaning=args.cleaning, engine=args.engine)
    if args.json:  # before the summary: a JSON that cannot be written is not a success
        atomic_write_json(
            args.json,
            {
                **result.to_dict(),
                "n_hyp": result.n_hyp,
                "cleaning": args.cleaning,
                "engine": args.engine,
                "hyp": str(args.hyp),
                "ref": str(args.ref),
            },
        )
    print(f"{result}  [cleaning={args.cleaning}, engine={args.engine}]")
    return 0
