# Two commands on a fresh machine (Python 3.11):
#   make run    set up .venv with attncli and run the main job
#   make test   set up .venv with the test tools and run ruff, mypy and pytest
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# benchmarks/ may not exist yet; ruff fails on a missing path, so lint what is there.
LINT_DIRS := $(wildcard attncli tests benchmarks)

.PHONY: run test lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/attn compute --input samples/one-query-two-keys.json

lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/mypy attncli

test: lint
	$(BIN)/python -m pytest -q
