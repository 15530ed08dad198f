# The hub's whole set-up is `make run` and `make test`; each prepares what it needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format bench bench-pg venv system-deps clean

run: venv system-deps
	@scripts/run.sh

# Long suites (full chaos, OCR sweeps) are marked slow and run by `make bench`, not here.
PYTEST_ARGS ?= -m "not slow"

test: venv system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv system-deps
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

bench-pg: venv system-deps
	$(BIN)/python benchmarks/run_all.py --pg $(BENCH_ARGS)

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements/dev.txt
	@touch $@

system-deps:
	@scripts/ensure-system-deps.sh

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
