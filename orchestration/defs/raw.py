"""One ingestion asset per landing source, all made by one factory from the data contract."""

from collections import Counter
from datetime import date, timedelta

import dagster as dg
import duckdb

from ingest.contract import SOURCES, Source
from ingest.loader import LOADED, DeliveryError, SourceLoadReport, load_source
from orchestration.defs.metadata import markdown_table
from orchestration.defs.partitions import daily_partitions, partition_dates
from orchestration.defs.resources import WAREHOUSE_POOL, Landing, Warehouse


def preview(con: duckdb.DuckDBPyConnection, source: Source, day: date, limit: int = 5) -> str:
    """The first rows loaded for ``day`` into the source's first table, without PII columns."""
    entity = source.entities[0]
    columns = [c.name for c in entity.columns if not c.pii]
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(
        f"select {quoted} from {source.raw_table(entity)} where _partition_date = ? "
        f"order by _file, _row_number limit {limit}",
        [day],
    ).fetchall()
    return markdown_table(columns, [list(r) for r in rows]) if rows else "no rows"


def load_metadata(report: SourceLoadReport) -> dict[str, dg.MetadataValue | int | str]:
    """Asset metadata for a load: rows read = rows loaded + rows quarantined, per entity."""
    reasons = "\n".join(f"- {n:,} × {reason}" for reason, n in report.reasons.most_common(10))
    counts = ["files", "rows_read", "rows_loaded", "rows_quarantined"]
    by_entity = [[entity, *(c[k] for k in counts)] for entity, c in report.by_entity().items()]
    warnings = "\n".join(f"- {w}" for w in report.warnings[:20])
    if len(report.warnings) > 20:
        warnings += f"\n- … and {len(report.warnings) - 20:,} more (see raw._files, raw._loads)"
    encodings = Counter(f.encoding for f in report.files if f.encoding)
    return {
        "partitions": f"{report.start} .. {report.end}",
        "dagster/row_count": report.total("rows_loaded"),
        "rows_read": report.total("rows_read"),
        "rows_loaded": report.total("rows_loaded"),
        "rows_quarantined": report.total("rows_quarantined"),
        "files": report.total_files,
        "by_entity": dg.MetadataValue.md(markdown_table(["entity", *counts], by_entity)),
        "quarantine_reasons": dg.MetadataValue.md(reasons or "none"),
        "extra_columns_ignored": ", ".join(report.extra_columns) or "none",
        "optional_columns_missing": ", ".join(report.missing_columns) or "none",
        "duplicate_files": sum(f.status != LOADED for f in report.files),
        "encodings": ", ".join(f"{e}: {n:,} files" for e, n in sorted(encodings.items())) or "none",
        "warnings": dg.MetadataValue.md(warnings or "none"),
        "rows_without_parent": sum(load.rows_without_parent or 0 for load in report.loads),
    }


def build_ingest_asset(source: Source) -> dg.AssetsDefinition:
    """The daily-partitioned asset that loads ``source``'s deliveries into its raw tables."""
    tables = ", ".join(source.raw_table(e) for e in source.entities)

    @dg.asset(
        key=["raw", source.name],
        description=f"{source.description} Loaded into {tables}.",
        group_name="ingest",
        kinds={"python", "duckdb"},
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        metadata={"tables": tables, "contract": "docs/data_contract.md"},
    )
    def ingest(
        context: dg.AssetExecutionContext, control: Warehouse, landing: Landing
    ) -> dg.MaterializeResult:
        start, end = partition_dates(context)
        store = landing.parquet_store()

        def progress(day: date, rows_read: int) -> None:
            if start != end and (day == end or (day + timedelta(days=1)).day == 1):
                context.log.info(f"{source.name}: through {day}, {rows_read:,} rows read")

        try:
            with control.connect(memory_limit=landing.memory_limit) as con:
                report = load_source(
                    con,
                    source,
                    landing.path,
                    start,
                    end,
                    context.run_id,
                    progress,
                    landing.rules(),
                    store,
                )
                sample = preview(con, source, end)
        except DeliveryError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        for warning in report.warnings[:20]:
            context.log.warning(warning)
        context.log.info(
            f"{source.name} {start}..{end}: {report.total('rows_read'):,} rows read, "
            f"{report.total('rows_loaded'):,} loaded, "
            f"{report.total('rows_quarantined'):,} quarantined"
        )
        metadata = load_metadata(report)
        metadata[f"preview ({end}, no PII)"] = dg.MetadataValue.md(sample)
        if store is not None:
            metadata["parquet"] = dg.MetadataValue.path(str(store.root / "raw"))
        return dg.MaterializeResult(metadata=metadata)

    return ingest


ingest_assets = [build_ingest_asset(source) for source in SOURCES]
