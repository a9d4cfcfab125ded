# conprune — one target per stage. `make help` lists them.
# Variables: DATA (corpus root), HOURS (embedded corpus size), SEED, PIECES (tokenizer size),
# ARGS (extra fit args), RUNS (stage output root), PROFILE (full|quick step schedule).
# Outputs go to runs/<stage>/ (the paths in experiments/*.yaml). Finished stages are skipped.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CONPRUNE := $(VENV)/bin/conprune
STAMP := $(VENV)/.installed
DATA ?= data/synth
HOURS ?= 6
SEED ?= 0
ARGS ?=
PIECES ?= 64

.DEFAULT_GOAL := help
# Keep every stage output (model files, DONE stamps) even when made through pattern rules.
.SECONDARY:
.PHONY: help install system-deps data tokenizer teacher prune prune-macs compact evaluate finetune baselines bench demo \
	dense-baselines report sweep sweep-runs demo-baselines test test-all \
	lint clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and pip install -e '.[dev]'

system-deps: ## install the Debian TTS voices and texts used by the embedded corpus (when missing)
	bash scripts/install_system_deps.sh

MANIFEST := $(DATA)/manifests/train-clean-100.jsonl
TOKENIZER := $(DATA)/tokenizer/unigram$(PIECES).model

$(DATA)/SYNTHETIC.md: | $(STAMP)
	$(MAKE) system-deps
	$(CONPRUNE) data synth --root $(DATA) --hours $(HOURS) --seed $(SEED)

$(MANIFEST): $(DATA)/SYNTHETIC.md
	$(CONPRUNE) data prepare --root $(DATA) --splits train-clean-100,dev-clean,dev-other,test-clean,test-other

data: $(MANIFEST) ## synthesise the embedded corpus (HOURS=6) and write manifests

$(TOKENIZER): $(MANIFEST)
	$(CONPRUNE) tokenizer --root $(DATA) --splits train-clean-100 --vocab-size $(PIECES)

tokenizer: $(TOKENIZER) ## train the SentencePiece unigram tokenizer (PIECES=64)

# Where stage outputs go, and the step schedule. PROFILE=full: the schedules in experiments/*.yaml
# (teacher 1800 steps, prune 700, finetune 300, baselines 1000). PROFILE=quick: `make demo`'s
# 30-minute schedule (teacher 1200, prune 250, finetune 60, baselines 310 = prune + finetune).
RUNS ?= runs
PROFILE ?= full
RESULTS ?= results/full
TEACHER := $(RUNS)/teacher/checkpoints/best.ckpt
ifeq ($(PROFILE),quick)
TEACHER_STEPS := --trainer.max_steps 1200 --trainer.val_check_interval 400 --model.init_args.warmup_steps 100
PRUNE_STEPS := --trainer.max_steps 250 --trainer.val_check_interval 125
FINETUNE_STEPS := --trainer.max_steps 60 --trainer.val_check_interval 30
BASELINE_STEPS := --trainer.max_steps 310 --trainer.val_check_interval 155
else ifneq ($(PROFILE),full)
$(error PROFILE must be full or quick, not '$(PROFILE)')
endif
# README sections are regenerated from the full schedule's runs only.
README_RUN = $(if $(filter full,$(PROFILE)),$(if $(filter runs,$(RUNS)),yes))

# $(call fit_stage,RUN_DIR,FIT_ARGS): fit into RUN_DIR, resuming from its last.ckpt when present;
# a finished run leaves RUN_DIR/DONE (with the wall time) and is skipped.
fit_stage = start=$$(date +%s) && $(CONPRUNE) fit $(2) --run_dir $(1) --data.root $(DATA) \
	--data.num_pieces $(PIECES) $(ARGS) $(if $(wildcard $(1)/checkpoints/last.ckpt),--ckpt_path $(1)/checkpoints/last.ckpt) && \
	echo "fit wall time: $$(( $$(date +%s) - start )) s" > $(1)/DONE
FROM_TEACHER = --model.init_args.teacher_ckpt $(TEACHER)

$(RUNS)/teacher/DONE: $(TOKENIZER)
	$(call fit_stage,$(RUNS)/teacher,--config experiments/teacher.yaml $(TEACHER_STEPS))

teacher: $(RUNS)/teacher/DONE $(RUNS)/teacher/test/wer_by_voice.md ## train the demo teacher, then test it

$(RUNS)/teacher/test/wer_by_voice.md: $(RUNS)/teacher/DONE
	$(CONPRUNE) test --config experiments/teacher.yaml --data.root $(DATA) --data.num_pieces $(PIECES) --ckpt_path $(TEACHER) \
		--trainer.logger=false --trainer.callbacks=[] --trainer.default_root_dir $(RUNS)/teacher/test
	$(PY) -m conprune.eval.voices --data $(DATA) --predictions $(RUNS)/teacher/test --out $@
	$(if $(README_RUN),$(PY) -m conprune.eval.readme teacher --run $(RUNS)/teacher)

