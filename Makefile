# Two entry points (see README): `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PWT    := .cache/pwt

.PHONY: run test test-fast lint bench clean chromium pwt

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
test: $(STAMP) chromium pwt
	$(BIN)/ruff check forecaster api cluster tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

## The fast subset while working: engine, model, data, scoring and API unit tests (no Ray, no browser).
test-fast: $(STAMP) pwt
	$(BIN)/pytest -m "not slow" -q

# Headless Chromium for the explorer's browser test (Playwright cannot download browsers here).
chromium:
	@command -v $${CHROMIUM:-chromium} >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
	    || { echo "install Debian's chromium (apt-get install chromium) or set CHROMIUM=/path"; exit 1; }

# Penn World Table 9.1, the source of forecaster/data/pwt91_extract.csv (docs/data.md): Debian's
# r-cran-pwt9 .deb, unpacked without installing R (scripts/build_pwt_extract.py reads it).
pwt:
	@[ -f $(PWT)/usr/lib/R/site-library/pwt9/data/Rdata.rdb ] || { mkdir -p $(PWT) && cd $(PWT) && rm -f r-cran-pwt9_*.deb \
	    && { apt-get download -q r-cran-pwt9 >/dev/null 2>&1 \
	         || { [ "$$(id -u)" = 0 ] && apt-get update -q >/dev/null && apt-get download -q r-cran-pwt9 >/dev/null 2>&1; }; } \
	    && dpkg-deb -x r-cran-pwt9_*.deb .; } \
	    || { echo "fetch Debian's r-cran-pwt9 (apt-get download r-cran-pwt9) and unpack it into $(PWT) (dpkg-deb -x)"; exit 1; }

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
