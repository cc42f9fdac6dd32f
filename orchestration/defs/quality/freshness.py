"""Source freshness checks: warn when a source has not delivered for
``WEIXI_SOURCE_FRESHNESS_HOURS`` (36) hours.

One asset check per ingestion asset of a daily source (not the occasional past campaigns), run
with it every night (and from the UI at any time). It reads the loader's log, not Dagster's
materialisation time: the nightly run materialises every day, delivered or not, so Dagster's
own last-update freshness checks would always pass.
"""

import dagster as dg

from data_quality.freshness import source_freshness
from data_quality.results import CheckRun, record_results
from data_quality.rules import Check, RuleResult
from ingest.contract import SOURCES, Source
from orchestration.defs.quality.check_results import shop_now
from orchestration.defs.resources import WAREHOUSE_POOL, Quality, Warehouse

SOURCE_FRESHNESS = Check(
    "freshness",
    False,
    "The source delivered within the last WEIXI_SOURCE_FRESHNESS_HOURS hours (default 36), "
    "counted from the end of its newest delivery day. Warns.",
)


def build_freshness_check(source: Source) -> dg.AssetChecksDefinition:
    """The freshness check of ``source``'s ingestion asset."""

    @dg.asset_check(
        asset=dg.AssetKey(["raw", source.name]),
        name=SOURCE_FRESHNESS.name,
        description=SOURCE_FRESHNESS.description,
        pool=WAREHOUSE_POOL,
    )
    def freshness(
        context: dg.AssetCheckExecutionContext, control: Warehouse, quality: Quality
    ) -> dg.AssetCheckResult:
        now = shop_now(quality)
        with control.connect() as con:
            result = source_freshness(con, source.name, now, quality.source_freshness_hours)
            rule = RuleResult(
                dataset=f"raw.{source.name}",
                check=SOURCE_FRESHNESS,
                rule=f"delivered within {result.max_hours:g} hours",
                expectation="source_freshness",
                column=None,
                passed=result.fresh,
                rows=0,
                detail=result.describe(),
            )
            record_results(
                con,
                CheckRun(context.run.run_id, "raw", source.name),
                [SOURCE_FRESHNESS.name],
                [rule],
                now,
            )
        if not result.fresh:
            context.log.warning(result.describe())
        return dg.AssetCheckResult(
            passed=result.fresh,
            severity=dg.AssetCheckSeverity.WARN,
            description=result.describe(),
            metadata={
                "last_delivery": str(result.last_delivery) if result.last_delivery else "none",
                "hours_since_last_delivery": (
                    dg.MetadataValue.float(round(result.hours_since, 1))
                    if result.hours_since is not None
                    else dg.MetadataValue.null()
                ),
                "limit_hours": dg.MetadataValue.float(result.max_hours),
            },
        )

    return freshness


freshness_checks = [build_freshness_check(source) for source in SOURCES if source.daily]