$(RUNS)/prune/DONE: $(RUNS)/teacher/DONE
	$(call fit_stage,$(RUNS)/prune,--config experiments/prune.yaml $(FROM_TEACHER) $(PRUNE_STEPS))

$(RUNS)/prune-macs/DONE: $(RUNS)/teacher/DONE
	$(call fit_stage,$(RUNS)/prune-macs,--config experiments/prune.yaml --config experiments/prune_macs.yaml \
		$(FROM_TEACHER) $(PRUNE_STEPS))

prune: $(RUNS)/prune/DONE ## learn the gates on the demo teacher: -50 % parameters
	$(PY) -m conprune.eval.prune_summary --run $(RUNS)/prune --teacher $(RUNS)/teacher
	$(if $(README_RUN),$(PY) -m conprune.eval.readme prune --run $(RUNS)/prune)

prune-macs: $(RUNS)/prune-macs/DONE ## the same with a -50 % MACs target
	$(PY) -m conprune.eval.prune_summary --run $(RUNS)/prune-macs --teacher $(RUNS)/teacher

$(RUNS)/%/model.pt: $(RUNS)/%/DONE
	$(CONPRUNE) compact --ckpt $(RUNS)/$*/checkpoints/best.ckpt --out $@

compact: $(RUNS)/prune/model.pt $(RUNS)/prune-macs/model.pt ## cut the pruned students into standalone model files

$(RUNS)/%/results.json: $(RUNS)/%/model.pt
	$(CONPRUNE) evaluate --model $< --data-root $(DATA) --out $@

$(RUNS)/teacher/results.json: $(RUNS)/teacher/DONE
	$(CONPRUNE) evaluate --ckpt $(TEACHER) --data-root $(DATA) --out $@

evaluate: $(RUNS)/teacher/results.json $(RUNS)/prune/results.json $(RUNS)/prune-macs/results.json \
	$(RUNS)/finetune/results.json ## WER, params, MACs, latency of each compact model

# $(call finetune_from,STUDENT_MODEL,OVERLAY): the finetune stage on a compact model file.
finetune_from = --config experiments/finetune.yaml $(2) $(FROM_TEACHER) --model.init_args.student_model $(1)

$(RUNS)/finetune/DONE: $(RUNS)/prune/model.pt
	$(call fit_stage,$(RUNS)/finetune,$(call finetune_from,$<) $(FINETUNE_STEPS))

finetune: $(RUNS)/finetune/model.pt ## train the compact -50 % params student further (distillation)

# Baselines cut the teacher to the conprune student's per-layer shapes (dense: same size, uniform).
$(RUNS)/baseline-%/model.pt: $(RUNS)/prune/model.pt
	$(CONPRUNE) baseline --method $* --teacher $(TEACHER) --shapes-from $< --out $@

$(RUNS)/finetune-%/DONE: $(RUNS)/baseline-%/model.pt
	$(call fit_stage,$(RUNS)/finetune-$*,$(call finetune_from,$<,--config experiments/finetune_$*.yaml) $(BASELINE_STEPS))

$(RUNS)/finetune-dense-kd/DONE: $(RUNS)/baseline-dense/model.pt
	$(call fit_stage,$(RUNS)/finetune-dense-kd,$(call finetune_from,$<,--config experiments/finetune_dense-kd.yaml) \
		$(BASELINE_STEPS))

# $(call scratch_from,DENSE_MODEL): the teacher recipe on a dense student of the pruned size.
scratch_from = --config experiments/teacher.yaml --config experiments/dense_scratch.yaml \
	--model.init_args.init_model $(1) $(BASELINE_STEPS)

$(RUNS)/dense-scratch/DONE: $(RUNS)/baseline-dense/model.pt
	$(call fit_stage,$(RUNS)/dense-scratch,$(call scratch_from,$<))

comparison_outputs = $(if $(README_RUN),$(PY) -m conprune.eval.readme comparison)

dense-baselines: $(RUNS)/dense-scratch/results.json $(RUNS)/finetune-dense-kd/results.json ## dense student of equal size: from scratch / distillation only
	$(comparison_outputs)

baselines: $(RUNS)/teacher/results.json $(RUNS)/finetune-magnitude/results.json $(RUNS)/finetune-random/results.json ## magnitude / random pruning to the student's shapes + the same finetune
	$(comparison_outputs)

BENCH_JSON = $(if $(README_RUN),bench/results.json,$(RESULTS)/bench.json)
run_bench = $(CONPRUNE) bench --teacher $(TEACHER) --params50 $(RUNS)/prune/model.pt \
	--macs50 $(RUNS)/prune-macs/model.pt --data-root $(DATA) --out $(BENCH_JSON) $(if $(README_RUN),--readme README.md)

bench: $(RUNS)/prune/model.pt $(RUNS)/prune-macs/model.pt ## side-by-side speed ratios -> bench/results.json and the README table
	$(run_bench)

