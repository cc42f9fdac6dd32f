"""DuckDB's memory limit, threads and spill folder, as one resource config that both the
warehouse connections and dbt's connection carry, so every DuckDB of a run has the same bounds."""

from __future__ import annotations

from typing import Any

import dagster as dg

from orchestration.settings import WeixiSettings


class DuckDBSettings(dg.Config):
    """DuckDB settings of a connection; a value left at None keeps DuckDB's own default."""

    memory_limit: str | None = None
    threads: int | None = None
    temp_directory: str | None = None

    @classmethod
    def from_settings(cls, settings: WeixiSettings) -> DuckDBSettings:
        """The configured values of ``settings`` (``WEIXI_DUCKDB_*``)."""
        return cls(
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
            temp_directory=str(settings.duckdb_temp_directory),
        )

    def config(self) -> dict[str, Any]:
        """The ``config`` of ``duckdb.connect``: the values that are set."""
        return {k: v for k, v in self.model_dump().items() if v is not None}
