"""The ways the dbt project picks the latest version of each key of a raw table
(`dbt_project/macros/qualify_latest_version.sql`) keep the same rows: the window
(`qualify_latest_version`), the aggregate with a fetch by rowid (`latest_version_rows`) and,
for entities rarely delivered twice, the raw rows but those a window over repeated keys only
ranks below another (`latest_delivered_rows` of `superseded_rows`), with ties on versions, null
versions, load times and keys. As in a raw table, a key occurs at most once per delivery day
(the loader's key rules)."""

from __future__ import annotations

import duckdb
import jinja2
import pytest

from orchestration.settings import DBT_PROJECT_DIR

MACROS = "\n".join(
    (DBT_PROJECT_DIR / "macros" / name).read_text()
    for name in ("qualify_latest_version.sql", "cross_db.sql")
)


def _macro(name: str):
    """A macro of the two files; a dispatched one by its DuckDB implementation (``default__``)."""
    module = jinja2.Environment(extensions=["jinja2.ext.do"]).from_string(MACROS).module
    return getattr(module, f"default__{name}", None) or getattr(module, name)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A raw table of 300 keys delivered on up to 30 days each (at most once a day, as the
    loader keeps them), whose versions, days and load times repeat often across keys, whose
    versions tie often within a key, and whose version and load time are sometimes null, in no
    particular order."""
    con = duckdb.connect()
    con.execute("""
        create table raw_rows as
        select
            'K' || (hash(i) % 300) as key,
            case when i % 7 = 0 then null
                else timestamp '2026-01-01' + to_hours(cast(hash(i, 1) % 5 as integer)) end
                as updated_at,
            date '2026-01-01' + cast(hash(i, 2) % 30 as integer) as _partition_date,
            case when i % 11 = 0 then null
                else timestamp '2026-02-01' + to_hours(cast(hash(i, 3) % 2 as integer)) end
                as _loaded_at,
            -- A file and row number name one row; the row numbers of the two files overlap.
            'file_' || (i // 2000) || '.csv' as _file,
            (i * 7) % 2000 as _row_number,
            i as payload
        from range(4000) as t(i)
        qualify row_number() over (partition by key, _partition_date order by i) = 1
        order by hash(i, 5)
    """)
    return con


@pytest.mark.parametrize("version", ["updated_at", None])
def test_the_aggregate_keeps_the_rows_the_window_keeps(con, version):
    window = f"select * from raw_rows {_macro('qualify_latest_version')(['key'], version)}"
    aggregate = _macro("latest_version_rows")("raw_rows", ["key"], version)
    kept = {
        name: con.execute(f"select payload from ({sql}) order by payload").fetchall()
        for name, sql in (("window", window), ("aggregate", aggregate))
    }
    assert len(kept["window"]) == 300
    assert kept["aggregate"] == kept["window"]


def test_a_null_version_loses_to_any_version(con):
    aggregate = _macro("latest_version_rows")("raw_rows", ["key"], "updated_at")
    [(nulls,)] = con.execute(f"""
        select count(*) from ({aggregate}) as kept
        where kept.updated_at is null
            and exists (
                select 1 from raw_rows where raw_rows.key = kept.key
                    and raw_rows.updated_at is not null
            )
    """).fetchall()
    assert nulls == 0


def test_only_repeated_keys_need_the_window(con):
    """Beside the 300 keys of many rows: 2,000 keys of one row, some null, keyed by two
    columns as order lines are."""
    con.execute("""
        insert into raw_rows
        select
            case when i % 500 = 0 then null else 'U' || i end, null, date '2026-01-02',
            null, 'file_9.csv', i, 10000 + i
        from range(2000) as t(i)
    """)
    con.execute("alter table raw_rows add column line integer default 1")
    con.execute("alter table raw_rows add column _load_id varchar default 'L1'")
    key = ["key", "line"]
    window = f"select * from raw_rows {_macro('qualify_latest_version')(key)}"
    con.execute(f"create table superseded as {_macro('superseded_rows')('raw_rows', key)}")
    rarely = _macro("latest_delivered_rows")("raw_rows", "superseded")
    kept = {
        name: con.execute(f"select payload from ({sql}) order by payload").fetchall()
        for name, sql in (("window", window), ("rarely", rarely))
    }
    assert len(kept["window"]) == 300 + 1996 + 1  # the four null keys are one key
    assert kept["rarely"] == kept["window"]
    # Only the rows of repeated keys are named, by their lineage.
    [(named,)] = con.execute("select count(*) from superseded").fetchall()
    assert named == con.execute("select count(*) from raw_rows").fetchone()[0] - len(kept["window"])


def test_a_day_loaded_again_shows_its_new_rows(con):
    """A superseded row is named by its load too: once its day is loaded again (new load id),
    the new row shows until the superseded rows are built again."""
    con.execute("alter table raw_rows add column _load_id varchar default 'L1'")
    con.execute(f"create table superseded as {_macro('superseded_rows')('raw_rows', ['key'])}")
    rarely = _macro("latest_delivered_rows")("raw_rows", "superseded")
    before = con.execute(f"select count(*) from ({rarely})").fetchone()[0]
    con.execute("update raw_rows set _load_id = 'L2' where _partition_date = date '2026-01-01'")
    [(superseded_there,)] = con.execute(
        "select count(*) from superseded where _partition_date = date '2026-01-01'"
    ).fetchall()
    after = con.execute(f"select count(*) from ({rarely})").fetchone()[0]
    assert superseded_there > 0
    assert after == before + superseded_there
