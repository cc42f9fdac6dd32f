"""Table specs: one declaration gives the DDL, the empty frame, the conformed frame and the
documentation, with the same DuckDB types whichever road writes the table."""

from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

from orchestration.table_catalog import PYTHON_TABLES, render_python_tables_markdown
from warehouse.table_spec import TYPES, SpecColumn, TableSpec, table_exists

SPEC = TableSpec(
    name="marts.example",
    description="An example.",
    grain="One row per customer",
    key=("customer_id",),
    columns=tuple(
        SpecColumn(kind if kind != "string" else "customer_id", kind, f"a {kind}") for kind in TYPES
    ),
)


def _types(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [tuple(r[:2]) for r in con.execute(f"describe {table}").fetchall()]


def test_a_frame_written_as_is_and_the_ddl_give_the_same_types():
    frame = pd.DataFrame(
        {
            "customer_id": ["c1"],
            "date": [date(2025, 1, 2)],
            "timestamp": [datetime(2025, 1, 2, 3, 4, 5)],
            "int64": [1],
            "int32": [2],
            "float64": [0.5],
            "bool": [True],
            "money": [pd.NA],
            "string_list": [["late", "damaged"]],
        }
    )
    with duckdb.connect() as con:
        SPEC.create(con)
        con.register("conformed", SPEC.conform(frame))
        con.register("empty", SPEC.empty_frame())
        con.execute("create table marts.from_frame as select * from conformed")
        con.execute("create table marts.from_empty as select * from empty")
        con.execute(f"insert into {SPEC.name} by name select * from conformed")
        expected = _types(con, SPEC.name)
        assert _types(con, "marts.from_frame") == expected
        assert _types(con, "marts.from_empty") == expected
        assert [t for _, t in expected][:4] == ["VARCHAR", "DATE", "TIMESTAMP", "BIGINT"]
        assert table_exists(con, SPEC.name) and not table_exists(con, "marts.missing")


def test_conform_orders_casts_and_names_what_is_missing():
    spec = TableSpec(
        "ml.scores",
        "Scores.",
        "One row per customer",
        ("customer_id",),
        (SpecColumn("customer_id", "string", "id"), SpecColumn("as_of", "date", "day")),
    )
    out = spec.conform(pd.DataFrame({"as_of": ["2025-01-02"], "customer_id": [1], "x": [0]}))
    assert list(out.columns) == ["customer_id", "as_of"]
    assert out.dtypes.to_dict() == spec.dtypes
    assert out["customer_id"].iloc[0] == "1" and out["as_of"].iloc[0] == date(2025, 1, 2)
    assert list(spec.conform(pd.DataFrame()).columns) == ["customer_id", "as_of"]
    with pytest.raises(KeyError, match=r"ml.scores: columns missing from the frame: as_of"):
        spec.conform(pd.DataFrame({"customer_id": ["c1"]}))


def test_a_spec_refuses_unknown_types_and_keys():
    with pytest.raises(ValueError, match="unknown type 'text'"):
        SpecColumn("a", "text", "")
    with pytest.raises(ValueError, match="key"):
        TableSpec("a.b", "", "", ("c",), (SpecColumn("a", "string", ""),))


def test_every_table_is_declared_once_and_documented():
    names = [spec.name for spec in PYTHON_TABLES]
    assert len(names) == len(set(names))
    assert all(c.description for spec in PYTHON_TABLES for c in spec.columns)
    page = render_python_tables_markdown()
    assert all(f"## `{name}`" in page for name in names)
