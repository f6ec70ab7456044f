# Two commands for a newcomer: `make demo` and `make test`. Both create their own virtualenv.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
# Empty: the newest Airflow that pip resolves. CI also runs the oldest supported: AIRFLOW_VERSION=3.1.8.
AIRFLOW_VERSION ?=
BIN := $(VENV)/bin
# This machine's pip config points at local mirrors that may be absent; those warnings are noise.
PIP_QUIET := 2> >(grep -v "^WARNING: Location" >&2)

.PHONY: install test lint typecheck unit demo bench reliability dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]" $(if $(AIRFLOW_VERSION),"apache-airflow==$(AIRFLOW_VERSION)") $(PIP_QUIET)
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit
	@echo "make test: all checks passed on Airflow $$($(BIN)/python -c 'import airflow; print(airflow.__version__)')"

demo: install
	$(BIN)/python scripts/demo.py

# About eight minutes on two cores; run.py goes last: it writes benchmarks/results.md with every
# table (the others write their own .md first) and prints it.
bench: install
	$(BIN)/python benchmarks/schedule.py
	$(BIN)/python benchmarks/rate_budget.py
	$(BIN)/python benchmarks/triggerer.py
	$(BIN)/python benchmarks/imports.py --repeats 5
	$(BIN)/python benchmarks/run.py

# The reliability table: the tests of tests/reliability and the faults on real Airflow components
# (tests/deployment/test_real_faults.py, about three minutes), written up as docs/reliability.md.
reliability: install
	mkdir -p build
	$(BIN)/pytest tests/reliability tests/deployment/test_real_faults.py -p no:cacheprovider \
		--reliability-report build/reliability.jsonl
	$(BIN)/python scripts/reliability_report.py build/reliability.jsonl docs/reliability.md

# The sdist, then the wheel built from that sdist (so nothing the wheel needs is missing from the
# sdist), into dist/. `pip install dist/airflow_provider_dmjy-*.whl` installs it anywhere.
dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist . $(PIP_QUIET)

clean:
	rm -rf $(VENV) .venv-airflow-* .mypy_cache .ruff_cache .pytest_cache airflow-home demo-output build dist
