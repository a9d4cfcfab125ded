# ---- conprune: one target per stage (`make help`). Settings; TEACHER=shipped: students start from SHIPPED ---------
VENV ?= .venv
CONPRUNE := $(VENV)/bin/conprune
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
$(if $(filter-out full quick long,$(PROFILE))$(filter-out shipped train,$(TEACHER)),$(error PROFILE: full|quick|long, TEACHER: shipped|train))
CORPUS := $(DATA)/manifests/.h$(HOURS)-t$(TEST_UTTS)-c500-x$(EXTRA_HOURS)-s$(SEED)
shipped = $(if $(filter shipped,$(TEACHER)),$(1),$(2))
TEACHER_FILE := $(call shipped,$(SHIPPED)/model.pt,$(RUNS)/teacher/checkpoints/best.ckpt)
TEACHER_DEP := $(call shipped,$(TEACHER_FILE) $(CORPUS),$(RUNS)/teacher/DONE)
TEACHER_DATA := $(call shipped,--data.tokenizer $(SHIPPED)/tokenizer.model --data.cmvn $(SHIPPED)/cmvn.json)
FROM_TEACHER = --model.init_args.teacher_ckpt $(TEACHER_FILE) $(TEACHER_DATA)
BENCH_JSON = $(if $(filter runs,$(RUNS)),bench/results.json,$(RESULTS)/bench.json)
BENCH_PARTS ?= ratios deploy long-audio
LATENCY_TABLE ?= bench/latency_table_cpu_t1_b1.json
.SECONDARY:
.PHONY: help install system-deps data tokenizer lm teacher ship-teacher prune prune-macs compact evaluate finetune \
	sweep seeds ablations bench latency-target report readme demo test test-all lint
help: ## list the targets
	@grep -E '^[a-zA-Z_ -]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'
# ---- install and corpus ------------------------------------------------------------------------------------------
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -e '.[dev,hf,lm]' && touch $@
install: $(VENV)/.installed ## create .venv and pip install -e '.[dev,hf,lm]' (hf: transformers import/export, lm: beam search)
system-deps: ## install the Debian TTS voices and texts of the embedded corpus (when missing)
	bash scripts/install_system_deps.sh
$(CORPUS): | $(VENV)/.installed
	bash scripts/install_system_deps.sh && $(CONPRUNE) data synth --root $(DATA) --hours $(HOURS) --seed $(SEED) \
		--test-utterances $(TEST_UTTS) --extra-train-hours $(EXTRA_HOURS)
	$(CONPRUNE) data prepare --root $(DATA) --splits all && touch $@
data: $(CORPUS) ## synthesise the embedded corpus (HOURS=5 of training audio, test-confirm 500+500) + manifests
$(DATA)/tokenizer/unigram$(PIECES).model: $(CORPUS)
	$(CONPRUNE) tokenizer --root $(DATA) --splits train-clean-100 --vocab-size $(PIECES)
tokenizer: $(DATA)/tokenizer/unigram$(PIECES).model ## train the SentencePiece unigram tokenizer (PIECES=64)
$(DATA)/lm/words-4gram.bin: $(CORPUS) ; bash scripts/build_kenlm.sh $(VENV)/bin && $(CONPRUNE) build-lm --data $(DATA) --kenlm $(VENV)/bin
lm: $(DATA)/lm/words-4gram.bin ## KenLM word 4-gram of the corpus's source text minus every dev/test sentence (guarded)
# ---- stages: $(call stage,RUN,CONFIGS,FIT_ARGS[,--test]) = `conprune stage`, the sweep's builder (ARGS: more) --
stage = $(CONPRUNE) stage $(1) $(2) --profile $(PROFILE) --data $(DATA) --pieces $(PIECES) --fit-args "$(3) $(ARGS)" $(4)
$(RUNS)/teacher/DONE: $(DATA)/tokenizer/unigram$(PIECES).model
	$(call stage,$(RUNS)/teacher,teacher.yaml '{profile}/teacher.yaml')
$(RUNS)/teacher/test/wer_by_voice.md: $(RUNS)/teacher/DONE
	$(call stage,$(RUNS)/teacher/test,teacher.yaml '{profile}/teacher.yaml',--trainer.logger=false --trainer.callbacks=[] \
		--ckpt_path $(RUNS)/teacher/checkpoints/best.ckpt --trainer.default_root_dir $(RUNS)/teacher/test,--test)
	$(CONPRUNE) voices --data $(DATA) --predictions $(RUNS)/teacher/test --out $@
teacher: $(RUNS)/teacher/test/wer_by_voice.md ## train a teacher, then test it (PROFILE=long: the shipped one's recipe)
ship-teacher: $(RUNS)/teacher/DONE ## package RUNS/teacher as SHIPPED, with a measured model card
	$(CONPRUNE) ship-teacher --run $(RUNS)/teacher --data $(DATA) --name $(notdir $(SHIPPED)) --out $(SHIPPED)
$(RUNS)/prune/DONE $(RUNS)/prune-macs/DONE: $(RUNS)/%/DONE: $(TEACHER_DEP)
	$(call stage,$(RUNS)/$*,prune.yaml '{profile}/prune.yaml' $(if $(findstring macs,$*),prune_macs.yaml),$(FROM_TEACHER))
$(RUNS)/prune/summary.json $(RUNS)/prune-macs/summary.json: $(RUNS)/%/summary.json: $(RUNS)/%/DONE
	$(CONPRUNE) prune-summary --run $(RUNS)/$* --teacher $(TEACHER_FILE)
