# Two entry points (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up, then run the main job: a 10,000-draw forecast of the all-levers preset.
run: $(STAMP)
	$(BIN)/forecaster forecast --preset high-level-opening --draws 10000 --out data/quickstart

## Set up, then run linters and the whole test suite.
test: $(STAMP)
	$(BIN)/ruff check forecaster api cluster tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
