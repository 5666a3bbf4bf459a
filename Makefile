# PY=/path/to/python3.12 picks the interpreter; otherwise scripts/find-python looks for a Python >= 3.12.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint clean wheel

install: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
		echo "removing $(VENV): made with a Python older than 3.12"; rm -rf $(VENV); fi
	@python=$$(PY="$(PY)" scripts/find-python) || exit 1; [ -x $(BIN)/python ] || $$python -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,ib]"
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
