# conprune: one target per stage (`make help`). A stage fits experiments/<stage>.yaml (+ <PROFILE>/<stage>.yaml)
# into RUNS/<stage>/; finished stages (DONE) are skipped, killed ones resume. Students start from the
# shipped teacher (TEACHER=shipped) or from RUNS/teacher (TEACHER=train). ARGS: extra `conprune fit` args.
SHELL := /bin/bash
VENV ?= .venv
CONPRUNE := $(VENV)/bin/conprune
STAMP := $(VENV)/.installed
DATA ?= data/synth
HOURS ?= 5
TEST_UTTS ?= 1000
SEED ?= 0
PIECES ?= 64
RUNS ?= runs
PROFILE ?= full
RESULTS ?= results/full
TEACHER ?= shipped
SHIPPED ?= pretrained/demo-teacher-v1
EXTRA_HOURS ?= $(if $(filter long,$(PROFILE)),20,0)
ifneq ($(words $(filter $(PROFILE),full quick long) $(filter $(TEACHER),shipped train)),2)
$(error PROFILE must be full, quick or long and TEACHER shipped or train)
endif
.SECONDARY:
.PHONY: data bench report sweep latency-target
help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
$(STAMP): pyproject.toml
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[dev]' && touch $@
install: $(STAMP) ## create .venv and pip install -e '.[dev]'
system-deps: ## install the Debian TTS voices and texts of the embedded corpus (when missing)
	bash scripts/install_system_deps.sh
CORPUS := $(DATA)/manifests/.h$(HOURS)-t$(TEST_UTTS)-x$(EXTRA_HOURS)-s$(SEED)
$(CORPUS): | $(STAMP)
	bash scripts/install_system_deps.sh && $(CONPRUNE) data synth --root $(DATA) --hours $(HOURS) --seed $(SEED) \
		--test-utterances $(TEST_UTTS) --extra-train-hours $(EXTRA_HOURS)
	$(CONPRUNE) data prepare --root $(DATA) --splits all && touch $@
data: $(CORPUS) ## synthesise the embedded corpus (HOURS=5 of training audio) and write manifests
TOKENIZER := $(DATA)/tokenizer/unigram$(PIECES).model
$(TOKENIZER): $(CORPUS)
	$(CONPRUNE) tokenizer --root $(DATA) --splits train-clean-100 --vocab-size $(PIECES)
tokenizer: $(TOKENIZER) ## train the SentencePiece unigram tokenizer (PIECES=64)
# $(call stage,CONFIG,SCHEDULE): a stage's config, then the profile's overlay SCHEDULE when there is one.
overlay = $(if $(wildcard experiments/$(PROFILE)/$(1).yaml),--config experiments/$(PROFILE)/$(1).yaml)
stage = --config experiments/$(1).yaml $(call overlay,$(2))
# $(call fit,RUN_DIR,FIT_ARGS): fit into RUN_DIR (resuming from its last.ckpt), then write RUN_DIR/DONE.
fit = start=$$(date +%s) && $(CONPRUNE) fit $(2) --run_dir $(1) --data.root $(DATA) --data.num_pieces $(PIECES) \
	$(ARGS) $(if $(wildcard $(1)/checkpoints/last.ckpt),--ckpt_path $(1)/checkpoints/last.ckpt) && \
	echo "fit wall time: $$(( $$(date +%s) - start )) s" > $(1)/DONE
ifeq ($(TEACHER),shipped)
TEACHER_FILE := $(SHIPPED)/model.pt
TEACHER_DEP := $(TEACHER_FILE) $(CORPUS)
TEACHER_DATA := --data.tokenizer $(SHIPPED)/tokenizer.model --data.cmvn $(SHIPPED)/cmvn.json
else
TEACHER_FILE := $(RUNS)/teacher/checkpoints/best.ckpt
TEACHER_DEP := $(RUNS)/teacher/DONE
endif
FROM_TEACHER = --model.init_args.teacher_ckpt $(TEACHER_FILE) $(TEACHER_DATA)
# $(call finetune_from,STUDENT_MODEL,OVERLAY,SCHEDULE): the finetune stage on a compact model file.
finetune_from = --config experiments/finetune.yaml $(2) $(call overlay,$(3)) $(FROM_TEACHER) --model.init_args.student_model $(1)
$(RUNS)/teacher/DONE: $(TOKENIZER)
	$(call fit,$(RUNS)/teacher,$(call stage,teacher,teacher))
$(RUNS)/teacher/test/wer_by_voice.md: $(RUNS)/teacher/DONE
	$(CONPRUNE) test $(call stage,teacher,teacher) --data.root $(DATA) --data.num_pieces $(PIECES) --trainer.logger=false \
		--ckpt_path $(RUNS)/teacher/checkpoints/best.ckpt --trainer.callbacks=[] --trainer.default_root_dir $(RUNS)/teacher/test
	$(CONPRUNE) voices --data $(DATA) --predictions $(RUNS)/teacher/test --out $@
teacher: $(RUNS)/teacher/test/wer_by_voice.md ## train a teacher, then test it (PROFILE=long: the shipped one's recipe)
ship-teacher: $(RUNS)/teacher/DONE ## package RUNS/teacher as SHIPPED, with a measured model card
	$(CONPRUNE) ship-teacher --run $(RUNS)/teacher --data $(DATA) --name $(notdir $(SHIPPED)) --out $(SHIPPED)
$(RUNS)/prune/DONE: $(TEACHER_DEP)
	$(call fit,$(RUNS)/prune,$(call stage,prune,prune) $(FROM_TEACHER))
$(RUNS)/prune-macs/DONE: $(TEACHER_DEP)
	$(call fit,$(RUNS)/prune-macs,$(call stage,prune,prune) --config experiments/prune_macs.yaml $(FROM_TEACHER))
$(RUNS)/prune/summary.json $(RUNS)/prune-macs/summary.json: $(RUNS)/%/summary.json: $(RUNS)/%/DONE
	$(CONPRUNE) prune-summary --run $(RUNS)/$* --teacher $(TEACHER_FILE)
prune: $(RUNS)/prune/summary.json ## learn the gates on the teacher: -50 % parameters
prune-macs: $(RUNS)/prune-macs/summary.json ## the same with a -50 % MACs target
$(RUNS)/%/model.pt: $(RUNS)/%/DONE
	$(CONPRUNE) compact --ckpt $(RUNS)/$*/checkpoints/best.ckpt --out $@
$(RUNS)/%/results.json: $(RUNS)/%/model.pt
	$(CONPRUNE) evaluate --model $< --data-root $(DATA) --out $@ --predictions $(@D)/predictions
$(RUNS)/teacher/results.json: $(TEACHER_DEP)
	$(CONPRUNE) evaluate --$(if $(TEACHER_DATA),model,ckpt) $(TEACHER_FILE) --data-root $(DATA) --out $@ --predictions $(@D)/predictions
compact: $(RUNS)/prune/model.pt $(RUNS)/prune-macs/model.pt ## cut the pruned students into standalone model files
evaluate: $(RUNS)/teacher/results.json $(RUNS)/prune/results.json $(RUNS)/prune-macs/results.json \
	$(RUNS)/finetune/results.json ## WER, params, MACs, latency of each model (per-utterance predictions too)
$(RUNS)/finetune/DONE: $(RUNS)/prune/model.pt
	$(call fit,$(RUNS)/finetune,$(call finetune_from,$<,,finetune))
finetune: $(RUNS)/finetune/model.pt ## train the compact -50 % params student further (distillation)
# Comparisons: `conprune sweep` runs each method x target (x seed) under RUNS/sweep/ with one recipe and equal
# budgets (baselines train as many steps as conprune's prune + finetune), then the report pairs them. JOBS=2: two runs
# at once, each on its share of the cores (or its own GPU).
TARGETS ?= params30,params50,params70,macs50
METHODS ?= conprune,magnitude_uniform,magnitude_global,random_uniform,magnitude_shapes,random_shapes,dense_kd,dense_scratch
SEEDS ?= 0
ABLATIONS := conprune_no_layer_kd,conprune_no_posterior_kd,conprune_fixed_l0,conprune_no_ramp,conprune_ffn_only
JOBS ?= 1
run_sweep = $(CONPRUNE) sweep --teacher $(TEACHER_FILE) --runs $(RUNS) --data $(DATA) --pieces $(PIECES) \
	--profile $(PROFILE) --data-args "$(TEACHER_DATA)" --jobs $(JOBS)
