#!/usr/bin/env bash
# The Hugging Face round trip on weights trained here, end to end -> bench/hf_roundtrip_cpu.json:
#   1. train a small Parakeet-architecture teacher on the embedded corpus (quick schedule,
#      experiments/hf/parakeet-teacher.yaml: parakeet front end, conprune's 64-piece SentencePiece);
#   2. compact its best checkpoint and `conprune export --format hf` it;
#   3. WER of the test splits with `conprune evaluate` and with transformers' own ParakeetForCTC +
#      AutoProcessor on the exported directory (scripts/hf_transcribe.py): they must agree;
#   4. `conprune import hf` the directory back, prune it to -50 % params (quick prune, compact,
#      quick finetune unless FINETUNE=0, compact) and evaluate the student.
# Every step is skipped when its output exists, so a rerun finishes what is missing (a killed fit
# resumes from its last.ckpt, `conprune stage`); delete OUT to start over. Outputs under OUT.
#   usage: bash scripts/hf_roundtrip.sh    (DATA=data/synth OUT=runs/hf-roundtrip FINETUNE=1
#                                           BENCH=bench/hf_roundtrip_cpu.json)
# About 45 min on 2 CPU cores (teacher ~25 min); needs the corpus (`make data`) and the hf extra.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
data=${DATA:-data/synth}
out=${OUT:-runs/hf-roundtrip}
bench=${BENCH:-bench/hf_roundtrip_cpu.json}
splits=test-clean,test-other
[ -f "$data/manifests/train-clean-100.jsonl" ] || { echo "no corpus under $data: run \`make data\` first" >&2; exit 1; }
mkdir -p "$out"
: > "$out/commands.txt"

conprune() { "$py" -m conprune "$@"; }

# note CMD... [-- FILE]: CMD, shell-quoted, as one line of OUT/commands.txt (a tab, then FILE: `> FILE`).
note() {
  local words=() file=
  while [ $# -gt 0 ]; do [ "$1" = -- ] && { file=$2; break; }; words+=("$1"); shift; done
  { printf '%q ' "${words[@]}"; printf '\t%s\n' "$file"; } >> "$out/commands.txt"
}

# step DONE CMD...: note CMD and run it unless DONE exists.
step() {
  local done=$1
  shift
  note "$@"
  if [ -e "$done" ]; then echo "done already: $done" >&2; return; fi
  "$@"
}

# json_step FILE CMD...: the same for a CMD that prints a JSON summary, kept as FILE.
json_step() {
  local file=$1
  shift
  note "$@" -- "$file"
  if [ -e "$file" ]; then echo "done already: $file" >&2; return; fi
  "$@" > "$file.tmp" && mv "$file.tmp" "$file" && cat "$file"
}

evaluate() {  # evaluate MODEL DIR: conprune's WER of MODEL on the test splits into DIR
  step "$2/results.json" conprune evaluate --model "$1" --data-root "$data" --splits "$splits" --repeats 3 \
    --out "$2/results.json" --predictions "$2/predictions"
}

stage() {  # stage RUN CONFIGS... [--fit-args ARGS]: `conprune stage` on the quick schedule
  local run=$1
  shift
  step "$run/DONE" conprune stage "$run" "$@" --profile quick --data "$data" --pieces 64
}

step "$data/tokenizer/unigram64.model" conprune tokenizer --root "$data" --splits train-clean-100 --vocab-size 64
stage "$out/teacher" teacher.yaml '{profile}/teacher.yaml' hf/parakeet-teacher.yaml
step "$out/teacher/model.pt" conprune compact --ckpt "$out/teacher/checkpoints/best.ckpt" --out "$out/teacher/model.pt"
[ -f "$out/export.json" ] || rm -rf "$out/exported"  # a killed export leaves no directory; be sure
json_step "$out/export.json" conprune export "$out/teacher/model.pt" --format hf --out "$out/exported"
evaluate "$out/teacher/model.pt" "$out/teacher"
step "$out/transformers/results.json" "$py" scripts/hf_transcribe.py transcribe "$out/exported" \
  --data-root "$data" --splits "$splits" --out "$out/transformers/results.json" \
  --predictions "$out/transformers/predictions"

mkdir -p "$out/imported"
json_step "$out/imported/import.json" conprune import hf "$out/exported" --out "$out/imported/teacher.pt"
evaluate "$out/imported/teacher.pt" "$out/imported"
fit_args=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["fit_args"])' "$out/imported/import.json")
stage "$out/prune" prune.yaml '{profile}/prune.yaml' --fit-args "$fit_args"
step "$out/prune/model.pt" conprune compact --ckpt "$out/prune/checkpoints/best.ckpt" --out "$out/prune/model.pt"
student=$out/prune/model.pt
if [ "${FINETUNE:-1}" = 1 ]; then
  stage "$out/finetune" finetune.yaml '{profile}/finetune.yaml' \
    --fit-args "$fit_args --model.init_args.student_model $out/prune/model.pt"
  step "$out/finetune/model.pt" conprune compact --ckpt "$out/finetune/checkpoints/best.ckpt" \
    --out "$out/finetune/model.pt"
  student=$out/finetune/model.pt
fi
evaluate "$student" "$(dirname "$student")"
"$py" scripts/hf_transcribe.py record "$out" --student "$(dirname "$student")" --splits "$splits" --out "$bench"
