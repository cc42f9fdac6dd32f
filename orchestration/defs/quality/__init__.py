"""Data-quality checks, source freshness and failure alerts: thin Dagster wrappers around the
``data_quality`` library."""
