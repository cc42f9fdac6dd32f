"""The daily partitions every partitioned asset shares: one partition per delivery day."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from orchestration.settings import get_settings

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=get_settings().partition_start.isoformat(),
    timezone=get_settings().timezone,
)


def partition_dates(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the partitions this run materialises."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()
