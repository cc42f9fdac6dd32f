"""`weixi docs` on Spark: dbt's docs generated against the Spark Connect server named by
WEIXI_SPARK_CONNECT_URL (its catalogue is the server's), refused by name without one. The
generation itself on a real server is the Spark lane's (tests/spark_lane/server_run.py)."""

import os

import pytest
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.defs.dbt.resource import WeixiDbt
from orchestration.settings import get_settings

URL = "sc://localhost:15123"


@pytest.fixture
def on_spark(monkeypatch, tmp_path):
    monkeypatch.setenv("WEIXI_ENGINE", "spark")
    monkeypatch.setenv("WEIXI_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("WEIXI_SPARK_SERVER_PORT", "15123")
    monkeypatch.delenv("WEIXI_SPARK_CONNECT_URL", raising=False)
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


class _Invocation:
    def wait(self) -> None:
        pass

    def is_successful(self) -> bool:
        return True


def test_docs_on_spark_without_a_server_refuses_by_name_before_starting_dbt(on_spark, tmp_path):
    on_spark.setattr(WeixiDbt, "cli", _no_dbt)

    result = CliRunner().invoke(main, ["docs"])

    assert result.exit_code == 1
    assert "`weixi docs` needs a Spark Connect server" in result.output
    assert f"WEIXI_SPARK_CONNECT_URL={URL}" in result.output
    assert list(tmp_path.iterdir()) == []


def test_docs_on_spark_start_dbt_on_the_server_with_the_spark_target(on_spark, tmp_path):
    started = []

    def cli(self, arguments, **options):
        remote = os.environ.get("SPARK_REMOTE")
        started.append((self.target, list(arguments), remote, options["target_path"]))
        return _Invocation()

    on_spark.setenv("WEIXI_SPARK_CONNECT_URL", URL)
    on_spark.setattr(WeixiDbt, "cli", cli)

    # No control file yet is no reason to refuse: the catalogue is the server's.
    result = CliRunner().invoke(main, ["docs", "--out", str(tmp_path / "docs")])

    assert result.exit_code == 0, result.output
    [(target, arguments, remote, folder)] = started
    assert (target, arguments[:3], remote) == ("spark", ["docs", "generate", "--static"], URL)
    assert "SPARK_REMOTE" not in os.environ, "set for the dbt process only"
    assert folder == tmp_path / "docs"
    assert f"wrote {tmp_path / 'docs' / 'static_index.html'}" in result.output


def _no_dbt(*arguments: object, **options: object) -> None:
    raise AssertionError("dbt started on spark without a server")
