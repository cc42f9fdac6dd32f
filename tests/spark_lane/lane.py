"""`make test-spark`: build the test warehouse with DuckDB, then the same dbt project on local
Spark from the same sources (the raw tables as the loader writes them on Spark, the others
exported from the DuckDB build), and compare every model and raw table.

    .venv-spark/bin/python -m tests.spark_lane.lane --scratch data/spark_lane

Prints model | spark status | rows duckdb | rows spark | match, the Spark error of each failed
model and data test, and the time of each step; writes the same to ``lane_report.md`` in the
scratch folder. Exits 1 when any model failed or differs, or any data test did not pass."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import SparkSession

from tests.spark_lane import (
    assets_on_spark,
    batches,
    model_assets,
    server_run,
    spark_build,
    stored_as,
)
from tests.spark_lane.compare import ModelComparison, compare_tables, render
from tests.spark_lane.duckdb_build import (
    SourceTable,
    build_duckdb_warehouse,
    export_sources,
    load_raw_parquet,
    raw_sources,
)

REPO = Path(__file__).resolve().parents[2]


class Timings(dict[str, float]):
    """Seconds per step of the lane, in the order they ran."""

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"[spark lane] {name} ...", flush=True)
        began = time.monotonic()
        try:
            yield
        finally:
            self[name] = time.monotonic() - began
            print(f"[spark lane] {name}: {self[name]:,.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    arguments = _arguments(argv)
    scratch = arguments.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    timings = Timings()
    began = time.monotonic()
    warehouse = scratch / "warehouse.duckdb"
    weixi = arguments.weixi.resolve()
    if not (arguments.reuse_duckdb and warehouse.exists()):
        _remove(scratch, "landing", "warehouse.duckdb", "models", "dagster_home", "exports")
        with timings.step("DuckDB build (weixi generate + weixi run)"):
            build_duckdb_warehouse(weixi, scratch)
    with timings.step("model shop: models trained on DuckDB (weixi generate + weixi run)"):
        registry = model_assets.train_models(weixi, scratch)
    with timings.step("dbt parse (spark target)"):
        manifest, sources = spark_build.parse_sources(scratch)
    _remove(scratch, "parquet", "spark_warehouse", "spark_raw", "raw_load")
    _remove(scratch, "spark_server", "spark_run", "spark_run.log", server_run.DUCKDB_FOLDER)
    _remove(scratch, server_run.DOCS_FOLDER)
    with timings.step("loader on Spark settings (raw tables as Parquet day folders)"):
        raw, others = raw_sources(load_raw_parquet(weixi, scratch), sources)
    with timings.step("export the other sources to Parquet"):
        exported, missing = export_sources(warehouse, others, scratch / "parquet")
    with timings.step("SparkSession start"):
        spark = spark_build.start_session(scratch)
    try:
        with timings.step("register sources in Spark"):
            spark_build.register_sources(spark, raw + exported)
        with timings.step("dbt build on Spark"):
            results = spark_build.build(scratch, arguments.unit_tests)
        with timings.step("compare with DuckDB"):
            comparisons = compare_models(spark, warehouse, manifest, results)
            raw_matches = compare_raw_tables(spark, warehouse, raw)
        with timings.step("model assets on DuckDB and Spark, compared"):
            comparisons += model_assets.materialise_and_compare(spark, warehouse, registry, scratch)
            comparisons.append(batches.check_read_batches(spark, "classic session"))
        with timings.step("activation, publish and report over connect() on both, compared"):
            comparisons += assets_on_spark.materialise_and_compare(spark, warehouse, scratch)
            comparisons += stored_as.check_stored_as(spark, scratch, "classic session")
            comparisons.append(
                stored_as.check_rewritten_elsewhere(spark, scratch, "classic session")
            )
    finally:
        spark.stop()
    with timings.step("DuckDB: weixi run, then weixi backfill of the last days"):
        duckdb_error = server_run.run_on_duckdb(weixi, scratch)
    with timings.step("the same on a Spark Connect server, compared with DuckDB"):
        run_lines, spark_error = server_run.run_and_compare(scratch, manifest)
        comparisons += run_lines
    run_error = "; ".join(
        f"{engine}: {error}"
        for engine, error in (("duckdb", duckdb_error), ("spark", spark_error))
        if error
    )
    timings["total"] = time.monotonic() - began
    report, passed = _report(
        comparisons, results, missing, raw_matches, len(exported), timings, run_error
    )
    print(report)
    (scratch / "lane_report.md").write_text(report + "\n")
    return 0 if passed else 1


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scratch", type=Path, default=REPO / "data" / "spark_lane")
    parser.add_argument("--weixi", type=Path, default=REPO / ".venv" / "bin" / "weixi")
    parser.add_argument(
        "--reuse-duckdb",
        action="store_true",
        help="keep the scratch folder's DuckDB build if it has one (to iterate on Spark)",
    )
    parser.add_argument(
        "--unit-tests",
        action="store_true",
        help="run dbt's unit tests on Spark too (they catch silently different functions)",
    )
    return parser.parse_args(argv)


def _remove(scratch: Path, *names: str) -> None:
    for name in names:
        path = scratch / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def compare_models(
    spark: SparkSession, warehouse: Path, manifest: Any, results: list[Any]
) -> list[ModelComparison]:
    """Every model of ``manifest``: its Spark status, its rows in both builds and whether they
    match (only models built on both are compared)."""
    status = {result.node.unique_id: str(result.status) for result in results}
    models = sorted(
        (node for node in manifest.nodes.values() if node.resource_type == "model"),
        key=lambda node: node.fqn,
    )
    comparisons = []
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for node in models:
            relation = f"{node.schema}.{node.alias}"
            ours = _duckdb_table(connection, node.schema, node.alias)
            built = status.get(node.unique_id, "not run")
            theirs = spark.table(relation).toArrow() if built == "success" else None
            if theirs is None:
                blockers = _failed_ancestors(manifest, node.unique_id, status)
                match = f"- (after {', '.join(blockers)} failed)" if blockers else "-"
            elif ours is None:
                match = "no: not in the DuckDB build"
            else:
                match = compare_tables(ours, theirs)
            comparisons.append(
                ModelComparison(
                    relation,
                    built,
                    None if ours is None else ours.num_rows,
                    None if theirs is None else theirs.num_rows,
                    match,
                )
            )
    return comparisons


def compare_raw_tables(
    spark: SparkSession, warehouse: Path, raw: list[SourceTable]
) -> dict[str, str]:
    """Each raw table the loader wrote as Parquet, as Spark reads it, compared with the DuckDB
    build's (a load of the same landing folder: the same rows, but for the load run)."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {
            table.qualified: compare_tables(
                _duckdb_table(connection, table.schema, table.name),
                spark.table(table.qualified).toArrow(),
            )
            for table in raw
        }


