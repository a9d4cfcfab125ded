# conprune — one target per stage. `make help` lists them.
# Variables: DATA (corpus root), HOURS (embedded corpus size), SEED, PIECES (tokenizer size),
# ARGS (extra fit args).
# Outputs go to runs/<stage>/ (the paths in experiments/*.yaml). Finished stages are skipped.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CONPRUNE := $(VENV)/bin/conprune
STAMP := $(VENV)/.installed
DATA ?= data/synth
HOURS ?= 2
SEED ?= 0
ARGS ?=
PIECES ?= 64

.DEFAULT_GOAL := help
# Keep every stage output (model files, DONE stamps) even when made through pattern rules.
.SECONDARY:
.PHONY: help install system-deps data tokenizer teacher prune prune-macs compact evaluate finetune baselines bench demo \
	dense-baselines test test-all \
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
TEACHER := runs/teacher/checkpoints/best.ckpt

$(DATA)/SYNTHETIC.md: | $(STAMP)
	$(MAKE) system-deps
	$(CONPRUNE) data synth --root $(DATA) --hours $(HOURS) --seed $(SEED)

$(MANIFEST): $(DATA)/SYNTHETIC.md
	$(CONPRUNE) data prepare --root $(DATA) --splits train-clean-100,dev-clean,dev-other,test-clean,test-other

data: $(MANIFEST) ## synthesise the embedded corpus (HOURS=2) and write manifests

$(TOKENIZER): $(MANIFEST)
	$(CONPRUNE) tokenizer --root $(DATA) --splits train-clean-100 --vocab-size $(PIECES)

tokenizer: $(TOKENIZER) ## train the SentencePiece unigram tokenizer (PIECES=64)

# A killed run resumes from last.ckpt; a finished one leaves runs/teacher/DONE and is skipped.
runs/teacher/DONE: $(TOKENIZER)
	start=$$(date +%s) && \
	$(CONPRUNE) fit --config experiments/teacher.yaml --data.root $(DATA) --data.num_pieces $(PIECES) $(ARGS) \
		$(if $(wildcard runs/teacher/checkpoints/last.ckpt),--ckpt_path runs/teacher/checkpoints/last.ckpt) && \
	echo "fit wall time: $$(( $$(date +%s) - start )) s" > $@

teacher: runs/teacher/DONE runs/teacher/test/wer_by_voice.md ## train the demo teacher, then test it

runs/teacher/test/wer_by_voice.md: runs/teacher/DONE
	$(CONPRUNE) test --config experiments/teacher.yaml --data.root $(DATA) --data.num_pieces $(PIECES) --ckpt_path $(TEACHER) \
		--trainer.logger=false --trainer.callbacks=[] --trainer.default_root_dir runs/teacher/test
	$(PY) -m conprune.eval.voices --data $(DATA) --predictions runs/teacher/test --out $@
	$(PY) -m conprune.eval.readme teacher --run runs/teacher

PRUNE_ARGS = --data.root $(DATA) --data.num_pieces $(PIECES) --model.init_args.teacher_ckpt $(TEACHER) $(ARGS)
# $(call fit_stage,RUN_DIR,CONFIGS): fit, resuming from RUN_DIR/checkpoints/last.ckpt when present.
fit_stage = start=$$(date +%s) && $(CONPRUNE) fit $(2) $(PRUNE_ARGS) \
	$(if $(wildcard $(1)/checkpoints/last.ckpt),--ckpt_path $(1)/checkpoints/last.ckpt) && \
	echo "fit wall time: $$(( $$(date +%s) - start )) s" > $(1)/DONE

runs/prune/DONE: runs/teacher/DONE
	$(call fit_stage,runs/prune,--config experiments/prune.yaml)

runs/prune-macs/DONE: runs/teacher/DONE
	$(call fit_stage,runs/prune-macs,--config experiments/prune.yaml --config experiments/prune_macs.yaml)

prune: runs/prune/DONE ## learn the gates on the demo teacher: -50 % parameters
	$(PY) -m conprune.eval.prune_summary --run runs/prune --teacher runs/teacher
	$(PY) -m conprune.eval.readme prune --run runs/prune

