"""Evaluation as a library function: a finished run scored on one split, ours and official.

Writes `RUN/eval-<split>-<decoder>.json` (an `EvalRecord`), `RUN/hyp-<split>-<decoder>.ctm` and
`RUN/ref-<split>.stm`, which sclite accepts. A run that did not finish is refused before any
file is written.
"""

from __future__ import annotations

import time

import torch

from ..checkpoint import load_model, meta_view, meta_vocab
from ..cost import count_params, gmacs_per_frame
from ..distributed import DistEnv
from ..errors import ConfigError
from ..evaluation import EvalResult, evaluate
from ..metrics import wer
from ..pipeline import check_ctc_lengths, load_split, make_loader, open_layout
from ..scoring.cleaning import CLEANINGS
from ..scoring.ctm import write_ctm, write_stm
from ..tasks import CTCTask
from .config import EvalConfig
from .record import EvalRecord, RunRecord, Score


def official_cleaning(dataset: str) -> str:
    return "phoenix2014t" if dataset == "phoenix2014t" else "phoenix2014"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: CUDA is not available on this machine")
    return torch.device(name)


def evaluate_run(cfg: EvalConfig) -> EvalRecord:
    """Score the run's best checkpoint on `cfg.split`; write the eval JSON, CTM and STM."""
    trained = RunRecord.read(cfg.run)  # refuses an unfinished run before any work
    device = pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, meta = load_model(cfg.run)
    vocab = meta_vocab(meta, cfg.run / "checkpoint.json")
    layout = open_layout(cfg.data_config())
    ds = load_split(
        layout=layout,
        cfg=cfg.data_config(),
        split=cfg.split,
        vocab=vocab,
        spec=meta_view(meta),
        train=False,
        seed=0,
    )
    check_ctc_lengths(ds, model.output_lengths)
    view = "teacher" if meta.get("role", "teacher") == "teacher" else "student"
    task = CTCTask(model, view).to(device).eval()
    loader = make_loader(
        ds=ds, batch_size=cfg.batch_size, train=False, seed=0, env=DistEnv(device=device)
    )
    t0 = time.perf_counter()
    result = evaluate(
        predict=task.predict,
        loader=loader,
        vocab=vocab,
        device=device,
        decoder=cfg.decoder,
        beam_width=cfg.beam_width,
    )
    seconds = time.perf_counter() - t0
    cleaning = cfg.cleaning or official_cleaning(layout.name)
    record = EvalRecord(
        run=trained.identity(),
        score=Score.of(cfg.split, result),
        official_cleaning=cleaning,
        official=official_score(cfg.split, result, cleaning),
        params=count_params(model),
        gmacs_per_frame=gmacs_per_frame(model),
        eval_seconds=round(seconds, 2),
    )
    write_ctm(cfg.run / f"hyp-{cfg.split}-{cfg.decoder}.ctm", result.hyps)
    write_stm(cfg.run / f"ref-{cfg.split}.stm", result.refs)
    record.write(cfg.run, cfg.decoder)
    return record


def official_score(split: str, result: EvalResult, cleaning: str) -> Score:
    """The WER after the official cleaning of the dataset family (both sides cleaned)."""
    hyp_fn, ref_fn = CLEANINGS[cleaning]
    ids = sorted(result.refs)
    w = wer([ref_fn(result.refs[i]) for i in ids], [hyp_fn(result.hyps[i]) for i in ids])
    return Score.counted(split, result.decoder, w, len(ids))
