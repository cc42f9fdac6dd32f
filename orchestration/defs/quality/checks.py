"""Great Expectations checks as Dagster asset checks, made by two factories.

- Per source, on ``["raw", <source>]``: ``contract`` (blocking), ``plausibility`` and ``volume``
  (warnings), from one op that validates the delivery days the run materialised: the day of a
  nightly run, the whole range of a ranged run (a backfill is validated in one pass per table,
  not day by day). Run alone (from the UI, without a partition), it validates the latest
  delivered day.
- Per output table in ``data_quality.table_rules.MART_RULES`` whose asset exists: ``integrity``
  (blocking) and ``freshness`` (warning), on the whole table, measured in DuckDB SQL; a fact
  table's key, in a run over delivery days, only for the keys delivered then
  (``TableRules.delivered_on``).

Each op records its rule results in ``quality.check_results`` and ``marts.data_quality_runs``
and links its Data Docs pages from the checks' metadata. An engine error (a rule GX could not
evaluate) fails the step, naming the table and the rule; it never passes or fails the check.
"""

from datetime import date
from typing import Any

import dagster as dg
import duckdb

from data_quality.results import QUALITY_RUNS, CheckRun, record_results
from data_quality.rules import CONTRACT, FRESHNESS, INTEGRITY, PLAUSIBILITY, VOLUME
from data_quality.table_rules import TableRules, registered
from ingest.contract import SOURCES, Source
from orchestration.defs.quality.check_results import check_results, check_specs, shop_now
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Quality, Warehouse
from orchestration.stages import RANGE_END_TAG, RANGE_START_TAG

PARTITION_TAG = "dagster/partition"
SOURCE_CHECKS = [CONTRACT, PLAUSIBILITY, VOLUME]
TABLE_CHECKS = [INTEGRITY, FRESHNESS]


def run_days(tags: dict[str, str]) -> tuple[date, date] | None:
    """The delivery days of a run: its partition or partition range (None without one)."""
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return date.fromisoformat(tags[RANGE_START_TAG]), date.fromisoformat(tags[RANGE_END_TAG])
    if PARTITION_TAG in tags:
        day = date.fromisoformat(tags[PARTITION_TAG])
        return day, day
    return None


def checked_days(
    tags: dict[str, str], con: duckdb.DuckDBPyConnection, source: str
) -> tuple[date, date] | None:
    """The delivery days a run's raw checks validate: the run's partition or partition range,
    else the latest day loaded for ``source`` (None when nothing was loaded)."""
    days = run_days(tags)
    if days:
        return days
    latest = con.execute(
        "select max(partition_date) from raw._loads where source = ?", [source]
    ).fetchone()[0]
    return (latest, latest) if latest else None


def _docs(quality: Quality, validations: list[Any]) -> dict[str, Any]:
    from data_quality.validation import build_docs, page_url

    index = build_docs(quality.docs_path, validations)
    pages = {v.dataset: page_url(quality.docs_path, v) for v in validations}
    return {"index": index, **pages}


def build_source_checks(source: Source) -> dg.AssetChecksDefinition:
    """The contract, plausibility and volume checks of ``source``'s ingestion asset."""
    asset_key = dg.AssetKey(["raw", source.name])

    @dg.multi_asset_check(
        specs=check_specs(asset_key, SOURCE_CHECKS),
        name=f"quality_raw_{source.name}",
        description=f"Great Expectations rules on the {source.name} deliveries.",
        pool=WAREHOUSE_POOL,
    )
    def source_quality(
        context: dg.AssetCheckExecutionContext, control: Warehouse, quality: Quality
    ):
        # Great Expectations is imported when a check runs, not when the code location loads.
        from data_quality.checks import all_results, check_raw_source, check_volume
        from data_quality.validation import EngineError

        now = shop_now(quality)
        with control.connect() as con:
            days = checked_days(context.run.tags, con, source.name)
            if days is None:
                raise dg.Failure(f"{source.name}: nothing loaded yet to check", allow_retries=False)
            start, end = days
            run_name = f"{start}_{end}_{context.run.run_id[:8]}"
            try:
                validations = check_raw_source(
                    con, source, start, end, now, quality.docs_path, run_name
                )
                validations.append(
                    check_volume(con, source, start, end, quality.docs_path, run_name)
                )
            except EngineError as exc:
                raise dg.Failure(str(exc), allow_retries=False) from None
            results = all_results(validations)
            record_results(
                con,
                CheckRun(context.run.run_id, "raw", source.name, start, end),
                [c.name for c in SOURCE_CHECKS],
                results,
                now,
            )
        passed = sum(r.passed for r in results)
        context.log.info(f"{source.name} {start}..{end}: {passed} of {len(results)} rules passed")
        yield from check_results(
            context, asset_key, SOURCE_CHECKS, results, _docs(quality, validations)
        )

    return source_quality


