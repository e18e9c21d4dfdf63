"""Deployment: ONNX export and int8 quantization, an ONNX runtime recogniser, inference-time
speed-ups (conv+BN folding, thread settings), frame sources with the training-time
preprocessing, and a sliding-window streaming recogniser. On top of them, the two library
functions of the `crkd` deployment commands and of `api`, which return data: `predict.predict`
(recognise a clip or a stream) and `package.export_run` (package a run by the export policy).

Modules import onnx / onnxruntime / PyAV lazily, so `import crkd_core.deploy` stays cheap and
the training stack never needs them.
"""
