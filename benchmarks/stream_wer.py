"""What the stream settings cost in accuracy: streamed against offline WER of a trained run.

    .venv/bin/python benchmarks/stream_wer.py --run runs/.../crkd-... --data /tmp/sw-default \\
        --settings 64,8,12 64,4,4 --json benchmarks/results/stream-wer.json

Every clip of the split is streamed frame by frame through the incremental engine (eager
PyTorch, as `crkd predict --stream` runs a checkpoint), once per window,hop,margin setting, and
the emitted glosses are scored against the references, beside the offline transcript of the
whole clip (greedy decoding). Speed and latency are `benchmarks/streaming.py`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from crkd_core.checkpoint import load_model, meta_view, meta_vocab
from crkd_core.data.corpus import open_dataset
from crkd_core.data.frames import read_image
from crkd_core.data.transforms import make_views
from crkd_core.deploy.incremental import TorchHeadEngine, TorchTrunkEngine
from crkd_core.deploy.spans import decode_spans, min_frames, step_timing
from crkd_core.deploy.streaming import IncrementalStreamingRecognizer, StreamConfig
from crkd_core.metrics import wer


def setting(text: str) -> StreamConfig:
    try:
        window, hop, margin = (int(v) for v in text.split(","))
        return StreamConfig(window, hop, margin)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: want WINDOW,HOP,MARGIN ({exc})") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a trained LRINet or teacher run")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--settings", type=setting, nargs="+", default=[setting("64,8,12")])
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model, meta = load_model(args.run)
    vocab, spec = meta_vocab(meta, args.run), meta_view(meta)
    entries = open_dataset(args.data).read_split(args.split)
    timing, need = step_timing(model.cfg.head), min_frames(model.cfg.head)
    size = model.cfg.input_size
    refs, offline = [], []
    streamed: dict[StreamConfig, list] = {s: [] for s in args.settings}
    for e in entries:
        raw = np.stack([read_image(f, spec.pre_size)[0] for f in e.frames])
        views = make_views(raw, spec, train=False)
        clip = views.student if views.student is not None else views.teacher
        refs.append([g for g in e.glosses])
        with torch.inference_mode():
            logits = model(clip[None], torch.tensor([len(clip)])).logits[0]
        offline.append(vocab.decode([s.label for s in decode_spans(logits.log_softmax(-1))]))
        for cfg in args.settings:
            stream = IncrementalStreamingRecognizer(
                TorchTrunkEngine(model.trunk, size), TorchHeadEngine(model), timing, cfg, 25.0, need
            )
            emitted = [x for frame in clip for x in stream.push(frame)] + stream.flush()
            streamed[cfg].append(vocab.decode([x.span.label for x in emitted]))
    out = {
        "run": args.run.name,
        "split": args.split,
        "sentences": len(refs),
        "offline_wer": wer(refs, offline).wer,
        "streamed": [
            {"window": c.window, "hop": c.hop, "margin": c.margin, "wer": wer(refs, t).wer}
            for c, t in streamed.items()
        ],
    }
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
