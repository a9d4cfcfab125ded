# conprune — one target per stage. `make help` lists them.
# Variables: DATA (corpus root), HOURS (embedded corpus size), RUNS (outputs), ARGS (extra fit args).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CONPRUNE := $(VENV)/bin/conprune
STAMP := $(VENV)/.installed
DATA ?= data/synth
HOURS ?= 2
SEED ?= 0
RUNS ?= runs
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install system-deps data tokenizer teacher teacher-report demo test test-all lint clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and pip install -e '.[dev]'

system-deps: ## install the Debian TTS voices and texts used by the embedded corpus (when missing)
	bash scripts/install_system_deps.sh

$(DATA)/SYNTHETIC.md: | $(STAMP)
	$(MAKE) system-deps
	$(CONPRUNE) data synth --root $(DATA) --hours $(HOURS) --seed $(SEED)

data: $(DATA)/SYNTHETIC.md | $(STAMP) ## synthesise the embedded corpus (HOURS=2) and write manifests
	$(CONPRUNE) data prepare --root $(DATA) --splits train-clean-100,dev-clean,dev-other,test-clean,test-other

tokenizer: data ## train the SentencePiece unigram tokenizer (256 pieces)
	$(CONPRUNE) tokenizer --root $(DATA) --splits train-clean-100 --vocab-size 256

$(RUNS)/teacher/checkpoints/last.ckpt: | $(STAMP)
	$(MAKE) tokenizer
	$(CONPRUNE) fit --config experiments/teacher.yaml --data.root $(DATA) $(ARGS)

teacher: $(RUNS)/teacher/checkpoints/last.ckpt ## train the demo teacher (skips when trained)
	$(MAKE) teacher-report

teacher-report: | $(STAMP) ## test WER of the best teacher checkpoint, per split and per voice
	$(CONPRUNE) test --config experiments/teacher.yaml --data.root $(DATA) \
		--ckpt_path $(RUNS)/teacher/checkpoints/best.ckpt --trainer.logger=false \
		--trainer.default_root_dir $(RUNS)/teacher/test
	$(PY) -m conprune.eval.voices --data $(DATA) --predictions $(RUNS)/teacher/test \
		--out $(RUNS)/teacher/test/wer_by_voice.md

demo: teacher ## the stages that exist so far, end to end on the embedded corpus

test: $(STAMP) ## run the fast test suite (what CI runs)
	$(VENV)/bin/pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-all: $(STAMP) ## run every test, the slow ones too
	$(VENV)/bin/pytest -q -m ""; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check conprune tests

clean: ## remove runs (keeps the venv and the corpus)
	rm -rf $(RUNS)
