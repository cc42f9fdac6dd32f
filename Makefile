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

.PHONY: run test test-spark install dev docs lint bench clean

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

# The opt-in Spark lane (not part of `make test`: about 14 min): its own environment with pyspark
# and dbt-spark beside Weixi itself (its model assets run on Spark too), the test warehouse
# built with DuckDB and again on local Spark, every model and model asset's table compared
# (tests/spark_lane/README.md). SPARK_LANE_DIR holds its scratch files and report.
SPARK_VENV := .venv-spark
SPARK_LANE_DIR ?= data/spark_lane

$(SPARK_VENV)/.installed: tests/spark_lane/constraints.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --upgrade pip
	$(SPARK_VENV)/bin/pip install --quiet -c constraints.txt -c tests/spark_lane/constraints.txt \
		-e ".[spark]" "dbt-spark[session]"
	touch $@

test-spark: install $(SPARK_VENV)/.installed
	$(SPARK_VENV)/bin/python -m tests.spark_lane.lane --scratch $(SPARK_LANE_DIR) --weixi $(BIN)/weixi

dev: install
	$(BIN)/weixi dev

docs: install
	$(BIN)/weixi docs

bench: install
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf data dbt_project/target dbt_project/logs
