# PY=/path/to/python3.12 picks the interpreter; otherwise scripts/find-python looks for a Python >= 3.12.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint clean wheel

install: $(STAMP)

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

test: install
	$(BIN)/pytest -q

demo: install
	$(BIN)/nautlive demo

wheel: install
	$(BIN)/pip wheel --no-deps --quiet -w dist .

bench: install
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check nautlive tests bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist
