"""The lane's last step: the pipeline run on a local Spark Connect server, as on a cluster, as a
night of `weixi run` then a `weixi backfill` of the last days, on both engines.

On DuckDB first (``scratch/duckdb_backfill``, the lane's landing folder): ``weixi run`` up to
the day before the last :data:`BACKFILL_DAYS` days, then ``weixi backfill`` over them. Then a
server of its own (``warehouse.spark_server``, Hive catalog, Derby metastore, under
``scratch/spark_server``) is started, and the same two commands (the Spark environment's, with
``WEIXI_ENGINE=spark``, its control file, model registry and outputs under ``scratch/spark_run``)
run the whole pipeline there. Then every dbt model and the model assets' tables that Spark
holds, the tables activation and the checks write, every export file, the serving file's tables
and the report are compared with the DuckDB folder's, and the server is stopped (also when
something failed)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import SparkSession

from tests.spark_lane.assets_on_spark import compare_files, compare_written_tables, without_clock
from tests.spark_lane.batches import check_read_batches
from tests.spark_lane.compare import ModelComparison, compare_tables
from tests.spark_lane.duckdb_build import DEMO_END, REPO, shop_environment
from tests.spark_lane.stored_as import check_rewritten_elsewhere, check_stored_as
from warehouse.spark_server import SparkServer
from warehouse.spark_sources import WRITTEN_ON_SPARK

LABEL = "(run + backfill)"
RUN_FOLDER = "spark_run"
"""The run's folder in the scratch folder: its control file, model registry and outputs."""
DOCS_FOLDER = "spark_docs"
"""Where `weixi docs` on the server writes its page and catalog.json."""
DUCKDB_FOLDER = "duckdb_backfill"
"""The same nights on DuckDB: the folder of their warehouse, model registry and outputs."""
BACKFILL_DAYS = 3
"""The last days of the landing folder, backfilled after a run up to the day before them."""
_SCANS = re.compile(
    r"^connect\(\): (?P<reads>\d+) reads through Spark, (?P<rows>[\d,]+) rows in "
    r"(?P<seconds>[\d.]+) s"
)
_CONNECT = re.compile(
    r"^connect\(\) \(spark_reads=(?P<reads>\w+)\): \d+ Spark tables through Spark, "
    r"(?P<unreadable>\d+) unreadable"
)
"""What ``SparkWarehouse.connect`` logs: what it read through Spark (``streams_read``); how it
was told to read Spark's tables and how many it could not read."""
BACKFILL_READS = {"WEIXI_SPARK_READS": "through_spark"}
"""On this machine every Spark table is local Parquet, which ``connect()`` reads from its files
(the run's first night); told to read them through Spark, the backfill's activation, checks,
publish and report take the path of a cluster's object-store or Delta tables."""
COPIED_SOURCES = ("governance.suppressions", "ml.text_sentiment")
"""Sources the run writes in its control file and copies into Spark before dbt (bridge 1)."""


def local_server(scratch: Path) -> SparkServer:
    """The lane's Spark Connect server, on a free port, its files under ``scratch``."""
    folder = scratch / "spark_server"
    return SparkServer(port=_free_port(), folder=folder, warehouse_dir=folder / "warehouse")


def nights() -> list[list[str]]:
    """The `weixi` commands of the run: up to the day before the backfill, then the backfill of
    the last :data:`BACKFILL_DAYS` days of the landing folder."""
    last_day = date.fromisoformat(DEMO_END)
    first = last_day - timedelta(days=BACKFILL_DAYS - 1)
    return [
        ["run", "--end", str(first - timedelta(days=1))],
        ["backfill", "--start", str(first), "--end", str(last_day)],
    ]


def duckdb_environment(scratch: Path) -> dict[str, str]:
    """The DuckDB nights' environment: the lane's landing folder, everything they write under
    ``scratch/duckdb_backfill``."""
    return {**shop_environment(scratch / DUCKDB_FOLDER), "WEIXI_LANDING": str(scratch / "landing")}


