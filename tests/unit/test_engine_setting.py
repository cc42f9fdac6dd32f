"""WEIXI_ENGINE: DuckDB by default, Spark on request, anything else refused by name; the engine
picks the dbt target, and the commands refuse what Spark cannot run (yet)."""

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from orchestration.cli import main
from orchestration.defs.dbt.resource import dbt_resource
from orchestration.settings import DBT_PROJECT_DIR, WeixiSettings, get_settings


def _profile_outputs() -> dict:
    profiles = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    return profiles["weixi"]["outputs"]


def test_duckdb_is_the_default_and_builds_with_the_duckdb_target(monkeypatch):
    monkeypatch.delenv("WEIXI_ENGINE", raising=False)
    settings = WeixiSettings()

    assert settings.engine == "duckdb"
    target = dbt_resource(settings).target
    assert target == "dev"
    assert _profile_outputs()[target]["type"] == "duckdb"


def test_spark_builds_with_the_spark_session_target_in_duckdbs_schemas(monkeypatch):
    monkeypatch.setenv("WEIXI_ENGINE", "spark")
    settings = WeixiSettings()

    assert settings.engine == "spark"
    target = dbt_resource(settings).target
    outputs = _profile_outputs()
    assert target == "spark"
    assert outputs[target]["type"] == "spark"
    assert outputs[target]["method"] == "session"
    assert outputs[target]["schema"] == outputs["dev"]["schema"]


@pytest.mark.parametrize("value", ["postgres", "Spark", ""])
def test_another_engine_is_refused_naming_the_setting_and_the_allowed_values(monkeypatch, value):
    monkeypatch.setenv("WEIXI_ENGINE", value)

    with pytest.raises(ValidationError) as refused:
        WeixiSettings()

    assert f"WEIXI_ENGINE={value!r}" in str(refused.value)
    assert "duckdb | spark" in str(refused.value)


@pytest.mark.parametrize("command", ["run", "backfill"])
def test_weixi_run_on_spark_without_a_server_refuses_by_name_before_touching_anything(
    monkeypatch, tmp_path, command
):
    monkeypatch.setenv("WEIXI_ENGINE", "spark")
    monkeypatch.delenv("WEIXI_SPARK_CONNECT_URL", raising=False)
    monkeypatch.setenv("WEIXI_SPARK_SERVER_PORT", "15123")
    monkeypatch.setenv("WEIXI_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    get_settings.cache_clear()
    arguments = [command] + (["--start", "2025-01-01", "--end", "2025-01-02"] * (command != "run"))
    try:
        result = CliRunner().invoke(main, arguments)
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert "`weixi run` needs a Spark Connect server" in result.output
    assert "`weixi spark-server start`" in result.output
    assert "WEIXI_SPARK_CONNECT_URL=sc://localhost:15123" in result.output
    assert list(tmp_path.iterdir()) == []


def test_weixi_dev_on_spark_needs_a_server_before_starting_the_ui(monkeypatch):
    monkeypatch.setenv("WEIXI_ENGINE", "spark")
    monkeypatch.delenv("WEIXI_SPARK_CONNECT_URL", raising=False)
    monkeypatch.setattr("os.execve", _no_exec)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["dev"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert "`weixi dev` needs a Spark Connect server" in result.output


def test_weixi_dev_on_spark_with_a_server_starts_the_ui(monkeypatch, tmp_path):
    started = []
    monkeypatch.setenv("WEIXI_ENGINE", "spark")
    monkeypatch.setenv("WEIXI_SPARK_CONNECT_URL", "sc://localhost:15123")
    monkeypatch.setenv("WEIXI_DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setattr("os.execve", lambda path, arguments, env: started.append(arguments))
    monkeypatch.setattr("signal.signal", lambda *arguments: None)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["dev", "--port", "3123"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert started and started[0][1:] == ["dev", "--host", "127.0.0.1", "--port", "3123"]


def _no_exec(*arguments: object) -> None:
    raise AssertionError("`weixi dev` started the UI on spark")
