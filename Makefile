# PY=/path/to/python3.12 picks the interpreter; otherwise scripts/find-python looks for a Python >= 3.12.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint imports clean wheel

# `nautlive` lives in .venv/bin, not on the PATH: install and demo end by saying how to put it there.
ON_PATH := echo "nautlive is in $(BIN): run 'source $(BIN)/activate' to put it on the PATH (or call $(BIN)/nautlive)"

install: $(STAMP)
	@$(ON_PATH)

$(STAMP): pyproject.toml Makefile
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
		echo "removing $(VENV): made with a Python older than 3.12"; rm -rf $(VENV); fi
	@python=$$(PY="$(PY)" scripts/find-python) || exit 1; [ -x $(BIN)/python ] || $$python -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,ib]"
	@# ib_async 2.1.0 (an independent IB client the TWS venue is tested against) pins tzdata<2026, which
	@# nautilus_trader 1.231 cannot run with (tzdata>=2026.3): its runtime dependencies, then it without its pins.
	$(BIN)/pip install --quiet "aeventkit>=2.1.0,<3" nest_asyncio
	$(BIN)/pip install --quiet --no-deps ib_async==2.1.0
	touch $(STAMP)

test: $(STAMP) imports
	$(BIN)/pytest -q

# The import contract (.importlinter): stages import one way, each venue stands alone.
imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

demo: $(STAMP)
	$(BIN)/nautlive demo
	@$(ON_PATH)

wheel: $(STAMP)
	$(BIN)/pip wheel --no-deps --quiet -w dist .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP) imports
	$(BIN)/ruff check nautlive tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist
