"""The floor of the pipeline benchmark (benchmarks/floor.py) runs on whatever landing folder the
generator writes, down to a small one where a column (refunds) is empty throughout."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb

from demo_data import GeneratorConfig, generate
from orchestration.settings import PROJECT_ROOT

FLOOR = PROJECT_ROOT / "benchmarks" / "floor.py"


def test_the_floor_builds_a_360_row_per_customer_and_rfm_per_buyer_on_a_small_landing(
    tmp_path: Path,
) -> None:
    landing, database = tmp_path / "landing", tmp_path / "floor.duckdb"
    generate(GeneratorConfig(out=landing, customers=500, days=30, end_date=date(2026, 1, 31)))

    run = subprocess.run(
        [sys.executable, FLOOR, "--landing", landing, "--database", database],
        capture_output=True,
        text=True,
    )

    assert run.returncode == 0, run.stderr
    with duckdb.connect(str(database), read_only=True) as con:
        customers, rows_360, buyers, rows_rfm = con.execute(
            "select (select count(distinct customer_id) from raw_crm__customers), "
            "(select count(*) from customer_360), "
            "(select count(distinct customer_id) from matched_orders "
            " where is_purchase and customer_id is not null), "
            "(select count(*) from customer_rfm)"
        ).fetchone()
    assert rows_360 == customers == 500
    assert 0 < rows_rfm == buyers
