"""Rule results as Dagster asset-check results: pass or fail per check, its severity, and
metadata with counts, the failed rules (names and counts, never values) and Data Docs links."""

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from data_quality.rules import Check, RuleResult
from orchestration.defs.resources import Quality


def shop_now(quality: Quality) -> datetime:
    """Now in the shop's timezone, naive like the delivered timestamps."""
    return datetime.now(ZoneInfo(quality.timezone)).replace(tzinfo=None)


def _rule_list(results: list[RuleResult]) -> str:
    return "\n".join(f"- {r.dataset}: {r.summary()}" for r in results) or "none"


def check_results(
    context: dg.AssetCheckExecutionContext,
    asset_key: dg.AssetKey,
    checks: list[Check],
    results: list[RuleResult],
    docs: dict[str, str | None],
) -> Iterator[dg.AssetCheckResult]:
    """One AssetCheckResult per check from its rules' results; logs the failed rules.

    ``docs`` maps a validated dataset to its Data Docs page; key ``index`` is the site index."""
    pages = "\n".join(f"- [{name}]({url})" for name, url in docs.items() if url and name != "index")
    for check in checks:
        mine = [r for r in results if r.check == check]
        failed = [r for r in mine if not r.passed]
        for r in failed:
            log = context.log.error if check.blocking else context.log.warning
            log(f"{asset_key.to_user_string()} {check.name}: {r.dataset}: {r.summary()}")
        metadata: dict[str, dg.RawMetadataValue] = {
            "expectations_passed": len(mine) - len(failed),
            "expectations_failed": len(failed),
            "failed_expectations": dg.MetadataValue.md(_rule_list(failed)),
        }
        if docs.get("index"):
            metadata["data_docs"] = dg.MetadataValue.url(docs["index"])
        if pages:
            metadata["data_docs_pages"] = dg.MetadataValue.md(pages)
        yield dg.AssetCheckResult(
            asset_key=asset_key,
            check_name=check.name,
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if check.blocking else dg.AssetCheckSeverity.WARN,
            metadata=metadata,
        )


def check_specs(asset_key: dg.AssetKey, checks: list[Check]) -> list[dg.AssetCheckSpec]:
    """The specs of ``checks`` on ``asset_key``, blocking where the check blocks."""
    return [
        dg.AssetCheckSpec(
            check.name, asset=asset_key, description=check.description, blocking=check.blocking
        )
        for check in checks
    ]
