"""Deployment: ONNX export and int8 quantization, an ONNX runtime recogniser, inference-time
speed-ups (conv+BN folding, thread settings), frame sources with the training-time
preprocessing, and a sliding-window streaming recogniser.

Modules import onnx / onnxruntime / PyAV lazily, so `import crkd_core.deploy` stays cheap and
the training stack never needs them.
"""
