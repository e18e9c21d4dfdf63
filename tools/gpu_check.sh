#!/usr/bin/env bash
# The GPU checks of the workbench, as one short script for a lent GPU machine (docs/gpu.md):
#   1. the GPU-marked tests;
#   2. the `paper` preset's training step, fp32 against AMP, side by side
#      (benchmarks/train_speed.py --device cuda);
#   3. the `paper` teacher (224 px) and LRINet + CRKD (112 px) trained on SignWorld drawn at
#      256 px: wall time, peak GPU memory (torch's allocator and nvidia-smi) and test WER.
# Everything it measures goes to $OUT (default: gpu-check/), with the log of each step, so that
# docs/gpu.md can be filled in from the files. Budget: about 10 minutes on one H100.
#
#   OUT=/tmp/gpu bash tools/gpu_check.sh            # EPOCHS=2 and DATA_PROFILE=smoke by default
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
EPOCHS=${EPOCHS:-2}
DATA_PROFILE=${DATA_PROFILE:-smoke}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/steps.txt"; }

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c "import torch; print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0))" \
  > "$OUT/torch.txt" 2>&1

log "1. GPU-marked tests"
"$PY" -m pytest -m gpu -q -p no:cacheprovider > "$OUT/pytest-gpu.txt" 2>&1
log "   rc=$?"

DATA="$OUT/signworld-256"
log "2. SignWorld ($DATA_PROFILE) at 256 px"
.venv/bin/crkd synth --out "$DATA" --profile "$DATA_PROFILE" --size 256 --jobs 8 --force \
  > "$OUT/synth.txt" 2>&1
log "   rc=$?"

log "3. paper training step, fp32 against AMP (benchmarks/train_speed.py --device cuda)"
"$PY" benchmarks/train_speed.py --data "$DATA" --preset paper --sizes 112 --device cuda \
  --rounds 3 --steps 4 --json "$OUT/train-speed-paper-cuda.json" > "$OUT/train-speed.txt" 2>&1
log "   rc=$?"

# peak memory as nvidia-smi sees it, sampled every 200 ms while the runs train
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader -lms 200 \
  > "$OUT/memory-samples.csv" 2>/dev/null &
SMI=$!
train() {  # name, then the crkd command's arguments
  local name=$1; shift
  log "4. $name"
  local t0=$SECONDS
  CRKD_NO_PROGRESS=1 .venv/bin/crkd "$@" --device cuda --amp bf16 --epochs "$EPOCHS" \
    --allow-oov > "$OUT/$name.txt" 2>&1
  log "   rc=$? wall ${name} $((SECONDS - t0)) s"
}
train teacher-paper train-teacher --data "$DATA" --preset paper --out "$OUT/runs/teacher"
train lrinet-paper-crkd distill --data "$DATA" --preset paper --teacher "$OUT/runs/teacher" \
  --student-size 112 --kd both --out "$OUT/runs/lrinet"
kill $SMI 2>/dev/null

"$PY" - "$OUT" <<'EOF' > "$OUT/summary.json"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
summary = {}
for name in ("teacher", "lrinet"):
    m = out / "runs" / name / "metrics.json"
    if m.is_file():
        rec = json.loads(m.read_text())
        keys = ("wer", "best_dev_wer", "best_epoch", "epochs", "train_seconds", "train_fps",
                "peak_memory_mb", "params", "gmacs")
        summary[name] = {k: rec.get(k) for k in keys if k in rec}
samples = (out / "memory-samples.csv").read_text().splitlines() if (out / "memory-samples.csv").exists() else []
used = [int(s.split(",")[1].split()[0]) for s in samples if "," in s]
summary["nvidia_smi_peak_mib"] = max(used) if used else None
print(json.dumps(summary, indent=1))
EOF
log "summary: $OUT/summary.json"
cat "$OUT/summary.json"
