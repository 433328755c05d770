# sekvens: `make run` serves the API with demo data, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format schema screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/sekvens serve --demo

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check sekvens tests examples bench
	$(BIN)/ruff format --check sekvens tests examples bench
	$(BIN)/lint-imports
	$(BIN)/mypy sekvens

format: install
	$(BIN)/ruff check --fix sekvens tests examples bench
	$(BIN)/ruff format sekvens tests examples bench

schema: install
	$(BIN)/sekvens schema > schema.graphql

# The web app's main screens as PNGs in docs/screenshots/ (docs/web-app.md), from a headless
# Chromium against `sekvens serve` with the demo data.
screenshots: install
	$(BIN)/python -m tests.browser.screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: bench bench-smoke

# Benchmarks (docs/benchmarks.md): SQLite, plus PostgreSQL where SEKVENS_BENCH_POSTGRES_URL is set.
bench: install
	$(BIN)/python -c "import pyinstrument" 2>/dev/null || $(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.run

# Every scenario at tiny sizes, seconds long: checks that each completes and writes figures.
bench-smoke: install
	$(BIN)/python -m bench.run --smoke

.PHONY: fuzz

# A long fuzzing run (docs/security.md), and a long exploration of the runtime's life cycles
# (docs/concepts.md): SEKVENS_FUZZ_SCALE times the cases `make test` runs.
fuzz: install
	SEKVENS_FUZZ_SCALE=$${SEKVENS_FUZZ_SCALE:-50} $(BIN)/pytest tests/security/test_fuzz.py \
		-k "operations or variables or broken"
	SEKVENS_FUZZ_SCALE=$${SEKVENS_FUZZ_SCALE:-50} $(BIN)/pytest tests/api/test_life_cycle_states.py
