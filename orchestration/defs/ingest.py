"""One ingestion asset per landing source, all made by one factory from the data contract."""

from datetime import date, timedelta

import dagster as dg

from orchestration.contract import SOURCES, Source
from orchestration.defs.partitions import daily_partitions, partition_dates
from orchestration.defs.resources import Landing, Warehouse
from orchestration.ingest.loader import DeliveryError, SourceLoadReport, load_source

WAREHOUSE_POOL = "weixi_warehouse"
"""Every asset that writes the warehouse runs in this pool; its limit of 1 keeps writers apart."""


def _markdown_table(rows: dict[str, dict[str, int]]) -> str:
    columns = ["files", "rows_read", "rows_loaded", "rows_quarantined"]
    lines = ["| entity | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for entity, counts in rows.items():
        lines.append(f"| {entity} | " + " | ".join(f"{counts[c]:,}" for c in columns) + " |")
    return "\n".join(lines)


def load_metadata(report: SourceLoadReport) -> dict[str, dg.MetadataValue | int | str]:
    """Asset metadata for a load: rows read = rows loaded + rows quarantined, per entity."""
    reasons = "\n".join(f"- {n:,} × {reason}" for reason, n in report.reasons.most_common(10))
    return {
        "partitions": f"{report.start} .. {report.end}",
        "rows_read": report.total("rows_read"),
        "rows_loaded": report.total("rows_loaded"),
        "rows_quarantined": report.total("rows_quarantined"),
        "files": report.total_files,
        "by_entity": dg.MetadataValue.md(_markdown_table(report.by_entity())),
        "quarantine_reasons": dg.MetadataValue.md(reasons or "none"),
        "extra_columns_ignored": ", ".join(report.extra_columns) or "none",
        "unrecognised_files": ", ".join(report.unrecognised_files[:20]) or "none",
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
        context: dg.AssetExecutionContext, warehouse: Warehouse, landing: Landing
    ) -> dg.MaterializeResult:
        start, end = partition_dates(context)

        def progress(day: date, rows_read: int) -> None:
            if start != end and (day == end or (day + timedelta(days=1)).day == 1):
                context.log.info(f"{source.name}: through {day}, {rows_read:,} rows read")

        try:
            with warehouse.connect() as con:
                report = load_source(
                    con, source, landing.path, start, end, context.run_id, progress
                )
        except DeliveryError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        context.log.info(
            f"{source.name} {start}..{end}: {report.total('rows_read'):,} rows read, "
            f"{report.total('rows_loaded'):,} loaded, "
            f"{report.total('rows_quarantined'):,} quarantined"
        )
        return dg.MaterializeResult(metadata=load_metadata(report))

    return ingest


ingest_assets = [build_ingest_asset(source) for source in SOURCES]
