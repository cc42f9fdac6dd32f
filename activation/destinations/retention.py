"""How long the day folders of the exports stay on disk.

Each night writes a folder of files per destination and audience (`<exports>/<date>/`), about
330 MB at 1,000,000 customers: kept forever they would fill a disk within a year, and they hold
personal data (e-mails, phones, WeChat openids) no tool needs once it has imported them. The
destinations' state lives in the warehouse (``activation.sync_state``), so removing an old
folder changes no diff: only the folders of the newest days are kept.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

_DAY_FOLDER = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def remove_old_days(root: Path, today: date, kept_days: int) -> list[Path]:
    """Remove the day folders of ``root`` older than the ``kept_days`` days ending ``today``
    (``today`` and the ``kept_days - 1`` days before it stay) and return them. Folders whose
    name is not a date, files and later days are left alone."""
    first_kept = today - timedelta(days=kept_days - 1)
    removed = []
    for folder in sorted(root.iterdir()) if root.exists() else []:
        day = _day(folder.name)
        if folder.is_dir() and day is not None and day < first_kept:
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def _day(name: str) -> date | None:
    # Only `YYYY-MM-DD`, as the nights name them: Python also reads `2026-W49-2` as a date.
    if not _DAY_FOLDER.fullmatch(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None
