"""The opt-in Spark lane (`make test-spark`): the dbt project built on local Spark from the
sources of a DuckDB build of the test warehouse, every model compared with DuckDB's. It runs in
its own environment (.venv-spark), so nothing here is collected by pytest or imported by Weixi."""
