"""A compact console logger for Dagster runs: ``[12:00:01] raw__orders: 1,234 rows loaded``.

Dagster's default console line carries the job, run id and process id, which makes a long
backfill hard to follow in a terminal; the run's event log in the UI keeps all of that anyway.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime

import dagster as dg

MAX_MESSAGE = 240
"""Longer messages (dbt's full command lines) are cut; the event log keeps them whole."""


class CompactFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None)
        if meta is None:
            return super().format(record)
        where = meta.get("step_key") or meta.get("job_name") or "dagster"
        message = meta["orig_message"]
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        line = f"[{datetime.now():%H:%M:%S}] {where}: {message}"
        event = meta.get("dagster_event")
        error = getattr(getattr(event, "event_specific_data", None), "error", None)
        if error is not None and record.levelno >= logging.ERROR:
            line += f"\n    {error.message.strip()}"
        return line


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="INFO", is_required=False)},
    description="One short line per message: time, step, message.",
)
def compact_console(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger("weixi.console")
    logger.setLevel(init_context.logger_config["log_level"].upper())
    logger.propagate = False
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(CompactFormatter())
        logger.addHandler(handler)
    return logger
