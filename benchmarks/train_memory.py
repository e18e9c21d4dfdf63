"""Estimate training memory of a preset from tensors measured on the CPU (no GPU needed).

Counts the bytes autograd saves for backward (the activations) during one forward pass of a
clip, through `torch.autograd.graph.saved_tensors_hooks`, and the bytes of parameters,
gradients and Adam's two moments. Activations grow linearly with the number of frames in a
batch, so the measurement on a short clip scales to the recipe's batch. This is an estimate of
what a GPU holds; allocator caching and cuDNN workspaces come on top (typically +10-30 %).

    python benchmarks/train_memory.py --preset paper --frames 16 --batch-frames 280
"""

from __future__ import annotations

import argparse
import json

import torch

from crkd_core.models import build_student, build_teacher


def saved_bytes(model: torch.nn.Module, size: int, frames: int) -> int:
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.randn(1, frames, 3, size, size)
    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, torch.tensor([frames])).logits.sum()
    return sum(seen.values())


def estimate(model: torch.nn.Module, size: int, frames: int, batch_frames: int) -> dict:
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    act = saved_bytes(model, size, frames)
    per_frame = act / frames
    gib = 2**30
    return {
        "input_size": size,
        "params_mib": params / 2**20,
        "weights_grads_adam_gib": 4 * params / gib,
        "activations_per_frame_mib": per_frame / 2**20,
        "batch_frames": batch_frames,
        "fp32_total_gib": (4 * params + per_frame * batch_frames) / gib,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper")
    p.add_argument("--frames", type=int, default=16, help="clip length measured")
    p.add_argument(
        "--batch-frames",
        type=int,
        default=280,
        help="frames in one training batch (PHOENIX: batch 2 x ~140 frames)",
    )
    p.add_argument("--classes", type=int, default=1296)
    args = p.parse_args()
    torch.manual_seed(0)
    teacher = build_teacher(args.preset, args.classes)
    student = build_student(args.preset, args.classes)
    out = {
        "teacher": estimate(teacher, teacher.cfg.input_size, args.frames, args.batch_frames),
        "lrinet": estimate(student, student.cfg.input_size, args.frames, args.batch_frames),
    }
    # distillation also runs the frozen teacher forward, without saving activations
    out["distill_extra_teacher_weights_gib"] = out["teacher"]["params_mib"] / 1024
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