def _failed_ancestors(manifest: Any, unique_id: str, status: dict[str, str]) -> list[str]:
    """The models upstream of ``unique_id`` that failed on Spark, so a skipped model names
    what it waits for."""
    failed, seen, pending = [], set(), list(manifest.nodes[unique_id].depends_on.nodes)
    while pending:
        parent = pending.pop()
        if parent in seen or parent not in manifest.nodes:
            continue
        seen.add(parent)
        if status.get(parent) == "error":
            failed.append(manifest.nodes[parent].name)
        pending.extend(manifest.nodes[parent].depends_on.nodes)
    return sorted(failed)


def _duckdb_table(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> Any:
    found = connection.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()
    return connection.table(f'"{schema}"."{name}"').to_arrow_table() if found else None


def _report(
    comparisons: list[ModelComparison],
    results: list[Any],
    missing: list[str],
    raw_matches: dict[str, str],
    sources: int,
    timings: Timings,
    run_error: str,
) -> tuple[str, bool]:
    """The lane's report in Markdown, and whether everything built, passed and matched."""
    # An exposure (a dashboard, a model asset) has nothing to build: dbt reports it `no-op`.
    failures = [r for r in results if str(r.status) not in ("success", "pass", "no-op")]
    errors = [
        f"- `{r.node.name}` ({r.node.resource_type}, {r.status}): {_first_line(r.message)}"
        for r in failures
        if str(r.status) != "skipped"
    ]
    built = sum(c.spark_status == "success" for c in comparisons)
    differ = [f"{table} {verdict}" for table, verdict in raw_matches.items() if verdict != "yes"]
    matched = sum(c.ok for c in comparisons)
    summary = (
        f"lines (dbt models, model outputs, the runs' outputs and checks): {len(comparisons)}, "
        f"built on Spark {built}, failed "
        f"{sum(c.spark_status == 'error' for c in comparisons)}, skipped "
        f"{sum(c.spark_status == 'skipped' for c in comparisons)}, matching DuckDB {matched}; "
        f"{_test_counts(results, 'test', 'data tests')}; "
        f"{_test_counts(results, 'unit_test', 'unit tests')}; raw tables from the loader's "
        f"Parquet: {len(raw_matches)}, matching the DuckDB build's {len(raw_matches) - len(differ)}"
        + (f" (not: {'; '.join(differ)})" if differ else "")
        + f"; other sources exported: {sources}"
        + (f", missing from the DuckDB build: {', '.join(missing)}" if missing else "")
        + "; weixi run then backfill on DuckDB and on a Spark Connect server: "
        + (f"failed: {run_error}" if run_error else "passed")
        + f" ({server_run.DUCKDB_FOLDER}.log, spark_run.log)"
    )
    sections = [
        "# Spark lane report",
        summary,
        "```\n" + render(comparisons) + "\n```",
        "## Spark errors and failed tests\n" + ("\n".join(errors) or "none"),
        "## Time per step (seconds)\n"
        + "\n".join(f"- {name}: {seconds:,.1f}" for name, seconds in timings.items()),
    ]
    passed = (
        not missing
        and not failures
        and not differ
        and not run_error
        and matched == len(comparisons)
    )
    return "\n\n".join(sections), passed


def _test_counts(results: list[Any], resource_type: str, label: str) -> str:
    statuses = [str(r.status) for r in results if r.node.resource_type == resource_type]
    if not statuses:
        return f"{label}: not run"
    names = {"pass": "passed", "fail": "failed", "error": "errored", "skipped": "skipped"}
    counts = ", ".join(f"{name} {statuses.count(status)}" for status, name in names.items())
    return f"{label}: {len(statuses)}, {counts}"


def _first_line(message: str | None) -> str:
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return " ".join(lines[:3])[:400] if lines else "(no message)"


if __name__ == "__main__":
    sys.exit(main())
