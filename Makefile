# Two entry points (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean chromium

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Set up, run the main job (a 10,000-draw forecast of the all-levers preset on an embedded
## local Ray), then serve the API and the explorer page on http://127.0.0.1:8000 (Ctrl-C stops).
run: $(STAMP)
	$(BIN)/forecaster forecast --preset high-level-opening --draws 10000 --executor ray --out data/quickstart
	$(BIN)/forecaster serve

## Set up, then run linters and the whole test suite (the browser test needs Debian's chromium).
test: $(STAMP) chromium
	$(BIN)/ruff check forecaster api cluster tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

# Headless Chromium for the explorer's browser test (Playwright cannot download browsers here).
chromium:
	@command -v $${CHROMIUM:-chromium} >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
	    || { echo "install Debian's chromium (apt-get install chromium) or set CHROMIUM=/path"; exit 1; }

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
