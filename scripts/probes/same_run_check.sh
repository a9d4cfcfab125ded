#!/usr/bin/env bash
# Same seeds, same run? A short prune + compact + finetune + evaluate of the shipped teacher with the
# code and configs of CHECKOUT, into OUT. Run it on two checkouts (e.g. `git worktree add /tmp/before
# REV`) and compare OUT/{prune,finetune}/csv/version_0/metrics.csv byte for byte, the model files'
# tensors and OUT/finetune/results.json: a restructure that claims "behaviour unchanged" must match.
#   usage: scripts/probes/same_run_check.sh CHECKOUT OUT [CORPUS]   (CORPUS: default data/synth here)
set -euo pipefail
code=$(cd "$1" && pwd); out=$2; data=$(cd "${3:-data/synth}" && pwd)
py=${PYTHON:-$(pwd)/.venv/bin/python}
teacher=$code/pretrained/demo-teacher-v1
common=(--model.init_args.teacher_ckpt "$teacher/model.pt" --data.tokenizer "$teacher/tokenizer.model"
        --data.cmvn "$teacher/cmvn.json" --data.root "$data" --data.num_pieces 64 --seed_everything 0
        --trainer.limit_val_batches 3)
rm -rf "$out" && mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$code"
export PYTHONPATH=$code WANDB_MODE=disabled
"$py" -m conprune fit --config experiments/prune.yaml --config experiments/quick/prune.yaml "${common[@]}" \
  --run_dir "$out/prune" --trainer.max_steps 24 --trainer.val_check_interval 12 > "$out/prune.log" 2>&1
"$py" -m conprune compact --ckpt "$out/prune/checkpoints/best.ckpt" --out "$out/prune/model.pt" > "$out/compact.log" 2>&1
"$py" -m conprune fit --config experiments/finetune.yaml --config experiments/quick/finetune.yaml "${common[@]}" \
  --model.init_args.student_model "$out/prune/model.pt" --run_dir "$out/finetune" --trainer.max_steps 12 \
  --trainer.val_check_interval 6 > "$out/finetune.log" 2>&1
"$py" -m conprune compact --ckpt "$out/finetune/checkpoints/last.ckpt" --out "$out/finetune/model.pt" >> "$out/compact.log" 2>&1
"$py" -m conprune evaluate --model "$out/finetune/model.pt" --data-root "$data" --splits dev-clean \
  --out "$out/finetune/results.json" --repeats 1 > "$out/evaluate.log" 2>&1
sha256sum "$out"/prune/csv/version_0/metrics.csv "$out"/finetune/csv/version_0/metrics.csv