# The demo's bench: only the -50 % params student exists there (its -50 % MACs rows are left out).
$(RESULTS)/bench.json: $(RUNS)/prune/model.pt
	$(run_bench)

report: ## the table, plots and summary.json of the runs under RUNS -> RESULTS
	$(PY) -m conprune.eval.demo_summary --data $(DATA) --runs $(RUNS) --bench $(BENCH_JSON) --out $(RESULTS)/summary.json
	$(CONPRUNE) report --runs $(RUNS) --data $(DATA) --bench $(BENCH_JSON) --out $(RESULTS) \
		$(if $(README_RUN),--readme README.md)

# Sweep: conprune and every baseline at each target, all from the same teacher, under RUNS/sweep/.
SWEEP_TARGETS ?= params30 params50 params70 macs50
SW := $(RUNS)/sweep
target_args = --model.init_args.target_metric $(if $(findstring macs,$(1)),macs,params) \
	--model.init_args.target 0.$(patsubst params%,%,$(patsubst macs%,%,$(1)))

# $(call sweep_rules,TARGET): explicit rules per target (make refuses to chain one pattern rule twice).
define sweep_rules
$(SW)/prune-$(1)/DONE: $(RUNS)/teacher/DONE
	$$(call fit_stage,$(SW)/prune-$(1),--config experiments/prune.yaml $$(FROM_TEACHER) $(call target_args,$(1)) $$(PRUNE_STEPS))

$(SW)/conprune-$(1)/DONE: $(SW)/prune-$(1)/model.pt
	$$(call fit_stage,$(SW)/conprune-$(1),$$(call finetune_from,$$<) $$(FINETUNE_STEPS))

$(SW)/baseline-%-$(1)/model.pt: $(SW)/prune-$(1)/model.pt
	$$(CONPRUNE) baseline --method $$* --teacher $$(TEACHER) --shapes-from $$< --out $$@

$(SW)/magnitude-$(1)/DONE: $(SW)/baseline-magnitude-$(1)/model.pt
	$$(call fit_stage,$(SW)/magnitude-$(1),$$(call finetune_from,$$<,--config experiments/finetune_magnitude.yaml) $$(BASELINE_STEPS))

$(SW)/random-$(1)/DONE: $(SW)/baseline-random-$(1)/model.pt
	$$(call fit_stage,$(SW)/random-$(1),$$(call finetune_from,$$<,--config experiments/finetune_random.yaml) $$(BASELINE_STEPS))

$(SW)/dense_kd-$(1)/DONE: $(SW)/baseline-dense-$(1)/model.pt
	$$(call fit_stage,$(SW)/dense_kd-$(1),$$(call finetune_from,$$<,--config experiments/finetune_dense-kd.yaml) $$(BASELINE_STEPS))

$(SW)/dense_scratch-$(1)/DONE: $(SW)/baseline-dense-$(1)/model.pt
	$$(call fit_stage,$(SW)/dense_scratch-$(1),$$(call scratch_from,$$<))
endef
$(foreach t,$(SWEEP_TARGETS),$(eval $(call sweep_rules,$(t))))

SWEEP_METHODS ?= conprune magnitude random dense_scratch dense_kd
SWEEP_RESULTS = $(foreach t,$(SWEEP_TARGETS),$(foreach m,$(SWEEP_METHODS),$(SW)/$(m)-$(t)/results.json))
sweep-runs: $(SWEEP_RESULTS)

sweep: $(RUNS)/teacher/results.json sweep-runs ## every method at 30/50/70 % params and 50 % MACs -> RUNS/sweep/*/results.json + report
	$(MAKE) --no-print-directory report

# The 30-minute demo: every stage on the quick schedule under runs/demo, then the report.
DEMO_MAKE = $(MAKE) --no-print-directory RUNS=runs/demo PROFILE=quick RESULTS=results/demo
demo: ## install, corpus, tokenizer, teacher, prune 50 %, finetune, evaluate, bench, report (<= 30 min)
	@start=$$(date +%s) && \
	$(DEMO_MAKE) runs/demo/teacher/results.json runs/demo/finetune/results.json results/demo/bench.json && \
	$(DEMO_MAKE) report && \
	echo "demo finished in $$(( $$(date +%s) - start )) s; plots and table in results/demo/"

demo-baselines: ## the demo's magnitude / random / dense baselines (quick schedule, ~40 min more)
	$(DEMO_MAKE) runs/demo/finetune-magnitude/results.json runs/demo/finetune-random/results.json \
		runs/demo/dense-scratch/results.json runs/demo/finetune-dense-kd/results.json
	$(DEMO_MAKE) report

test: $(STAMP) ## run the fast test suite (what CI runs)
	$(VENV)/bin/pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-all: $(STAMP) ## run every test, the slow ones too
	$(VENV)/bin/pytest -q -m ""; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check conprune tests

clean: ## remove runs (keeps the venv and the corpus)
	rm -rf runs