sweep: $(TEACHER_DEP) $(RUNS)/teacher/results.json ## every METHODS at every TARGETS (SEEDS), then the report
	$(run_sweep) --targets $(TARGETS) --methods $(METHODS) --seeds $(SEEDS) && $(MAKE) --no-print-directory report
seeds: $(TEACHER_DEP) ## conprune and uniform magnitude at -50/-70 % params, seeds 1 and 2
	$(run_sweep) --targets params50,params70 --methods conprune,magnitude_uniform --seeds 1,2
ablations: $(TEACHER_DEP) ## conprune's ablations at -50 % params
	$(run_sweep) --targets params50 --methods $(ABLATIONS)
BENCH_JSON = $(if $(filter runs,$(RUNS)),bench/results.json,$(RESULTS)/bench.json)
STUDENT50 := $(RUNS)/sweep/conprune-params50/model.pt
BENCH_PARTS ?= ratios deploy long-audio
bench: $(TEACHER_DEP) ## speed ratios, ONNX Runtime fp32/int8 and long audio of the -50 % params student (BENCH_PARTS)
	for part in $(BENCH_PARTS); do $(CONPRUNE) bench $$part --teacher $(TEACHER_FILE) --params50 $(STUDENT50) \
		--macs50 $(RUNS)/sweep/conprune-macs50/model.pt --data-root $(DATA) --out $(BENCH_JSON) || exit 1; done
LATENCY_TABLE ?= bench/latency_table_cpu_t1_b1.json
$(LATENCY_TABLE): | $(TEACHER_DEP)
	$(CONPRUNE) bench latency-table --teacher $(TEACHER_FILE) --out $@
latency-target: $(LATENCY_TABLE) ## conprune to -50 % measured latency and to the params-50 student's latency, measured
	m=$$($(VENV)/bin/python -c "import json; print(100 - round(100 * json.load(open('$(BENCH_JSON)'))['latency_ratio_params50']))") && \
	$(run_sweep) --targets latency50,latency$$m --methods conprune --latency-table $(LATENCY_TABLE) && \
	$(CONPRUNE) bench latency-target --teacher $(TEACHER_FILE) --params50 $(STUDENT50) --latency-table $(LATENCY_TABLE) \
		--latency $(RUNS)/sweep/conprune-latency50/model.pt --matched $(RUNS)/sweep/conprune-latency$$m/model.pt \
		--data-root $(DATA) --out $(BENCH_JSON)
report: ## summary.json (with paired CIs), table and plots of the runs under RUNS -> RESULTS
	$(CONPRUNE) report --runs $(RUNS) --data $(DATA) --bench $(BENCH_JSON) --out $(RESULTS)
readme: ## regenerate the result sections of README.md and docs/ from runs/, results/, bench/
	$(CONPRUNE) readme --runs runs --results results/full --bench bench/results.json
DEMO_MAKE = $(MAKE) --no-print-directory RUNS=runs/demo PROFILE=quick RESULTS=results/demo
demo: ## install, corpus, shipped teacher -> conprune and uniform magnitude at -50 % params, bench (ratios, ONNX Runtime), report (<= 30 min)
	@start=$$(date +%s) && $(DEMO_MAKE) runs/demo/teacher/results.json && \
	$(DEMO_MAKE) sweep TARGETS=params50 METHODS=conprune,magnitude_uniform && $(DEMO_MAKE) bench BENCH_PARTS="ratios deploy" && \
	$(DEMO_MAKE) report && took=$$(( $$(date +%s) - start )) && echo "demo finished in $$took s; results/demo/" && \
	echo "{\"seconds\": $$took, \"date\": \"$$(date -u +%F)\"}" > results/demo/timing.json
PYTEST = $(VENV)/bin/pytest -q $(1); rc=$$?; [ $$rc -ne 5 ] || { echo "pytest collected no tests" >&2; exit 1; }; exit $$rc
test: $(STAMP) ## layering contracts (lint-imports) + the fast test suite (what CI runs)
	$(VENV)/bin/lint-imports && $(call PYTEST,)
test-all: $(STAMP) ## every test, the slow ones too
	$(call PYTEST,-m "")
lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check conprune tests scripts
