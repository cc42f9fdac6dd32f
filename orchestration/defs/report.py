"""The nightly report step: once the marts and the activation are done, one self-contained HTML
page of charts for the people who do not write SQL (``reporting/``, docs/report.md).

Like the publish step, it depends on assets known only once every defs module is loaded (every
mart, every activation asset), so ``orchestration/definitions.py`` adds it with
``with_report_asset``.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from orchestration.defs.metadata import markdown_table
from orchestration.defs.publish import mart_keys
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Reports, reference_date_of
from reporting.page import WrittenReport, write_report

REPORT_KEY = dg.AssetKey(["reports", "nightly_report"])
ACTIVATION_GROUP = "activation"


def report_upstream(definitions: dg.Definitions) -> list[dg.AssetKey]:
    """Every mart and every activation asset of ``definitions``: what the report waits for."""
    keys = set(mart_keys(definitions))
    for asset in definitions.assets or []:
        if isinstance(asset, dg.AssetsDefinition) and asset.is_executable:
            keys |= {k for k, g in asset.group_names_by_key.items() if g == ACTIVATION_GROUP}
    return sorted(keys, key=lambda k: k.to_user_string())


def write_nightly_report(
    warehouse: EngineWarehouse, reports: Reports, read_only: bool = False
) -> WrittenReport:
    """Write the report of ``warehouse`` as of its reference date into the reports folder
    (`weixi report` and the nightly asset both call this)."""
    with warehouse.connect(read_only=read_only) as con:
        return write_report(
            con,
            reports.path,
            reference_date_of(con),
            datetime.now(ZoneInfo(reports.timezone)).replace(tzinfo=None),
        )


def report_metadata(written: WrittenReport) -> dict[str, dg.MetadataValue]:
    """The report's file, size and, per section, its charts and what it could not draw."""
    return {
        "path": dg.MetadataValue.path(str(written.path)),
        "bytes": dg.MetadataValue.int(written.bytes),
        "charts": dg.MetadataValue.int(sum(len(s.charts) for s in written.sections)),
        "sections": dg.MetadataValue.md(
            markdown_table(
                ["section", "charts", "tables", "notes"],
                [
                    [s.title, len(s.charts), len(s.tables), "; ".join(s.notes)]
                    for s in written.sections
                ],
            )
        ),
    }


def build_report_asset(upstream: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The report asset, downstream of ``upstream``."""

    @dg.asset(
        key=REPORT_KEY,
        deps=upstream,
        description=(
            "The nightly report: one self-contained HTML page (inline SVG charts, no script, "
            "no network) of KPI trends, cohort retention, segments, migrations, churn risk and "
            "calibration, lifetime value, product pairs, campaign lift and data quality, "
            "drawn from the marts as of the reference date."
        ),
        group_name="reports",
        kinds={"python", "html"},
        pool=WAREHOUSE_POOL,
    )
    def nightly_report(
        context: dg.AssetExecutionContext, warehouse: EngineWarehouse, reports: Reports
    ) -> dg.MaterializeResult:
        """The nightly report of the marts, one HTML file per reference date."""
        written = write_nightly_report(warehouse, reports)
        context.log.info(f"wrote {written.path} ({written.bytes:,} bytes)")
        return dg.MaterializeResult(metadata=report_metadata(written))

    return nightly_report


def with_report_asset(definitions: dg.Definitions) -> dg.Definitions:
    """``definitions`` plus the report asset, downstream of every mart and activation asset."""
    return dg.Definitions.merge(
        definitions, dg.Definitions(assets=[build_report_asset(report_upstream(definitions))])
    )
