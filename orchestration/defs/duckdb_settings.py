"""DuckDB's memory limit, threads and spill folder, as one resource config that both the
warehouse connections and dbt's connection carry, so every DuckDB of a run has the same bounds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import duckdb

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


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGTP]?i?B|bytes)\s*", re.IGNORECASE)
_UNIT_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}


def size_bytes(text: str) -> float:
    """The bytes of a size as DuckDB takes and shows it (``1GB``, ``953.6 MiB``, ``0 bytes``).

    Raises ValueError for any other text."""
    found = _SIZE.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size such as 1GB or 512MiB")
    unit = found[2].upper().removesuffix("BYTES").removesuffix("B")
    base = 1024 if unit.endswith("I") else 1000
    return float(found[1]) * base ** _UNIT_POWERS[unit.removesuffix("I")]


@contextmanager
def lowered_memory_limit(
    con: duckdb.DuckDBPyConnection, limit: str | None, configured: str | None
) -> Iterator[None]:
    """DuckDB's memory limit lowered to ``limit`` within the block, then set back to
    ``configured`` (the connection's configured limit; None: DuckDB's default).

    Never raised: the run's own limit still bounds the work. DuckDB's limit is the database's,
    shared by every connection of the process to the file, so it is set back exactly (as the
    configured text: DuckDB shows a limit rounded, and setting that again would lower it)."""
    if limit is None:
        yield
        return
    [(before,)] = con.execute("select current_setting('memory_limit')").fetchall()
    if size_bytes(limit) >= size_bytes(before):
        yield
        return
    con.execute("set memory_limit = ?", [limit])
    try:
        yield
    finally:
        if configured is None:
            con.execute("reset memory_limit")
        else:
            con.execute("set memory_limit = ?", [configured])
