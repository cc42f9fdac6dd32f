"""The dbt source files of the landing sources, rendered from the contract.

dbt reads each raw table the loader writes as a source declared in
``dbt_project/models/staging/<source>/_<source>__sources.yml``. Those files are generated from
`ingest/contract.py` by `weixi contract` (and checked by `weixi contract --check`), so their
descriptions and not-null tests follow the contract instead of drifting from a hand copy.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ingest.contract import Entity, Source

HEADER = (
    "# Generated from ingest/contract.py by `weixi contract`; do not edit by hand.\n"
    "# The raw tables the loader writes, as dbt sources.\n"
)

PARTITION_DATE_DOC = "{{ doc('_partition_date') }}"
"""The lineage column staging models read (the delivery day); the other lineage columns are not
declared because no model reads them."""


class Quoted(str):
    """A description: always double-quoted, so text with colons or Jinja stays one plain line."""


class _Dumper(yaml.SafeDumper):
    # Indent list items under their key, as dbt's own examples and the rest of the project do.
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


_Dumper.add_representer(
    Quoted, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
)


def sources_path(source: Source) -> Path:
    """Where the source file of ``source`` lives, relative to the dbt project folder."""
    return Path("models") / "staging" / source.name / f"_{source.name}__sources.yml"


def _table(source: Source, entity: Entity) -> dict[str, object]:
    columns: list[dict[str, object]] = []
    for column in entity.columns:
        spec: dict[str, object] = {"name": column.name, "description": Quoted(column.description)}
        # Only the rule a raw row cannot break unnoticed: the loader quarantines rows missing
        # a required value, so a null here means the loader let one through.
        if column.required:
            spec["data_tests"] = ["not_null"]
        columns.append(spec)
    columns.append({"name": "_partition_date", "description": Quoted(PARTITION_DATE_DOC)})
    return {
        "name": entity.name,
        "identifier": source.raw_table(entity).removeprefix("raw."),
        "description": Quoted(f"{entity.description} Key: {', '.join(entity.key)}."),
        "columns": columns,
    }


def render_dbt_sources(source: Source) -> str:
    """The dbt source YAML of ``source``: its raw tables, their columns and not-null tests."""
    document = {
        "version": 2,
        "sources": [
            {
                "name": source.name,
                "description": Quoted(
                    f"{source.description} Loaded by the Weixi loader; see docs/data_contract.md."
                ),
                "schema": "raw",
                "tables": [_table(source, entity) for entity in source.entities],
            }
        ],
    }
    return HEADER + "\n" + dump_yaml(document)


def dump_yaml(document: dict[str, object]) -> str:
    """``document`` as dbt YAML: keys in order, list items indented, one line per description
    (no folding), so a changed description is a one-line diff."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000)
