"""`money_average` (dbt_project/macros/money.sql) rounds an average of money to the cent as
exact decimal arithmetic does, half away from zero, where a double's division and cast to a
decimal rounds the double's approximation of a half cent (DuckDB and Spark differently)."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import jinja2

from orchestration.settings import DBT_PROJECT_DIR

MACRO = (
    jinja2.Environment()
    .from_string((DBT_PROJECT_DIR / "macros" / "money.sql").read_text())
    .module.money_average
)


def _exact(total: Decimal, count: int) -> Decimal:
    return (total / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_averages_round_to_the_cent_as_exact_decimals_do():
    rng = random.Random(5)
    cases = [(Decimal("591.43"), 2), (Decimal("-591.43"), 2), (Decimal("0.05"), 10)]
    cases += [
        (Decimal(rng.randrange(-(10**9), 10**9)) / 100, rng.randrange(1, 5000)) for _ in range(3000)
    ]
    con = duckdb.connect()
    con.execute("create table t (total decimal(18, 2), n integer)")
    con.executemany("insert into t values (?, ?)", cases)
    got = con.execute(f"select total, n, {MACRO('total', 'n')} from t").fetchall()
    assert [(total, n, _exact(total, n)) for total, n, _ in got] == got
    # the double's cast alone gets the first case wrong: what the macro is for
    [(plain,)] = con.execute("select cast(591.43::double / 2 as decimal(18, 2))").fetchall()
    assert plain == Decimal("295.71")
