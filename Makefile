# Weixi: `make run` sets up and runs the demo pipeline; `make test` runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CUSTOMERS ?= 5000
DAYS ?= 730
# The tests run on this many processes; tests sharing a warehouse fixture stay on one of them.
TEST_WORKERS ?= 2
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_DISABLE_TELEMETRY := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: run test install dev docs lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/weixi generate --customers $(CUSTOMERS) --days $(DAYS)
	$(BIN)/weixi run

test: install
	$(BIN)/ruff check orchestration warehouse ingest demo_data serving ml data_quality activation reporting tests benchmarks
	$(BIN)/ruff format --check orchestration warehouse ingest demo_data serving ml data_quality activation reporting tests benchmarks
	$(BIN)/weixi contract --check
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

dev: install
	$(BIN)/weixi dev

docs: install
	$(BIN)/weixi docs

bench: install
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf data dbt_project/target dbt_project/logs
