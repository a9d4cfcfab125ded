# conprune: one target per stage (`make help`). A stage fits experiments/<stage>.yaml (+ quick/<stage>.yaml
# for PROFILE=quick) into RUNS/<stage>/; finished stages (DONE) are skipped, killed ones resume.
# Variables: DATA HOURS SEED PIECES (corpus, tokenizer), RUNS PROFILE RESULTS ARGS (extra fit args).
SHELL := /bin/bash
VENV ?= .venv
CONPRUNE := $(VENV)/bin/conprune
STAMP := $(VENV)/.installed
DATA ?= data/synth
HOURS ?= 6
SEED ?= 0
PIECES ?= 64
RUNS ?= runs
PROFILE ?= full
RESULTS ?= results/full
ifeq ($(filter $(PROFILE),full quick),)
$(error PROFILE must be full or quick, not '$(PROFILE)')
endif
.DEFAULT_GOAL := help
.SECONDARY:
.PHONY: help install system-deps data tokenizer teacher prune prune-macs compact evaluate finetune baselines \
	dense-baselines bench report readme sweep sweep-runs demo demo-baselines test test-all lint
help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
$(STAMP): pyproject.toml
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[dev]' && touch $@
install: $(STAMP) ## create .venv and pip install -e '.[dev]'
system-deps: ## install the Debian TTS voices and texts of the embedded corpus (when missing)
	bash scripts/install_system_deps.sh
CORPUS := $(DATA)/manifests/train-clean-100.jsonl
$(DATA)/SYNTHETIC.md: | $(STAMP)
	bash scripts/install_system_deps.sh && $(CONPRUNE) data synth --root $(DATA) --hours $(HOURS) --seed $(SEED)
$(CORPUS): $(DATA)/SYNTHETIC.md
	$(CONPRUNE) data prepare --root $(DATA) --splits train-clean-100,dev-clean,dev-other,test-clean,test-other
data: $(CORPUS) ## synthesise the embedded corpus (HOURS=6) and write manifests
TOKENIZER := $(DATA)/tokenizer/unigram$(PIECES).model
$(TOKENIZER): $(CORPUS)
	$(CONPRUNE) tokenizer --root $(DATA) --splits train-clean-100 --vocab-size $(PIECES)
tokenizer: $(TOKENIZER) ## train the SentencePiece unigram tokenizer (PIECES=64)

# $(call stage,CONFIG,SCHEDULE): a stage's config, then the quick overlay SCHEDULE when PROFILE=quick.
overlay = $(if $(filter quick,$(PROFILE)),--config experiments/quick/$(1).yaml)
stage = --config experiments/$(1).yaml $(call overlay,$(2))
# $(call fit,RUN_DIR,FIT_ARGS): fit into RUN_DIR (resuming from its last.ckpt), then write RUN_DIR/DONE.
fit = start=$$(date +%s) && $(CONPRUNE) fit $(2) --run_dir $(1) --data.root $(DATA) --data.num_pieces $(PIECES) \
	$(ARGS) $(if $(wildcard $(1)/checkpoints/last.ckpt),--ckpt_path $(1)/checkpoints/last.ckpt) && \
	echo "fit wall time: $$(( $$(date +%s) - start )) s" > $(1)/DONE
TEACHER_FILE := $(RUNS)/teacher/checkpoints/best.ckpt
TEACHER_DEP := $(RUNS)/teacher/DONE
FROM_TEACHER = --model.init_args.teacher_ckpt $(TEACHER_FILE)
# $(call finetune_from,STUDENT_MODEL,OVERLAY,SCHEDULE): the finetune stage on a compact model file.
finetune_from = --config experiments/finetune.yaml $(2) $(call overlay,$(3)) $(FROM_TEACHER) --model.init_args.student_model $(1)
# $(call scratch_from,DENSE_MODEL): the teacher recipe on a dense student of the pruned size.
scratch_from = --config experiments/teacher.yaml --config experiments/dense_scratch.yaml $(call overlay,baseline) \
	--model.init_args.init_model $(1)
$(RUNS)/teacher/DONE: $(TOKENIZER)
	$(call fit,$(RUNS)/teacher,$(call stage,teacher,teacher))
