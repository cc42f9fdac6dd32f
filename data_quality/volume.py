"""Delivery volume: rows delivered per day against the median of the days before.

The relation has one row per entity and day, plus one row per day for the whole source (entity
``*``), from the loader's log ``raw._loads``: rows read (loaded and quarantined) and the median
of the previous :data:`HISTORY_DAYS` days. Two rules, both warnings:

- an empty delivery: the source delivered no rows on a day although its trailing median is at
  least :data:`MIN_EMPTY_BASELINE_ROWS` rows (a valid empty day still loads; this only says it
  is unusual; below that median an empty day happens by chance);
- the volume of an entity (not the whole source) is below :data:`LOW_RATIO` or above
  :data:`HIGH_RATIO` times its trailing median, judged only where the median is at least
  :data:`MIN_BASELINE_ROWS` rows (smaller daily counts vary too much by chance) over at least
  :data:`MIN_HISTORY_DAYS` days.
"""

from __future__ import annotations

from datetime import date, timedelta

from data_quality.gx import Col, gxe
from data_quality.rules import VOLUME, Rule
from ingest.row_rules import sql_literal

HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 7
MIN_BASELINE_ROWS = 20
MIN_EMPTY_BASELINE_ROWS = 5
LOW_RATIO = 0.2
HIGH_RATIO = 5.0
WHOLE_SOURCE = "*"


def volume_relation(source: str, start: date, end: date) -> str:
    """The query of the rows delivered per entity and day of ``source`` for ``start``..``end``,
    with the trailing median of the :data:`HISTORY_DAYS` days before each day."""
    history_start = start - timedelta(days=HISTORY_DAYS)
    return f"""
        with per_entity as (
            select entity, partition_date, sum(rows_read) as rows_delivered, sum(files) as files
            from raw._loads
            where source = {sql_literal(source)}
                and partition_date between date '{history_start}' and date '{end}'
            group by all
        ),
        daily as (
            select * from per_entity
            union all
            select '{WHOLE_SOURCE}', partition_date, sum(rows_delivered), sum(files)
            from per_entity group by all
        ),
        with_history as (
            select *,
                median(rows_delivered) over history as trailing_median,
                count(*) over history as history_days
            from daily
            window history as (
                partition by entity order by partition_date
                range between interval {HISTORY_DAYS} days preceding
                and interval 1 day preceding
            )
        )
        select entity, partition_date, rows_delivered, files, trailing_median, history_days,
            rows_delivered / nullif(trailing_median, 0) as ratio
        from with_history
        where partition_date between date '{start}' and date '{end}'
        """


def volume_rules() -> list[Rule]:
    """The two volume rules (see the module docstring)."""
    return [
        Rule(
            gxe.ExpectColumnValuesToBeBetween(
                column="rows_delivered",
                min_value=1,
                row_condition=(Col("entity") == WHOLE_SOURCE)
                & (Col("trailing_median") >= MIN_EMPTY_BASELINE_ROWS),
            ),
            VOLUME,
            "delivery not empty",
        ),
        Rule(
            gxe.ExpectColumnValuesToBeBetween(
                column="ratio",
                min_value=LOW_RATIO,
                max_value=HIGH_RATIO,
                row_condition=(Col("entity") != WHOLE_SOURCE)
                & (Col("trailing_median") >= MIN_BASELINE_ROWS)
                & (Col("history_days") >= MIN_HISTORY_DAYS),
            ),
            VOLUME,
            f"rows within {LOW_RATIO:g}-{HIGH_RATIO:g} x the {HISTORY_DAYS}-day median",
        ),
    ]