prune-macs: runs/prune-macs/DONE ## the same with a -50 % MACs target
	$(PY) -m conprune.eval.prune_summary --run runs/prune-macs --teacher runs/teacher
	$(PY) -m conprune.eval.readme prune --run runs/prune

runs/%/model.pt: runs/%/DONE
	$(CONPRUNE) compact --ckpt runs/$*/checkpoints/best.ckpt --out $@

compact: runs/prune/model.pt runs/prune-macs/model.pt ## cut the pruned students into standalone model files

runs/%/results.json: runs/%/model.pt
	$(CONPRUNE) evaluate --model $< --data-root $(DATA) --out $@

runs/teacher/results.json: runs/teacher/DONE
	$(CONPRUNE) evaluate --ckpt $(TEACHER) --data-root $(DATA) --out $@

evaluate: runs/prune/results.json runs/prune-macs/results.json runs/finetune/results.json ## WER, params, MACs, latency of each compact model

runs/finetune/DONE: runs/prune/model.pt
	$(call fit_stage,runs/finetune,--config experiments/finetune.yaml)

finetune: runs/finetune/model.pt ## train the compact -50 % params student further (distillation)

runs/finetune/model.pt: runs/finetune/DONE
	$(CONPRUNE) compact --ckpt runs/finetune/checkpoints/best.ckpt --out $@

runs/baseline-%/model.pt: runs/prune/model.pt
	$(CONPRUNE) baseline --method $* --teacher $(TEACHER) --shapes-from runs/prune/model.pt --out $@

runs/finetune-%/DONE: runs/baseline-%/model.pt
	$(call fit_stage,runs/finetune-$*,--config experiments/finetune.yaml --config experiments/finetune_$*.yaml)

runs/finetune-%/model.pt: runs/finetune-%/DONE
	$(CONPRUNE) compact --ckpt runs/finetune-$*/checkpoints/best.ckpt --out $@

runs/dense-scratch/DONE: runs/baseline-dense/model.pt
	start=$$(date +%s) && $(CONPRUNE) fit --config experiments/teacher.yaml --config experiments/dense_scratch.yaml \
		--data.root $(DATA) --data.num_pieces $(PIECES) $(ARGS) \
		$(if $(wildcard runs/dense-scratch/checkpoints/last.ckpt),--ckpt_path runs/dense-scratch/checkpoints/last.ckpt) && \
	echo "fit wall time: $$(( $$(date +%s) - start )) s" > $@

runs/finetune-dense-kd/DONE: runs/baseline-dense/model.pt
	$(call fit_stage,runs/finetune-dense-kd,--config experiments/finetune.yaml --config experiments/finetune_dense-kd.yaml)

runs/dense-scratch/model.pt: runs/dense-scratch/DONE
	$(CONPRUNE) compact --ckpt runs/dense-scratch/checkpoints/best.ckpt --out $@

dense-baselines: runs/dense-scratch/results.json runs/finetune-dense-kd/results.json ## dense student of equal size: from scratch / distillation only
	$(PY) -m conprune.eval.readme comparison
	$(PY) -m conprune.eval.demo_summary --data $(DATA)

baselines: runs/teacher/results.json runs/finetune-magnitude/results.json runs/finetune-random/results.json ## magnitude / random pruning to the student's shapes + the same finetune
	$(PY) -m conprune.eval.readme comparison
	$(PY) -m conprune.eval.demo_summary --data $(DATA)

bench: compact ## side-by-side speed ratios -> bench/results.json and the README table
	$(CONPRUNE) bench --teacher $(TEACHER) --data-root $(DATA) --readme README.md

demo: prune evaluate ## the stages that exist so far, end to end on the embedded corpus

test: $(STAMP) ## run the fast test suite (what CI runs)
	$(VENV)/bin/pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-all: $(STAMP) ## run every test, the slow ones too
	$(VENV)/bin/pytest -q -m ""; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check conprune tests

clean: ## remove runs (keeps the venv and the corpus)
	rm -rf runs