def build_table_checks(entry: TableRules) -> dg.AssetChecksDefinition:
    """The integrity and freshness checks of an output table."""
    asset_key = dg.AssetKey(list(entry.asset_key))
    schema, name = entry.asset_key

    @dg.multi_asset_check(
        specs=check_specs(asset_key, TABLE_CHECKS),
        name=f"quality_{schema}_{name}",
        description=f"Great Expectations rules on {entry.table}.",
        pool=WAREHOUSE_POOL,
    )
    def table_quality(
        context: dg.AssetCheckExecutionContext, warehouse: EngineWarehouse, quality: Quality
    ):
        from data_quality.checks import all_results, check_table
        from data_quality.validation import EngineError

        run_name = f"{context.run.run_id[:8]}"
        with warehouse.connect() as con:
            try:
                validations = check_table(
                    con, entry, quality.docs_path, run_name, run_days(context.run.tags)
                )
            except EngineError as exc:
                raise dg.Failure(str(exc), allow_retries=False) from None
            except duckdb.CatalogException as exc:
                raise dg.Failure(
                    f"{entry.table}: cannot be checked ({exc}); materialise it first",
                    allow_retries=False,
                ) from None
            results = all_results(validations)
            record_results(
                con,
                CheckRun(context.run.run_id, "marts", entry.table),
                [c.name for c in TABLE_CHECKS],
                results,
                shop_now(quality),
            )
        passed = sum(r.passed for r in results)
        context.log.info(f"{entry.table}: {passed} of {len(results)} rules passed")
        yield from check_results(
            context, asset_key, TABLE_CHECKS, results, _docs(quality, validations)
        )

    return table_quality


def existing_asset_keys(definitions: dg.Definitions) -> set[tuple[str, ...]]:
    """The keys of the materialisable assets in ``definitions``, as tuples."""
    keys: set[tuple[str, ...]] = set()
    for asset in definitions.assets or ():
        if isinstance(asset, dg.AssetsDefinition):
            if asset.is_materializable:
                keys |= {tuple(k.path) for k in asset.keys}
    return keys


def table_checks(existing: set[tuple[str, ...]]) -> list[dg.AssetChecksDefinition]:
    """Checks for the registered output tables whose asset is in ``existing``."""
    return [build_table_checks(entry) for entry in registered(existing)]


def quality_definitions(loaded: dg.Definitions) -> dg.Definitions:
    """The output-table checks for the tables that ``loaded`` defines."""
    return dg.Definitions(asset_checks=table_checks(existing_asset_keys(loaded)))


source_checks = [build_source_checks(source) for source in SOURCES]

data_quality_runs = dg.AssetSpec(
    key=dg.AssetKey(QUALITY_RUNS.name.split(".")),
    description=(
        "One row per run and source or table: rows delivered, loaded and quarantined, and the "
        "data-quality rules that passed and failed. Written by the quality checks."
    ),
    group_name="marts",
    kinds={"duckdb"},
    metadata={"written_by": "the quality_* asset checks", "docs": "docs/data_quality.md"},
)
