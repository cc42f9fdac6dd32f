"""The local Spark Connect server's command (warehouse/spark_server.py, `weixi spark-server`):
what it starts with, and what it refuses. Starting one for real is the Spark lane's
(tests/spark_lane/server_run.py): it needs pyspark and a JVM."""

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestration.cli import local_spark_server, main
from orchestration.settings import WeixiSettings, get_settings
from warehouse import spark_server
from warehouse.spark_server import SparkServer, SparkServerError


def _server(tmp_path: Path) -> SparkServer:
    return SparkServer(port=15123, folder=tmp_path / "server", warehouse_dir=tmp_path / "tables")


def test_the_server_has_a_hive_catalog_on_a_metastore_in_its_folder_and_utc(tmp_path):
    command = _server(tmp_path).command(Path("/spark"))

    conf = dict(word.split("=", 1) for word in command if "=" in word)
    assert command[:3] == ["/spark/bin/spark-submit", "--class", spark_server.SERVER_CLASS]
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert (
        str(tmp_path / "server" / "metastore_db")
        in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    )
    assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "tables")
    assert conf["spark.connect.grpc.binding.port"] == "15123"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.hive.metastorePartitionPruning"] == "false"
    assert conf["spark.sql.filesourceTableRelationCacheSize"] == "0"


def test_the_settings_place_the_server_beside_the_warehouse(tmp_path):
    settings = WeixiSettings(warehouse=tmp_path / "w.duckdb", spark_server_port=15124).resolved()

    server = local_spark_server(settings)

    assert server.folder == tmp_path / "spark_server"
    assert server.url == "sc://localhost:15124"
    assert server.warehouse_dir == settings.spark_warehouse_dir


def test_a_pid_file_naming_another_process_is_no_server(tmp_path):
    server = _server(tmp_path)
    server.folder.mkdir(parents=True)
    server.pid_path.write_text(f"{os.getpid()}\n")  # this test's process: not a Spark server

    assert server.running_pid() is None
    assert server.stop() is False
    assert not server.pid_path.exists()


def test_without_pyspark_the_server_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(spark_server.importlib.util, "find_spec", lambda name: None)

    with pytest.raises(SparkServerError, match=r"pyspark is not installed.*\.\[spark\]"):
        spark_server.pyspark_home()


def test_without_java_the_server_is_refused_by_name(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark_server.shutil, "which", lambda name: None)

    with pytest.raises(SparkServerError, match="no Java found"):
        spark_server.java_home()


def test_weixi_spark_server_status_says_when_none_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("WEIXI_WAREHOUSE", str(tmp_path / "w.duckdb"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["spark-server", "status"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert f"no Spark Connect server of {tmp_path / 'spark_server'} is running" in result.output