prune prune-macs: %: $(RUNS)/%/summary.json ## learn the gates on the teacher: -50 % parameters (prune) or MACs
$(RUNS)/%/model.pt: $(RUNS)/%/DONE ; $(CONPRUNE) compact --ckpt $(RUNS)/$*/checkpoints/best.ckpt --out $@
$(RUNS)/%/results.json: $(RUNS)/%/model.pt
	$(CONPRUNE) evaluate --model $< --data-root $(DATA) --out $@ --predictions $(@D)/predictions
$(RUNS)/teacher/results.json: $(TEACHER_DEP)
	$(CONPRUNE) evaluate --$(if $(TEACHER_DATA),model,ckpt) $(TEACHER_FILE) --data-root $(DATA) --out $@ --predictions $(@D)/predictions
compact: $(RUNS)/prune/model.pt $(RUNS)/prune-macs/model.pt ## cut the pruned students into standalone model files
evaluate: $(foreach r,teacher prune prune-macs finetune,$(RUNS)/$(r)/results.json) ## WER, size, latency, predictions
$(RUNS)/finetune/DONE: $(RUNS)/prune/model.pt
	$(call stage,$(RUNS)/finetune,finetune.yaml '{profile}/finetune.yaml',$(FROM_TEACHER) --model.init_args.student_model $<)
finetune: $(RUNS)/finetune/model.pt ## train the compact -50 % params student further (distillation)
# ---- comparisons: `conprune sweep` under RUNS/sweep/; TARGETS, METHODS (or groups), SEEDS, JOBS, LRS, LM (LM_ARGS)
run_sweep = $(CONPRUNE) sweep --teacher $(TEACHER_FILE) --runs $(RUNS) --data $(DATA) --pieces $(PIECES) \
	--profile $(PROFILE) --data-args "$(TEACHER_DATA)" $(if $(JOBS),--jobs $(JOBS)) $(if $(LM),--lm $(LM) $(LM_ARGS))
sweep: $(TEACHER_DEP) $(RUNS)/teacher/results.json ## every METHODS at every TARGETS (SEEDS), then the report
	$(run_sweep) $(if $(TARGETS),--targets $(TARGETS)) $(if $(METHODS),--methods $(METHODS)) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(LRS),--lrs $(LRS)) \
		&& $(MAKE) --no-print-directory report
seeds: $(TEACHER_DEP) ## the headline methods at -50/-70 % params, seeds 1 and 2
	$(run_sweep) --targets params50,params70 --methods headline --seeds 1,2
ablations: $(TEACHER_DEP) ## conprune's ablations at -50 % params
	$(run_sweep) --targets params50 --methods ablations
# ---- benchmarks: ratios measured side by side in one process -----------------------------------------------------
bench: $(TEACHER_DEP) ## speed ratios, ONNX Runtime fp32/int8 and long audio of the -50 % params student (BENCH_PARTS)
	for part in $(BENCH_PARTS); do $(CONPRUNE) bench $$part --teacher $(TEACHER_FILE) --params50 \
		$(RUNS)/sweep/conprune-params50/model.pt --macs50 $(RUNS)/sweep/conprune-macs50/model.pt --data-root $(DATA) \
		--out $(BENCH_JSON) || exit 1; done
$(LATENCY_TABLE): | $(TEACHER_DEP) ; $(CONPRUNE) bench latency-table --teacher $(TEACHER_FILE) --out $@
latency-target: $(LATENCY_TABLE) ## conprune to -50 % measured latency and to the params-50 student's latency, measured
	$(run_sweep) --targets latency50,$$($(CONPRUNE) bench matched-target --out $(BENCH_JSON)) --methods conprune \
		--latency-table $(LATENCY_TABLE) && $(CONPRUNE) bench latency-target --teacher $(TEACHER_FILE) --runs $(RUNS) \
		--latency-table $(LATENCY_TABLE) --data-root $(DATA) --out $(BENCH_JSON)
# ---- reports and the demo: the demo writes only under runs/demo/; PUBLISH=1 reports to the committed results/demo/ --
report: ## summary.json (with paired CIs), table and plots of the runs under RUNS -> RESULTS
	$(CONPRUNE) report --runs $(RUNS) --data $(DATA) --bench $(BENCH_JSON) --out $(RESULTS)
readme: ## regenerate the result sections of README.md and docs/ from runs/, results/, bench/
	$(CONPRUNE) readme --runs runs --results results/full --bench bench/results.json
DEMO_RESULTS := $(if $(PUBLISH),results/demo,runs/demo/results)
DEMO_MAKE = $(MAKE) --no-print-directory RUNS=runs/demo PROFILE=quick RESULTS=$(DEMO_RESULTS)
demo: ## install, corpus, shipped teacher -> the headline methods at -50 % params, bench, report (<= 30 min)
	@start=$$(date +%s) && $(DEMO_MAKE) runs/demo/teacher/results.json && $(DEMO_MAKE) sweep TARGETS=params50 METHODS=headline \
		&& $(DEMO_MAKE) bench BENCH_PARTS="ratios deploy" && $(DEMO_MAKE) report && took=$$(( $$(date +%s) - start )) && \
		echo "demo finished in $$took s: $(DEMO_RESULTS)/" && echo "{\"seconds\": $$took, \"date\": \"$$(date -u +%F)\"}" > $(DEMO_RESULTS)/timing.json
# ---- checks ------------------------------------------------------------------------------------------------------
PYTEST = $(VENV)/bin/pytest -q $(1); rc=$$?; [ $$rc -ne 5 ] || { echo "pytest collected no tests" >&2; exit 1; }; exit $$rc
test: $(VENV)/.installed ## layering contracts (lint-imports) + the fast test suite (what CI runs)
	$(VENV)/bin/lint-imports && $(call PYTEST,)
test-all: $(VENV)/.installed ## every test, the slow ones too
	$(call PYTEST,-m "")
lint: $(VENV)/.installed ## ruff
	$(VENV)/bin/ruff check conprune tests scripts