$(RUNS)/teacher/test/wer_by_voice.md: $(RUNS)/teacher/DONE
	$(CONPRUNE) test $(call stage,teacher,teacher) --data.root $(DATA) --data.num_pieces $(PIECES) --trainer.logger=false \
		--ckpt_path $(RUNS)/teacher/checkpoints/best.ckpt --trainer.callbacks=[] --trainer.default_root_dir $(RUNS)/teacher/test
	$(CONPRUNE) voices --data $(DATA) --predictions $(RUNS)/teacher/test --out $@
teacher: $(RUNS)/teacher/test/wer_by_voice.md ## train the demo teacher, then test it (WER per voice)
$(RUNS)/prune/DONE: $(TEACHER_DEP)
	$(call fit,$(RUNS)/prune,$(call stage,prune,prune) $(FROM_TEACHER))
$(RUNS)/prune-macs/DONE: $(TEACHER_DEP)
	$(call fit,$(RUNS)/prune-macs,$(call stage,prune,prune) --config experiments/prune_macs.yaml $(FROM_TEACHER))
$(RUNS)/prune/summary.json $(RUNS)/prune-macs/summary.json: $(RUNS)/%/summary.json: $(RUNS)/%/DONE
	$(CONPRUNE) prune-summary --run $(RUNS)/$* --teacher $(RUNS)/teacher
prune: $(RUNS)/prune/summary.json ## learn the gates on the teacher: -50 % parameters
prune-macs: $(RUNS)/prune-macs/summary.json ## the same with a -50 % MACs target
$(RUNS)/%/model.pt: $(RUNS)/%/DONE
	$(CONPRUNE) compact --ckpt $(RUNS)/$*/checkpoints/best.ckpt --out $@
$(RUNS)/%/results.json: $(RUNS)/%/model.pt
	$(CONPRUNE) evaluate --model $< --data-root $(DATA) --out $@ --predictions $(@D)/predictions
$(RUNS)/teacher/results.json: $(TEACHER_DEP)
	$(CONPRUNE) evaluate --ckpt $(TEACHER_FILE) --data-root $(DATA) --out $@ --predictions $(@D)/predictions
compact: $(RUNS)/prune/model.pt $(RUNS)/prune-macs/model.pt ## cut the pruned students into standalone model files
evaluate: $(RUNS)/teacher/results.json $(RUNS)/prune/results.json $(RUNS)/prune-macs/results.json \
	$(RUNS)/finetune/results.json ## WER, params, MACs, latency of each compact model
$(RUNS)/finetune/DONE: $(RUNS)/prune/model.pt
	$(call fit,$(RUNS)/finetune,$(call finetune_from,$<,,finetune))
finetune: $(RUNS)/finetune/model.pt ## train the compact -50 % params student further (distillation)
$(RUNS)/baseline-%/model.pt: $(RUNS)/prune/model.pt
	$(CONPRUNE) baseline --method $(if $(filter dense,$*),dense,$*_shapes) --teacher $(TEACHER_FILE) --shapes-from $< --out $@
$(RUNS)/finetune-%/DONE: $(RUNS)/baseline-%/model.pt
	$(call fit,$(RUNS)/finetune-$*,$(call finetune_from,$<,--config experiments/finetune_$*.yaml,baseline))
$(RUNS)/finetune-dense-kd/DONE: $(RUNS)/baseline-dense/model.pt
	$(call fit,$(RUNS)/finetune-dense-kd,$(call finetune_from,$<,--config experiments/finetune_dense-kd.yaml,baseline))
$(RUNS)/dense-scratch/DONE: $(RUNS)/baseline-dense/model.pt
	$(call fit,$(RUNS)/dense-scratch,$(call scratch_from,$<))
baselines: $(RUNS)/teacher/results.json $(RUNS)/finetune-magnitude/results.json \
	$(RUNS)/finetune-random/results.json ## magnitude / random pruning to the student's shapes + the same finetune
dense-baselines: $(RUNS)/dense-scratch/results.json $(RUNS)/finetune-dense-kd/results.json ## dense student of equal size: from scratch / distillation only

