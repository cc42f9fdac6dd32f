"""The loader's own tables: its log of loads and files, and the quarantine of rejected rows.

Declared as :class:`warehouse.table_spec.TableSpec`s like every other table Python writes, so
their DDL and their page in ``docs/python_tables.md`` come from one declaration. Column names,
types and order are those of the inline DDL they replace (warehouses created before keep
working, and the quarantine is written positionally in this order).
"""

from __future__ import annotations

from warehouse.table_spec import SpecColumn, TableSpec

_SOURCE = SpecColumn("source", "string", "The landing source (`crm`, `orders`, ...).")
_ENTITY = SpecColumn("entity", "string", "The entity of the source (`orders`, `order_lines`, ...).")
_LOAD_ID = SpecColumn("load_id", "string", "The load (the Dagster run that loaded the day).")
_LOADED_AT = SpecColumn("loaded_at", "timestamp", "When the load ran (the machine's local time).")
_DAY = SpecColumn("partition_date", "date", "The delivery day.")

QUARANTINE = TableSpec(
    name="raw._quarantine",
    description="Every delivered row the loader rejected, with the rule it broke and the row as "
    "delivered, so nothing is lost silently (see docs/bad_deliveries.md). Re-loading a day "
    "replaces its rows.",
    grain="One row per rejected row of a delivered file",
    key=("source", "entity", "_partition_date", "_file", "_row_number"),
    columns=(
        _SOURCE,
        _ENTITY,
        SpecColumn("_partition_date", "date", "The delivery day."),
        SpecColumn("_file", "string", "The file, relative to the landing folder."),
        SpecColumn("_row_number", "int64", "The row's number in the file."),
        SpecColumn("reason", "string", "Every rule the row broke, naming column and value."),
        SpecColumn("record", "string", "The row as delivered (may hold personal data)."),
        SpecColumn("_load_id", "string", _LOAD_ID.description),
        SpecColumn("_loaded_at", "timestamp", _LOADED_AT.description),
    ),
)
LOADS = TableSpec(
    name="raw._loads",
    description="The loader's log: rows read, loaded and quarantined per source, entity and "
    "delivery day, with what the files lacked or carried in excess. Re-loading a day replaces "
    "its row.",
    grain="One row per source, entity and delivery day loaded",
    key=("source", "entity", "partition_date"),
    columns=(
        _LOAD_ID,
        _SOURCE,
        _ENTITY,
        _DAY,
        SpecColumn("files", "int64", "Files of the entity read for the day."),
        SpecColumn("rows_read", "int64", "Rows read (= rows_loaded + rows_quarantined)."),
        SpecColumn("rows_loaded", "int64", "Rows written to the raw table."),
        SpecColumn("rows_quarantined", "int64", "Rows written to `raw._quarantine`."),
        SpecColumn("extra_columns", "string", "Columns not in the contract, ignored (comma-list)."),
        _LOADED_AT,
        SpecColumn("files_skipped", "int64", "Files skipped as byte copies of a file read."),
        SpecColumn("missing_columns", "string", "Optional contract columns absent, loaded empty."),
        SpecColumn("encodings", "string", "Encodings the files were read in (comma-list)."),
        SpecColumn(
            "rows_without_parent",
            "int64",
            "Rows loaded whose parent never arrived, e.g. order lines without their order.",
        ),
    ),
)
FILES = TableSpec(
    name="raw._files",
    description="Every delivered file the loader saw, with the SHA-256 of its bytes: finds "
    "files delivered twice and late or corrected files (the late-data sensor compares it "
    "with the landing folder). Re-loading a day replaces its rows.",
    grain="One row per file of a source entity's delivery day",
    key=("source", "entity", "partition_date", "file"),
    columns=(
        _LOAD_ID,
        _SOURCE,
        _ENTITY,
        _DAY,
        SpecColumn("file", "string", "The file, relative to the landing folder."),
        SpecColumn("sha256", "string", "SHA-256 of the file's bytes."),
        SpecColumn("bytes", "int64", "The file's size."),
        SpecColumn("modified_at", "timestamp", "The file's modification time (UTC) when loaded."),
        SpecColumn("encoding", "string", "The encoding it was read in (`utf-8`, `gb18030`)."),
        SpecColumn("rows_read", "int64", "Rows read from it."),
        SpecColumn(
            "status",
            "string",
            "`loaded`, `skipped_duplicate` (same bytes as a file of the day) or "
            "`quarantined_duplicate` (same bytes as a file of another day).",
        ),
        SpecColumn("duplicate_of", "string", "The file it copies, for the duplicates."),
        _LOADED_AT,
    ),
)
LOG_TABLES: tuple[TableSpec, ...] = (QUARANTINE, LOADS, FILES)
"""The loader's tables beside the raw tables of the contract."""
