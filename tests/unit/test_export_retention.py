"""Only the newest days of export folders stay; other folders and files are never touched."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from activation.destinations.retention import remove_old_days

TODAY = date(2026, 12, 3)


def _day(root: Path, day: date) -> Path:
    folder = root / day.isoformat() / "email"
    folder.mkdir(parents=True)
    (folder / "welcome.csv").write_text("customer_id\nC0001\n")
    return folder.parent


def test_days_before_the_kept_ones_are_removed(tmp_path: Path):
    days = {n: _day(tmp_path, TODAY - timedelta(days=n)) for n in (0, 1, 2, 3, 40)}
    later = _day(tmp_path, TODAY + timedelta(days=1))
    other = tmp_path / "2026-12-notes"
    other.mkdir()
    week = tmp_path / "2020-W01-1"  # an ISO week date, which Python would read as a day
    week.mkdir()
    (tmp_path / "2020-01-01").write_text("a file, not a day folder")
    removed = remove_old_days(tmp_path, TODAY, kept_days=3)
    assert sorted(removed) == sorted([days[3], days[40]])
    assert {n for n, folder in days.items() if folder.exists()} == {0, 1, 2}
    assert later.exists() and other.exists() and week.exists()
    assert (tmp_path / "2020-01-01").is_file()
    assert remove_old_days(tmp_path, TODAY, kept_days=3) == []


def test_no_exports_folder_yet_removes_nothing(tmp_path: Path):
    assert remove_old_days(tmp_path / "exports", TODAY, kept_days=30) == []
