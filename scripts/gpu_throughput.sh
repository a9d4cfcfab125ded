#!/usr/bin/env bash
# Issue 7 GPU check: a bf16-mixed teacher fit (demo recipe, experiments/teacher.yaml) on 1 GPU, eager
# and with torch.compile of the encoder blocks; steps/s, audio s/s and peak memory from the
# Throughput callback (steady state after 30 steps). Needs, carried beside the working tree, the
# .whl/ wheels and .devdata/synth corpus described in scripts/gpu_sweep.sh.
# Usage: bash scripts/gpu_throughput.sh [STEPS]   (JSON summaries and logs under $OUT)
set -uo pipefail
STEPS=${1:-300}
OUT=${OUT:-/tmp}
python -m pip install -q --no-deps --no-index .whl/*.whl 2>/dev/null \
  || python -m pip install -q --no-deps --no-index --break-system-packages .whl/*.whl
export PYTHONPATH=$PWD WANDB_MODE=disabled OMP_NUM_THREADS=2
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
fit() {  # NAME SECONDS EXTRA_ARGS...
  local name=$1 seconds=$2; shift 2
  timeout "$seconds" python -m conprune fit --config experiments/teacher.yaml --data.root .devdata/synth \
    --data.num_pieces 64 --data.num_workers 6 --data.cache_features false \
    --trainer.accelerator gpu --trainer.devices 1 --trainer.precision bf16-mixed --trainer.max_steps "$STEPS" \
    --trainer.limit_val_batches 0 --trainer.enable_checkpointing false --trainer.logger false \
    --trainer.enable_progress_bar false --trainer.log_every_n_steps 50 --trainer.default_root_dir "/tmp/$name" \
    --trainer.callbacks "[{class_path: conprune.lit.callbacks.Throughput, init_args: {warmup_steps: 30, summary_path: $OUT/$name.json}}]" \
    "$@" > "$OUT/$name.log" 2>&1
  echo "$name: exit $?"; cat "$OUT/$name.json" 2>/dev/null; echo; grep -iE "error|Traceback" "$OUT/$name.log" | head -5
}
fit eager 200
fit compiled 300 --model.init_args.compile true
