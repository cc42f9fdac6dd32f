"""The consent ledger asset: opt-outs and erasures that no later CRM delivery can undo."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from activation.suppressions import REASONS, ErasureRequestError, OnScrubbed, update_ledger
from ingest.contract import source
from ingest.loader import ensure_raw_tables
from orchestration.defs.metadata import markdown_table
from orchestration.defs.resources import WAREHOUSE_POOL, ErasureRequests, Landing, Warehouse


def _parquet_rewrite(landing: Landing) -> OnScrubbed | None:
    """On Spark, what writes again the CRM days of the Parquet raw copy an erasure changed."""
    store = landing.parquet_store()
    if store is None:
        return None
    return lambda con, days: store.write_each_day(con, source("crm"), days)


@dg.asset(
    key=["governance", "suppressions"],
    deps=[dg.AssetKey(["raw", "crm"])],
    group_name="activation",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata={"table": "governance.suppressions", "docs": "docs/consent_and_erasure.md"},
)
def suppressions(
    context: dg.AssetExecutionContext,
    control: Warehouse,
    landing: Landing,
    erasure_requests: ErasureRequests,
) -> dg.MaterializeResult:
    """Who must not be contacted, on which channel, and who asked to be forgotten: every
    opt-out ever seen in the CRM plus the erasure requests, an append-only ledger in
    governance.suppressions that the marts and every export honour."""
    # Request times are shop time, like every delivered timestamp; the tolerance allows for
    # the clock of whoever wrote the request.
    now = datetime.now(ZoneInfo(landing.timezone)).replace(tzinfo=None, microsecond=0)
    try:
        with control.connect() as con:
            ensure_raw_tables(con, (source("crm"),))
            update = update_ledger(
                con,
                erasure_requests.path,
                now,
                timedelta(hours=landing.future_tolerance_hours),
                on_scrubbed=_parquet_rewrite(landing),
            )
    except ErasureRequestError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    new = update.appended["reason"].value_counts()
    counts = [[r, int(new.get(r, 0)), update.totals.get(r, 0)] for r in REASONS]
    scrubbed = sum(update.scrubbed_rows.values())
    context.log.info(
        "consent ledger: "
        + ", ".join(f"{r} +{n:,} (total {t:,})" for r, n, t in counts)
        + f"; raw CRM rows of erased customers deleted or unlinked: {scrubbed:,}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(update.totals.values()),
            "appended": len(update.appended),
            "by_reason": dg.MetadataValue.md(
                markdown_table(["reason", "appended now", "in the ledger"], counts)
            ),
            "erased_customers": update.erased_customers,
            "raw_rows_scrubbed": dg.MetadataValue.md(
                markdown_table(
                    ["table", "rows deleted (referred_by: unlinked)"],
                    [[t, n] for t, n in update.scrubbed_rows.items()],
                )
            ),
            "erasure_request_files": update.request_files,
        }
    )
