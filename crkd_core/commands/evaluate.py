"""`crkd evaluate`: score a run's checkpoint on a split, our way and the official way.

Writes `RUN/eval-<split>-<decoder>.json` (the keys of metrics.json, plus the WER under the
official cleaning of the dataset family), `RUN/hyp-<split>-<decoder>.ctm` and
`RUN/ref-<split>.stm`, which sclite accepts.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..checkpoint import load_model, meta_view, meta_vocab
from ..distill import CTCTask
from ..distributed import DistEnv
from ..errors import CheckpointError
from ..evaluation import evaluate
from ..io import atomic_write_json, read_json
from ..metrics import wer
from ..pipeline import DataConfig, check_ctc_lengths, load_split, make_loader, open_layout
from ..profile import count_params, gmacs_per_frame
from ..scoring.cleaning import CLEANINGS
from ..scoring.ctm import write_ctm, write_stm


def add_arguments(p) -> None:
    p.add_argument("--run", required=True, type=Path, help="a run folder with checkpoint.*")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--dataset", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--decoder", default="greedy", choices=["greedy", "beam"])
    p.add_argument("--beam-width", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--cleaning",
        default=None,
        choices=sorted(CLEANINGS),
        help="official cleaning to report beside ours; default: by dataset family",
    )
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--allow-oov", action="store_true")
    p.add_argument("--threads", type=int, default=None)


def official_cleaning(dataset: str) -> str:
    return "phoenix2014t" if dataset == "phoenix2014t" else "phoenix2014"


def run(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    model, meta = load_model(args.run)
    source = args.run / "checkpoint.json"
    vocab = meta_vocab(meta, source)
    spec = meta_view(meta)
    data_cfg = DataConfig(args.data, args.dataset, args.cache_dir, args.allow_oov)
    layout = open_layout(data_cfg)
    ds = load_split(layout, data_cfg, args.split, vocab, spec, train=False, seed=0)
    check_ctc_lengths(ds, model.output_lengths)
    role = meta.get("role", "teacher")
    task = CTCTask(model, "teacher" if role == "teacher" else "student").eval()
    loader = make_loader(ds, args.batch_size, False, 0, DistEnv())
    t0 = time.perf_counter()
    result = evaluate(
        task.predict, loader, vocab, torch.device("cpu"), args.decoder, args.beam_width
    )
    seconds = time.perf_counter() - t0
    cleaning = args.cleaning or official_cleaning(layout.name)
    hyp_fn, ref_fn = CLEANINGS[cleaning]
    ids = sorted(result.refs)
    official = wer([ref_fn(result.refs[i]) for i in ids], [hyp_fn(result.hyps[i]) for i in ids])
    tag = f"{args.split}-{args.decoder}"
    write_ctm(args.run / f"hyp-{tag}.ctm", result.hyps)
    write_stm(args.run / f"ref-{args.split}.stm", result.refs)
    metrics = _run_metrics(args.run)
    out = {
        **metrics,
        "split": args.split,
        **result.to_dict(),
        "params": count_params(model),
        "gmacs_per_frame": gmacs_per_frame(model),
        "eval_seconds": round(seconds, 2),
        "official": {"cleaning": cleaning, **official.to_dict()},
        "complete": True,
    }
    atomic_write_json(args.run / f"eval-{tag}.json", out)
    w = result.wer
    print(
        f"{args.split} ({result.decoder}): WER {w.wer:.2f}% (S {w.sub} D {w.dele} I {w.ins} "
        f"N {w.n_ref}); official {cleaning} cleaning: WER {official.wer:.2f}% "
        f"-> {args.run / f'eval-{tag}.json'}"
    )
    return 0


def _run_metrics(run: Path) -> dict:
    """The run's metrics.json (its identity keys), if the run finished; else from the meta."""
    path = run / "metrics.json"
    if not path.is_file():
        raise CheckpointError(
            run, "the run has no metrics.json: it did not finish (resume it with --resume first)"
        )
    keep = (
        "role",
        "preset",
        "input_size",
        "kd",
        "feature_kd",
        "seed",
        "world_size",
        "train_seconds",
        "dataset",
        "student_variant",
    )
    m = read_json(path)
    return {k: m[k] for k in keep if k in m}
