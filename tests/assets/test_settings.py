"""Settings that depend on the data: the first partition is where the deliveries start."""

from datetime import date

from orchestration.settings import DEFAULT_PARTITION_START, WeixiSettings


def test_partitions_start_at_the_first_delivery_day_unless_set(tmp_path):
    landing = tmp_path / "landing"
    for folder in ("orders/2025-03-02", "crm/2025-02-10", "crm/_notes", "service/2025-04-01"):
        (landing / folder).mkdir(parents=True)
    (landing / "unknown_source" / "2020-01-01").mkdir(parents=True)

    derived = WeixiSettings(landing=landing, partition_start=None)
    assert derived.partition_start == date(2025, 2, 10)
    chosen = WeixiSettings(landing=landing, partition_start=date(2025, 1, 1))
    assert chosen.partition_start == date(2025, 1, 1)
    empty = WeixiSettings(landing=tmp_path / "nowhere", partition_start=None)
    assert empty.partition_start == DEFAULT_PARTITION_START
