"""DuckDB's memory limit, threads and spill folder come from the settings and reach every DuckDB
of a run: the warehouse resource's connections and dbt's connection."""

import json
import os

import pytest
import yaml
from dbt.cli.main import dbtRunner

from orchestration.defs.dbt.resource import dbt_resource
from orchestration.defs.duckdb_settings import size_bytes
from orchestration.settings import DBT_PROJECT_DIR, WeixiSettings
from tests.support import weixi_resources

SETTINGS_QUERY = (
    "select current_setting('memory_limit'), current_setting('threads'), "
    "current_setting('temp_directory')"
)


def test_the_defaults_bound_memory_and_spill_beside_the_warehouse(tmp_path):
    settings = WeixiSettings(warehouse=tmp_path / "w.duckdb").resolved()
    assert settings.duckdb_memory_limit == "33%"
    assert settings.duckdb_threads == os.cpu_count()
    assert settings.duckdb_temp_directory == tmp_path.resolve() / "duckdb_tmp"


def test_the_profile_falls_back_to_the_settings_memory_limit():
    # A plain `dbt build` (no vars, no WEIXI_DUCKDB_MEMORY_LIMIT) keeps the settings' default.
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    memory_limit = profile["weixi"]["outputs"]["dev"]["config_options"]["memory_limit"]
    default = WeixiSettings.model_fields["duckdb_memory_limit"].default
    assert f"'WEIXI_DUCKDB_MEMORY_LIMIT', '{default}'" in memory_limit, memory_limit


def test_values_set_on_the_resource_reach_a_warehouse_connection(tmp_path):
    resources = weixi_resources(
        tmp_path / "w.duckdb",
        tmp_path / "landing",
        duckdb_memory_limit="1GB",
        duckdb_threads=1,
        duckdb_temp_directory=tmp_path / "spill",
    )
    with resources["warehouse"].connect() as con:
        assert con.execute(SETTINGS_QUERY).fetchone() == ("953.6 MiB", 1, str(tmp_path / "spill"))


def test_values_set_on_the_resource_reach_dbts_connection(tmp_path):
    settings = WeixiSettings(
        warehouse=tmp_path / "w.duckdb",
        duckdb_memory_limit="1GB",
        duckdb_threads=1,
        duckdb_temp_directory=tmp_path / "spill",
    ).resolved()
    dbt = dbt_resource(settings)
    variables = json.dumps(dbt.vars_for(str(settings.warehouse)))
    invocation = dbt.cli(["run-operation", "log_duckdb_settings", "--vars", variables])
    messages = [e.raw_event["info"]["msg"] for e in invocation.stream_raw_events()]
    (logged,) = [m for m in messages if m.startswith("duckdb_settings ")]
    assert json.loads(logged.removeprefix("duckdb_settings ")) == {
        "memory_limit": "953.6 MiB",
        "threads": 1,
        "temp_directory": str(tmp_path / "spill"),
    }


def test_a_model_after_a_spill_reuses_the_spill_folder(tmp_path):
    # dbt-duckdb opens a cursor per model; settings applied per cursor would set temp_directory
    # again after the first model spilled, which DuckDB refuses. The profile sets it once.
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: spill\nversion: '1.0'\nprofile: weixi\nconfig-version: 2\n"
        "models: {+materialized: table}\n",
        encoding="utf-8",
    )
    (project / "models" / "sorted.sql").write_text(
        "select md5(range::varchar) as s from range(3000000) order by s", encoding="utf-8"
    )
    (project / "models" / "after.sql").write_text(
        "select count(*) as n from {{ ref('sorted') }}", encoding="utf-8"
    )
    spill = tmp_path / "spill"
    variables = {
        "warehouse_path": str(tmp_path / "w.duckdb"),
        "duckdb_memory_limit": "64MB",
        "duckdb_threads": 1,
        "duckdb_temp_directory": str(spill),
    }
    result = dbtRunner().invoke(
        [
            "run",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--threads",
            "1",
            "--vars",
            json.dumps(variables),
        ]
    )
    assert spill.exists(), "the first model did not spill; the test no longer proves anything"
    assert result.success, result.exception or [r.message for r in result.result]


def test_the_load_memory_limit_reaches_the_loader_through_the_landing_resource(tmp_path):
    assert WeixiSettings().load_memory_limit == "1GB"
    resources = weixi_resources(
        tmp_path / "w.duckdb", tmp_path / "landing", duckdb_memory_limit="2GB"
    )
    warehouse, limit = resources["warehouse"], resources["landing"].memory_limit
    with warehouse.connect() as other:
        # The limit is the database's: another connection of the process sees it lowered while
        # the load runs, and the configured limit, exactly, afterwards.
        with warehouse.connect(memory_limit=limit) as con:
            assert con.execute(SETTINGS_QUERY).fetchone()[0] == "953.6 MiB"
            assert other.execute(SETTINGS_QUERY).fetchone()[0] == "953.6 MiB"
        assert other.execute(SETTINGS_QUERY).fetchone()[0] == "1.8 GiB"
    with warehouse.connect(memory_limit=limit) as con:
        pass
    with warehouse.connect() as con:
        assert con.execute(SETTINGS_QUERY).fetchone()[0] == "1.8 GiB"


def test_the_load_memory_limit_never_raises_duckdbs(tmp_path):
    resources = weixi_resources(
        tmp_path / "w.duckdb", tmp_path / "landing", duckdb_memory_limit="400MB"
    )
    with resources["warehouse"].connect(memory_limit="1GB") as con:
        assert con.execute(SETTINGS_QUERY).fetchone()[0] == "381.4 MiB"


@pytest.mark.parametrize(
    ("text", "size"),
    [("1GB", 1e9), ("953.6 MiB", 953.6 * 2**20), (" 2 tib ", 2 * 2**40), ("0 bytes", 0)],
)
def test_sizes_read_as_duckdb_writes_them(text, size):
    assert size_bytes(text) == size
