# Two commands on a fresh machine (Python 3.11):
#   make run    set up .venv with attncli and run the main job
#   make test   set up .venv with the test tools and run ruff, mypy and pytest
# Both install exactly the files pinned in requirements/*.lock (versions and sha256), nothing else;
# `make lock` renews the locks from pyproject.toml and requirements/models.in (see the README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# --no-deps: the lock already lists every package (the models' own metadata would pull torch);
# --require-hashes: a file that is not the one locked is refused.
LOCKED := $(BIN)/python -m pip install -q --no-deps --require-hashes --only-binary=:all:
# The project itself, editable, built by the locked hatchling (no build isolation, which would fetch the newest).
EDITABLE := $(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .

.PHONY: run test lint locale lock browser latex

# The venv's own pip (bundled with the Python): no upgrade, so nothing the registry serves today changes it.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# compileall: an editable install is not byte-compiled (and PYTHONDONTWRITEBYTECODE may be set), so
# every `attn` would compile attncli again at start-up; a regular pip install compiles it too.
$(VENV)/.installed-run: requirements/run.lock pyproject.toml | $(BIN)/python
	$(LOCKED) -r requirements/run.lock
	$(EDITABLE)
	$(BIN)/python -m compileall -q attncli
	touch $@

$(VENV)/.installed-test: requirements/test.lock pyproject.toml | $(BIN)/python
	$(LOCKED) -r requirements/test.lock
	$(EDITABLE)
	$(BIN)/python -m compileall -q attncli
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/attn compute --input samples/one-query-two-keys.json
	$(BIN)/attn explain "The miniature Eiffel tower is a toy"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy attncli

# The real browser of the page test (tests/cli/test_view_browser.py): Debian's headless Chromium and its
# driver. Nothing to do when both are there; on a fresh machine (CI runs as root) the install takes about 4 min.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; }

# pdflatex for the LaTeX answer keys (tests/cli/test_exercise_cli.py compiles them; with CI=true a
# missing pdflatex fails the test instead of skipping it). Debian's texlive-latex-base, only when
# pdflatex is missing; CI runs as root. See the README for how long the install takes.
# The Russian keys need T2A fonts and babel's Russian: texlive-lang-cyrillic (kpsewhich finds its t2aenc.def).
latex:
	@command -v pdflatex >/dev/null && kpsewhich t2aenc.def >/dev/null || { \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			texlive-latex-base texlive-lang-cyrillic; }

test: lint browser latex
	$(BIN)/python -m pytest -q

# Message catalogues (attncli/locale): extract the English messages, update the Russian .po, compile the .mo.
# Two domains: attncli (the _()/ngettext() messages of the source) and help (every --help text, read from
# the live command tree by scripts/help_messages.py). Run after changing a message, a help text or an
# option; tests/test_i18n.py fails while a message or help text has no translation.
locale: $(VENV)/.installed-test
	$(BIN)/pybabel -q extract -w 120 --no-location --omit-header --project=attncli -k _ -k ngettext:1,2 -o attncli/locale/attncli.pot attncli
	$(BIN)/pybabel -q update -w 120 --init-missing --no-fuzzy-matching --ignore-obsolete \
		-i attncli/locale/attncli.pot -d attncli/locale -D attncli -l ru
	$(BIN)/pybabel compile --statistics -d attncli/locale -D attncli -l ru
	$(BIN)/python scripts/help_messages.py attncli/locale/help.pot
	$(BIN)/pybabel -q update -w 120 --init-missing --no-fuzzy-matching --ignore-obsolete \
		-i attncli/locale/help.pot -d attncli/locale -D help -l ru
	$(BIN)/python scripts/help_messages.py --compile attncli/locale/ru/LC_MESSAGES/help.po

# Renew requirements/*.lock with the newest versions that pyproject.toml's ranges allow, then run
# `make test`: a failure there is an upstream release breaking attncli (fix it in the same commit).
lock:
	$(PYTHON) scripts/lock.py