BENCH_JSON = $(if $(filter runs,$(RUNS)),bench/results.json,$(RESULTS)/bench.json)
run_bench = $(CONPRUNE) bench --teacher $(TEACHER_FILE) --params50 $(RUNS)/prune/model.pt \
	--macs50 $(RUNS)/prune-macs/model.pt --data-root $(DATA) --out $(BENCH_JSON)
bench: $(RUNS)/prune/model.pt $(if $(filter full,$(PROFILE)),$(RUNS)/prune-macs/model.pt) ## side-by-side speed ratios -> bench/results.json
	$(run_bench)
$(RESULTS)/bench.json: $(RUNS)/prune/model.pt
	$(run_bench)
report: ## summary.json, table and plots of the runs under RUNS -> RESULTS
	$(CONPRUNE) report --runs $(RUNS) --data $(DATA) --bench $(BENCH_JSON) --out $(RESULTS)
readme: ## regenerate the result sections of README.md and docs/ from runs/, results/, bench/
	$(CONPRUNE) readme --runs runs --results results/full --bench bench/results.json

# Sweep: every method x target under RUNS/sweep/ (explicit rules per target: make chains a pattern rule once).
SWEEP_TARGETS ?= params30 params50 params70 macs50
SWEEP_METHODS ?= conprune magnitude random dense_scratch dense_kd
SW := $(RUNS)/sweep
target_args = --model.init_args.target.metric $(if $(findstring macs,$(1)),macs,params) \
	--model.init_args.target.sparsity 0.$(patsubst params%,%,$(patsubst macs%,%,$(1)))
define sweep_rules
$(SW)/prune-$(1)/DONE: $(TEACHER_DEP)
	$$(call fit,$(SW)/prune-$(1),$$(call stage,prune,prune) $$(FROM_TEACHER) $(call target_args,$(1)))
$(SW)/conprune-$(1)/DONE: $(SW)/prune-$(1)/model.pt
	$$(call fit,$(SW)/conprune-$(1),$$(call finetune_from,$$<,,finetune))
$(SW)/baseline-%-$(1)/model.pt: $(SW)/prune-$(1)/model.pt
	$$(CONPRUNE) baseline --method $$(if $$(filter dense,$$*),dense,$$*_shapes) --teacher $$(TEACHER_FILE) --shapes-from $$< --out $$@
$(SW)/magnitude-$(1)/DONE $(SW)/random-$(1)/DONE: $(SW)/%-$(1)/DONE: $(SW)/baseline-%-$(1)/model.pt
	$$(call fit,$(SW)/$$*-$(1),$$(call finetune_from,$$<,--config experiments/finetune_$$*.yaml,baseline))
$(SW)/dense_kd-$(1)/DONE: $(SW)/baseline-dense-$(1)/model.pt
	$$(call fit,$(SW)/dense_kd-$(1),$$(call finetune_from,$$<,--config experiments/finetune_dense-kd.yaml,baseline))
$(SW)/dense_scratch-$(1)/DONE: $(SW)/baseline-dense-$(1)/model.pt
	$$(call fit,$(SW)/dense_scratch-$(1),$$(call scratch_from,$$<))
endef
$(foreach t,$(SWEEP_TARGETS),$(eval $(call sweep_rules,$(t))))
sweep-runs: $(foreach t,$(SWEEP_TARGETS),$(foreach m,$(SWEEP_METHODS),$(SW)/$(m)-$(t)/results.json))
sweep: $(RUNS)/teacher/results.json sweep-runs ## every method at 30/50/70 % params and 50 % MACs, then the report
	$(MAKE) --no-print-directory report

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

PYTEST = $(VENV)/bin/pytest -q $(1); rc=$$?; [ $$rc -ne 5 ] || { echo "pytest collected no tests" >&2; exit 1; }; exit $$rc
test: $(STAMP) ## layering contracts (lint-imports) + the fast test suite (what CI runs)
	$(VENV)/bin/lint-imports
	$(call PYTEST,)
test-all: $(STAMP) ## every test, the slow ones too
	$(call PYTEST,-m "")
lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check conprune tests scripts
