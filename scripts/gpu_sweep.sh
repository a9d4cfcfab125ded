#!/usr/bin/env bash
# `make sweep-runs` on a lent GPU machine that has torch, torchaudio, Lightning, torchmetrics and
# sentencepiece but not our other dependencies, and no network. It expects, carried beside the
# working tree:
#   .whl/            wheels of soundfile, cffi, pycparser, jsonargparse, typeshed-client, docstring-parser
#   .devdata/synth/  the corpus (audio, manifests with paths relative to the repo root, tokenizer)
#   .devdata/teacher.ckpt  the teacher (scripts/slim_ckpt.py: weights only, fp16)
# Usage: bash scripts/gpu_sweep.sh RUNS PROFILE JOBS SECONDS   (results are copied under $OUT)
set -uo pipefail
RUNS=${1:-runs/demo}; PROFILE=${2:-quick}; JOBS=${3:-10}; SECONDS_LEFT=${4:-500}
DATA=.devdata/synth
python -m pip install -q --no-deps --no-index .whl/*.whl 2>/dev/null || python -m pip install -q --no-deps --no-index --break-system-packages .whl/*.whl
export PYTHONPATH=$PWD WANDB_MODE=disabled OMP_NUM_THREADS=2
mkdir -p "$RUNS/teacher/checkpoints"
cp .devdata/teacher.ckpt "$RUNS/teacher/checkpoints/best.ckpt"
# Stage stamps in dependency order, so make sees the corpus, tokenizer and teacher as up to date.
touch /tmp/conprune-stamp "$DATA/SYNTHETIC.md"; sleep 1
touch "$DATA"/manifests/*; sleep 1
touch "$DATA"/tokenizer/*; sleep 1
echo "carried teacher" > "$RUNS/teacher/DONE"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
start=$(date +%s)
timeout "$SECONDS_LEFT" make -k -j"$JOBS" RUNS="$RUNS" PROFILE="$PROFILE" DATA="$DATA" STAMP=/tmp/conprune-stamp \
    PY=python CONPRUNE="python -m conprune" sweep-runs > "${OUT:-/tmp}/make.log" 2>&1
echo "make exit $? after $(( $(date +%s) - start )) s"
# One archive: the result fetcher returns a limited number of files.
tar czf "${OUT:-/tmp}/sweep.tgz" "$RUNS"/sweep/*/results.json "$RUNS"/sweep/*/DONE "$RUNS"/sweep/*/csv 2>/dev/null
ls "$RUNS"/sweep/*/results.json 2>/dev/null | wc -l
grep -iE "error|Traceback" "${OUT:-/tmp}/make.log" | head -20
