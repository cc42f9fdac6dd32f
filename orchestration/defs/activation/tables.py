"""What the activation assets ask of the warehouse before reading a table that may not exist
yet (a first night, a shop without imported campaigns)."""

import duckdb


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``table`` (``schema.name``) exists in the warehouse."""
    schema, name = table.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )
