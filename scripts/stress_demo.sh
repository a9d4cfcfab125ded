#!/usr/bin/env bash
# The demo schedule, stress-tested -> results/demo-stress/ (README "The demo schedule, stress-tested").
# On the shipped teacher and the quick profile (250 gate + 60 finetune steps; 310 per cut rival),
# at TARGETS (default params50 then params70), each step a `conprune sweep` into RUNS/sweep/:
#   1. seed 0: conprune and the close rivals (magnitude_shapes, magnitude_global, gmp_uniform,
#      gmp_global; GRID_METHODS) at every learning rate of LRS, the far one (magnitude_uniform) at
#      the configs' rate; every run evaluated greedy and with the corpus's word 4-gram (`make lm`)
#      at the shipped teacher's dev-tuned LM weight and word score;
#   2. `conprune report` picks each method's learning rate on dev (report/lr_choice.py);
#   3. the equal-compute rows (sweep group `compute`) at their twins' chosen rates, then SEEDS (1,2)
#      for conprune and every rival within 3 points of it on dev, at their chosen rates;
#   4. the report into OUT and `conprune report --verify` of it.
# A rerun skips every finished step. Several hours on 2 CPU cores (JOBS=2); needs `make data lm`.
#   usage: bash scripts/stress_demo.sh   (RUNS=runs/demo OUT=results/demo-stress TARGETS=params50,params70)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
runs=${RUNS:-runs/demo}
out=${OUT:-results/demo-stress}
data=${DATA:-data/synth}
shipped=pretrained/demo-teacher-v1
lm=${LM:-$data/lm/words-4gram.bin}
grid=${GRID_METHODS:-conprune,magnitude_shapes,magnitude_global,gmp_uniform,gmp_global}
[ -f "$lm" ] || { echo "no LM at $lm: run \`make lm\` first" >&2; exit 1; }
lm_args=$("$py" -c 'import json, sys; d = json.load(open(sys.argv[1]))["lm"]["decoder"]; print(f"--lm-weight {d[\"lm_weight\"]} --word-score {d[\"word_score\"]} --beam {d[\"beam\"]}")' "$shipped/card.json")

sweep() {  # sweep ARGS...: one `conprune sweep` of the shipped teacher on the quick schedule, with the LM
  "$py" -m conprune sweep --teacher "$shipped/model.pt" --runs "$runs" --data "$data" --profile quick \
    --data-args "--data.tokenizer $shipped/tokenizer.model --data.cmvn $shipped/cmvn.json" \
    --lm "$lm" $lm_args --jobs "${JOBS:-2}" "$@"
}
report() {  # report DIR: the report of every run so far into DIR
  "$py" -m conprune report --runs "$runs" --data "$data" --bench "$out/bench.json" --out "$1" --no-wandb
}
# chosen TARGET: "method lr" per line (seed 0, lr '' for the configs'), for conprune and every rival
# within 3 points of it on dev (CLOSE), or for every equal-steps row (ALL)
chosen() {
  "$py" - "$1" "$2" "$runs/chosen/summary.json" <<'PY'
import json, sys
target, which, rows = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
rows = [r for r in rows if r["target"] == target and r.get("budget") == "steps"]
conprune = next(r for r in rows if r["method"] == "conprune")
for r in rows:
    if which == "ALL" or r["method"] == "conprune" or r["dev_wer"] - conprune["dev_wer"] <= 0.03:
        print(r["method"], r.get("lr", ""))
PY
}
for target in ${TARGETS:-params50 params70}; do
  sweep --targets "$target" --methods "$grid" --lrs "${LRS:-3e-4,6e-4,1e-3}"
  sweep --targets "$target" --methods magnitude_uniform
  report "$runs/chosen"
  while read -r method lr; do  # equal compute: the cut rivals' twins, at the twin's chosen rate
    case $method in magnitude_shapes|magnitude_global)
      sweep --targets "$target" --methods "${method}_compute" ${lr:+--lrs "$lr"} ;;
    esac
  done < <(chosen "$target" ALL)
  while read -r method lr; do
    sweep --targets "$target" --methods "$method" --seeds "${SEEDS:-1,2}" ${lr:+--lrs "$lr"}
  done < <(chosen "$target" CLOSE)
done
report "$out"
"$py" -m conprune report --verify --results "$out" --data "$data"
