"""onnxruntime session options shared by every onnxruntime engine of the package."""

from __future__ import annotations

import torch


def session_options(threads: int | None = None, spin: bool = False):
    """onnxruntime options: all graph optimisations, `threads` intra-op threads, sequential.

    Threads do not spin while waiting (`spin=False`): on a loaded machine spinning made two
    threads 2.5x slower than one (see fuse.py).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only
    return opts
