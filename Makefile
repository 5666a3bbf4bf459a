PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint clean wheel

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
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
