"""Resources: the warehouse file, the landing folder and dbt.

They are kept apart from the asset logic so that tests can point every asset at a DuckDB file
and landing folder of their own, and so that a run never opens the warehouse outside the
`connect()` block (DuckDB lets only one process hold the file for writing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.defs.dbt.project import dbt_resource
from orchestration.settings import WeixiSettings


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file."""

    path: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path)
        try:
            yield con
        finally:
            con.close()


class Landing(dg.ConfigurableResource):
    """The landing folder: ``<root>/<source>/<YYYY-MM-DD>/<files>``."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


def build_resources(settings: WeixiSettings) -> dict[str, dg.ConfigurableResource]:
    """The resources of a Weixi run for ``settings``."""
    return {
        "warehouse": Warehouse(path=str(settings.warehouse)),
        "landing": Landing(root=str(settings.landing)),
        "dbt": dbt_resource(),
    }
