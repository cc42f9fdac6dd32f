"""Which export files an erasure reads: the erased customers' audience days by the history,
every remove file of their audiences, every file of a folder the history does not know."""

from datetime import date
from pathlib import Path

import pandas as pd

from activation.destinations.erasure import files_to_check, rewrite_without
from activation.destinations.formats import write_csv

DAY1, DAY2, DAY3 = date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)
FILES = (
    "2026-01-01/email/welcome.csv",
    "2026-01-01/parquet/welcome.parquet",
    "2026-01-01/email/welcome_back.csv",
    "2026-01-01/account_managers/AM1.csv",
    "2026-01-02/email/welcome.csv",
    "2026-01-02/google_ads/welcome.csv",
    "2026-01-02/google_ads/welcome.remove.csv",
    "2026-01-02/account_managers/AM1.csv",
    "2026-01-03/email/revisit.csv",
    "2026-01-03/account_managers/AM1.csv",
    "2025-12-31/email/welcome_back.csv",
    "manual/list.csv",
)


def _exports(root: Path) -> None:
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("customer_id\nC1\n")


def _names(root: Path, files: list[Path]) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in files)


def test_the_history_narrows_the_files_to_the_erased_customers_days(tmp_path):
    _exports(tmp_path)
    memberships = pd.DataFrame(
        {
            "audience_date": [DAY1, DAY3],
            "audience": ["welcome", "revisit"],
            "kind": ["marketing", "task"],
        }
    )
    found = files_to_check(tmp_path, memberships, [DAY1, DAY2, DAY3])
    assert _names(tmp_path, found) == sorted(
        [
            # Their day in welcome, every destination; not welcome_back, not that day's tasks.
            "2026-01-01/email/welcome.csv",
            "2026-01-01/parquet/welcome.parquet",
            # The next day they were no member, but a remove file of welcome may name them.
            "2026-01-02/google_ads/welcome.remove.csv",
            # A task audience: the day's task lists too.
            "2026-01-03/email/revisit.csv",
            "2026-01-03/account_managers/AM1.csv",
            # Folders the history does not know are read whole.
            "2025-12-31/email/welcome_back.csv",
            "manual/list.csv",
        ]
    )


def test_without_a_history_every_file_is_read(tmp_path):
    _exports(tmp_path)
    assert _names(tmp_path, files_to_check(tmp_path, None, None)) == sorted(FILES)
    assert files_to_check(tmp_path / "none", None, None) == []


def test_only_the_given_files_are_rewritten(tmp_path):
    kept, dropped = tmp_path / "a" / "kept.csv", tmp_path / "b" / "dropped.csv"
    for path in (kept, dropped):
        write_csv(pd.DataFrame({"customer_id": ["C1", "C2"]}), path)
    assert rewrite_without(tmp_path, ["C1"], files=[dropped]) == [dropped]
    assert "C1" in kept.read_text() and "C1" not in dropped.read_text()