def run_environment(scratch: Path, server: SparkServer) -> dict[str, str]:
    """The run's environment: the lane's landing folder, everything it writes under
    ``scratch/spark_run``, on Spark at ``server``."""
    run = scratch / RUN_FOLDER
    return {
        **shop_environment(run),
        "WEIXI_ENGINE": "spark",
        "WEIXI_LANDING": str(scratch / "landing"),
        "WEIXI_SPARK_CONNECT_URL": server.url,
        "WEIXI_SPARK_SERVER_PORT": str(server.port),
        "WEIXI_SPARK_WAREHOUSE_DIR": str(server.warehouse_dir),
    }


def run_nights(
    weixi: Path, environment: dict[str, str], log: Path, backfill: dict[str, str] | None = None
) -> str:
    """The commands of :func:`nights` with ``weixi`` in ``environment`` (the backfill's with
    ``backfill`` added), their output in ``log``; the error of the first that failed (the later
    ones are not run), or an empty text."""
    with log.open("w") as output:
        for arguments in nights():
            if arguments[0] == "backfill":
                environment = {**environment, **(backfill or {})}
            output.write(f"$ weixi {' '.join(arguments)}\n")
            output.flush()
            done = subprocess.run(
                [str(weixi), *arguments],
                env=environment,
                cwd=REPO,
                stdout=output,
                stderr=subprocess.PIPE,
                text=True,
            )
            output.write(done.stderr)
            if done.returncode:
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                return f"weixi {arguments[0]}: {last}"
    return ""


def run_on_duckdb(weixi: Path, scratch: Path) -> str:
    """The nights on DuckDB with ``weixi`` (the main environment's); their error, or ''."""
    return run_nights(weixi, duckdb_environment(scratch), scratch / f"{DUCKDB_FOLDER}.log")


def run_and_compare(scratch: Path, manifest: Any) -> tuple[list[ModelComparison], str]:
    """Start the server, run the nights there, compare with the DuckDB nights' folder (made by
    :func:`run_on_duckdb`), stop the server. Returns the comparison lines and the run's error
    (empty when it passed)."""
    server = local_server(scratch)
    server.start()
    try:
        weixi = Path(sys.executable).parent / "weixi"
        environment = run_environment(scratch, server)
        error = run_nights(weixi, environment, scratch / "spark_run.log", BACKFILL_READS)
        docs = check_docs(weixi, environment, scratch / DOCS_FOLDER, manifest)
        status = "error" if error else "success"
        outputs = {"duckdb": scratch / DUCKDB_FOLDER, "spark": scratch / RUN_FOLDER}
        controls = {engine: folder / "warehouse.duckdb" for engine, folder in outputs.items()}
        spark = SparkSession.builder.remote(server.url).getOrCreate()
        try:
            lines = [
                *compare_run(spark, controls["duckdb"], manifest),
                check_read_batches(spark, "Spark Connect"),
                docs,
                check_first_attempts(scratch / RUN_FOLDER / "dagster_home"),
                check_reads_through_spark(scratch / RUN_FOLDER / "dagster_home"),
                *check_stored_as(spark, scratch, "Spark Connect", server.url),
                check_rewritten_elsewhere(spark, scratch, "Spark Connect", server.url),
            ]
            lines += compare_written_tables(controls, spark, status, LABEL)
            return lines + compare_files(outputs, status, LABEL), error
        finally:
            spark.stop()
    finally:
        server.stop()


def check_first_attempts(dagster_home: Path) -> ModelComparison:
    """One line: every step of the Spark nights passed at its first attempt. A step that passes
    only when Dagster retries it can leave tables that still compare equal (segment_history
    read its own table after Spark had dropped it, and its retry built it without the earlier
    value quadrants, empty in the lane's short shop anyway)."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    failed = {dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_FAILURE}
    steps, retried = 0, set()
    for record in instance.get_run_records():
        for event in instance.all_logs(record.dagster_run.run_id):
            if event.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS:
                steps += 1
            elif event.dagster_event_type in failed:
                retried.add(event.step_key)
    match = "yes" if not retried else "no: failed at a first attempt: " + ", ".join(sorted(retried))
    return ModelComparison(f"steps at their first attempt {LABEL}", "success", steps, steps, match)


def check_reads_through_spark(dagster_home: Path) -> ModelComparison:
    """One line: which way the Spark nights' ``connect()`` calls read Spark's tables (from the
    runs' logs: ``SparkWarehouse.connect``): the run from the files, the backfill through Spark
    (:data:`BACKFILL_READS`), what the streams read, and that no table was unreadable."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(dagster_home))
    messages = [
        event.user_message
        for record in instance.get_run_records()
        for event in instance.all_logs(record.dagster_run.run_id)
        if event.dagster_event is None
    ]
    connects = [found for message in messages if (found := _CONNECT.match(message))]
    ways = Counter(found["reads"] for found in connects)
    unreadable = [found[0] for found in connects if found["unreadable"] != "0"]
    scans = [found for message in messages if (found := _SCANS.match(message))]
    reads = sum(int(found["reads"]) for found in scans)
    rows = sum(int(found["rows"].replace(",", "")) for found in scans)
    seconds = sum(float(found["seconds"]) for found in scans)
    if unreadable:
        match = f"no: {unreadable[0]}"
    elif not ways["auto"] or not ways["through_spark"] or not reads:
        match = f"no: connect() calls {dict(ways)}, {reads} reads through Spark logged"
    else:
        match = "yes"
    line = (
        f"connect(): run from files ({ways['auto']}), backfill through Spark "
        f"({ways['through_spark']}: {reads} table reads, {rows:,} rows in {seconds:.1f} s)"
    )
    return ModelComparison(line, "success", len(connects), len(connects) - len(unreadable), match)


def check_docs(
    weixi: Path, environment: dict[str, str], folder: Path, manifest: Any
) -> ModelComparison:
    """`weixi docs --out folder` on the server: one line of the lane's table, saying whether
    its catalog.json (the server's catalogue) lists every mart of ``manifest``."""
    marts = {
        f"{node.schema}.{node.alias}"
        for node in manifest.nodes.values()
        if node.resource_type == "model" and node.schema == "marts"
    }
    line = "weixi docs (marts in catalog.json)"
    done = subprocess.run(
        [str(weixi), "docs", "--out", str(folder)],
        env=environment,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        error = (done.stderr.strip().splitlines() or ["?"])[-1]
        return ModelComparison(line, "error", len(marts), None, f"no: {error[:300]}")
    catalog = json.loads((folder / "catalog.json").read_text())
    listed = {
        f"{entry['metadata']['schema']}.{entry['metadata']['name']}"
        for entry in catalog["nodes"].values()
    }
    missing = sorted(marts - listed)
    match = f"no: not listed: {', '.join(missing)}" if missing else "yes"
    return ModelComparison(line, "success", len(marts), len(marts & listed), match)


def compare_run(spark: SparkSession, warehouse: Path, manifest: Any) -> list[ModelComparison]:
    """Every dbt model, the model assets' tables and the copied sources as the run left them on
    Spark, against the DuckDB build's."""
    models = sorted(
        f"{node.schema}.{node.alias}"
        for node in manifest.nodes.values()
        if node.resource_type == "model"
    )
    tables = [*models, *sorted(WRITTEN_ON_SPARK), *COPIED_SOURCES]
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return [_compared(spark, connection, table) for table in tables]


def _compared(
    spark: SparkSession, connection: duckdb.DuckDBPyConnection, table: str
) -> ModelComparison:
    schema, name = table.split(".")
    held = connection.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    ours = connection.table(f'"{schema}"."{name}"').to_arrow_table() if held else None
    theirs = spark.table(table).toArrow() if spark.catalog.tableExists(table) else None
    if theirs is None:
        match = "no: not on Spark"
    elif ours is None:
        match = "no: not in the DuckDB build"
    else:
        # Two runs: what each took from the clock (when it recorded a row) is left out.
        match = compare_tables(without_clock(ours), without_clock(theirs))
    return ModelComparison(
        f"{table} {LABEL}",
        "success" if theirs is not None else "missing",
        None if ours is None else ours.num_rows,
        None if theirs is None else theirs.num_rows,
        match,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]
