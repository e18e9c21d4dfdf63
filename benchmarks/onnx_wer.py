"""WER of a run under PyTorch, onnxruntime fp32 and onnxruntime int8, on the same split.

Not a test: a measurement for the record (issue "Real time on a CPU": what int8 costs).

    python benchmarks/onnx_wer.py --run runs/study-default/runs/crkd-s16-e8-seed0 \
        --data runs/study-default/data --split test --json benchmarks/results/onnx-wer.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from crkd_core.checkpoint import load_model, meta_view, meta_vocab
from crkd_core.deploy.export import export_onnx
from crkd_core.deploy.quantize import quantize_int8
from crkd_core.deploy.runtime import OnnxRecognizer, TorchRecognizer
from crkd_core.distributed import DistEnv
from crkd_core.evaluation import evaluate
from crkd_core.io import atomic_write_json
from crkd_core.pipeline import DataConfig, load_split, make_loader, open_layout


def score(recognizer, loader, vocab, role: str) -> dict:
    def predict(batch):
        video = batch.video if role == "teacher" else batch.student_video
        return recognizer(video, batch.video_lengths)

    t0 = time.perf_counter()
    result = evaluate(predict, loader, vocab, torch.device("cpu"))
    return {**result.wer.to_dict(), "seconds": round(time.perf_counter() - t0, 2)}, result.hyps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    model, meta = load_model(args.run)
    vocab, spec, role = meta_vocab(meta, args.run), meta_view(meta), meta.get("role", "teacher")
    cfg = DataConfig(args.data)
    ds = load_split(open_layout(cfg), cfg, args.split, vocab, spec, train=False, seed=0)
    loader = make_loader(ds, batch_size=1, train=False, seed=0, env=DistEnv())
    out, hyps = {"run": str(args.run), "split": args.split, "role": role}, {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", meta)
        int8 = quantize_int8(fp32, Path(tmp) / "int8.onnx", mode="dynamic")
        for name, rec in (
            ("torch", TorchRecognizer(model)),
            ("onnx_fp32", OnnxRecognizer(fp32)),
            ("onnx_int8_dynamic", OnnxRecognizer(int8)),
        ):
            out[name], hyps[name] = score(rec, loader, vocab, role)
    ids = sorted(hyps["torch"])
    for name in ("onnx_fp32", "onnx_int8_dynamic"):
        same = np.mean([hyps[name][i] == hyps["torch"][i] for i in ids])
        out[name]["same_glosses_as_torch"] = float(same)
        out[name]["wer_change_vs_torch"] = out[name]["wer"] - out["torch"]["wer"]
    print(json.dumps(out, indent=2))
    if args.json:
        atomic_write_json(args.json, out)


if __name__ == "__main__":
    main()
