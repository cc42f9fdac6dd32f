"""The catalogue of every table Python writes, its documentation page and its dbt sources (the
code location imports every library, so the catalogue lives here).

The dbt sources make ``dbt docs generate`` document every table the serving file publishes, and
keep the names dbt models use in ``source()``; ``weixi contract`` writes them and ``--check``
fails on drift, so a column added to a spec reaches dbt docs without a hand edit.

Each spec is declared once, beside the code that produces the table's rows: the activation
tables in ``activation/``, the check results in ``data_quality/``, the loader's log and quarantine
in ``ingest/log_tables.py``, and the model outputs (whose rows the Dagster model assets
assemble) in ``warehouse/model_outputs.py``. Raw tables are declared by the data contract
(``ingest/contract.py``) and documented in ``docs/data_contract.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from activation.builder import ACCOUNT_MANAGER_TASKS, AUDIENCE_HISTORY, AUDIENCE_MEMBERS
from activation.destinations.erasure import ERASURES_APPLIED
from activation.destinations.sync import ACTIVATION_SYNCS, REJECTIONS, SYNC_STATE
from activation.lift import CAMPAIGN_LIFT
from activation.suppressions import SUPPRESSIONS
from data_quality.results import CHECK_RESULTS, QUALITY_RUNS
from ingest.dbt_sources import Quoted, dump_yaml
from ingest.log_tables import LOG_TABLES
from warehouse.model_outputs import ENGINE_OUTPUTS, MODEL_VALIDATION, TEXT_SENTIMENT
from warehouse.table_spec import TableSpec


@dataclass(frozen=True)
class PythonSource:
    """Tables Python writes, as one dbt source: ``name`` is what dbt models call it in
    ``source()``, ``description`` says what writes the tables. A source spanning several
    schemas becomes one dbt source per schema, under the same name, each in its own file."""

    name: str
    description: str
    tables: tuple[TableSpec, ...]

    @property
    def schemas(self) -> tuple[str, ...]:
        """The schemas of its tables, sorted."""
        return tuple(sorted({spec.schema for spec in self.tables}))


PYTHON_SOURCES: tuple[PythonSource, ...] = (
    PythonSource(
        "ml",
        "Written by the model assets (orchestration/defs/ml/): sentiment before dbt runs, "
        "the scores after the dbt marts they read and before the scored marts.",
        (TEXT_SENTIMENT, *ENGINE_OUTPUTS),
    ),
    PythonSource(
        "governance",
        "The consent and erasure ledger, written by the asset governance/suppressions "
        "(orchestration/defs/activation/suppressions.py) before dbt runs; see "
        "docs/consent_and_erasure.md.",
        (SUPPRESSIONS,),
    ),
    PythonSource(
        "activation",
        "Written by the activation assets (orchestration/defs/activation/) after the scored "
        "marts: audiences, their history, syncs to destinations and campaign lift; see "
        "docs/activation.md.",
        (
            AUDIENCE_MEMBERS,
            AUDIENCE_HISTORY,
            ACCOUNT_MANAGER_TASKS,
            ACTIVATION_SYNCS,
            SYNC_STATE,
            REJECTIONS,
            ERASURES_APPLIED,
            CAMPAIGN_LIFT,
        ),
    ),
    PythonSource(
        "quality",
        "Written by the data checks (orchestration/defs/quality/); see docs/data_quality.md.",
        (CHECK_RESULTS, QUALITY_RUNS),
    ),
    PythonSource(
        "loader",
        "The loader's log, file manifest and quarantine (ingest/), written by every raw/<source> "
        "asset; see docs/bad_deliveries.md.",
        LOG_TABLES,
    ),
)
"""Every table Python writes outside the loader, by the dbt source it belongs to."""

PYTHON_TABLES: tuple[TableSpec, ...] = tuple(
    sorted((spec for source in PYTHON_SOURCES for spec in source.tables), key=lambda s: s.name)
)
"""Every table Python writes except the raw tables of the contract, by name."""

WRITING_ASSETS: dict[str, tuple[str, ...] | None] = {
    AUDIENCE_HISTORY.name: ("marts", "audience_members"),
    SYNC_STATE.name: ("marts", "activation_syncs"),
    REJECTIONS.name: ("marts", "activation_syncs"),
    ERASURES_APPLIED.name: ("marts", "activation_syncs"),
    CHECK_RESULTS.name: ("marts", "data_quality_runs"),
    # Every model asset adds its own rows, every loader its log: no one asset to name.
    MODEL_VALIDATION.name: None,
    **{spec.name: None for spec in LOG_TABLES},
}
"""The Dagster asset that writes each table that is not an asset of its own name (the others
are keyed ``schema/table``), so a dbt model that reads the table runs after that asset."""

DBT_TESTS: dict[str, dict[str, list[object]]] = {
    TEXT_SENTIMENT.name: {
        "text_kind": [
            "not_null",
            {"accepted_values": {"arguments": {"values": ["post", "ticket", "survey_comment"]}}},
        ],
        "source_id": ["not_null"],
        "text_hash": ["not_null"],
        "sentiment_score": [
            "not_null",
            {"between": {"arguments": {"min_value": -1, "max_value": 1}}},
        ],
    },
    SUPPRESSIONS.name: {
        "customer_id": ["not_null"],
        "channel": [
            "not_null",
            {
                "accepted_values": {
                    "arguments": {"values": ["email", "sms", "wechat", "phone", "all"]}
                }
            },
        ],
        "reason": [
            "not_null",
            {
                "accepted_values": {
                    "arguments": {"values": ["marketing_opt_out", "channel_opt_out", "erasure"]}
                }
            },
        ],
        "recorded_at": ["not_null"],
    },
}
"""dbt tests on the tables the dbt models read before anything else checks them (the model
marts have their own Great Expectations checks, ``data_quality/table_rules.py``)."""

SOURCES_HEADER = (
    "# Generated from the table specs (orchestration/table_catalog.py) by `weixi contract`; do\n"
    "# not edit by hand. The tables Python writes, as dbt sources, so dbt docs document them.\n"
)


def python_sources_path(source: PythonSource, schema: str) -> Path:
    """Where the dbt source file of the tables of ``source`` in ``schema`` lives, relative to
    the dbt project folder: beside the scored marts for the ``marts`` schema, else under
    ``staging/<schema>``. A file per source and schema, and the paths the hand-written files
    had: dbt's partial parse fails ("depends on a source ... which was not found") when a
    source moves from one file to another."""
    folder = Path("marts") / "scored" if schema == "marts" else Path("staging") / schema
    return Path("models") / folder / f"_{source.name}__sources.yml"


def _asset_key(spec: TableSpec) -> tuple[str, ...] | None:
    return WRITING_ASSETS.get(spec.name, tuple(spec.name.split(".")))


def _dbt_table(spec: TableSpec) -> dict[str, object]:
    tests = DBT_TESTS.get(spec.name, {})
    columns = []
    for column in spec.columns:
        declared: dict[str, object] = {
            "name": column.name,
            "description": Quoted(column.description),
            "data_type": column.duckdb_type,
        }
        if column.name in tests:
            declared["data_tests"] = tests[column.name]
        columns.append(declared)
    key = ", ".join(spec.key)
    table: dict[str, object] = {
        "name": spec.name.split(".")[1],
        "description": Quoted(f"{spec.description} Grain: {spec.grain}. Key: {key}."),
    }
    asset_key = _asset_key(spec)
    if asset_key is not None:
        # dbt lineage to Dagster: a model reading this source runs after the writing asset.
        table["config"] = {"meta": {"dagster": {"asset_key": list(asset_key)}}}
    table["columns"] = columns
    return table


def render_python_sources(source: PythonSource, schema: str) -> str:
    """The dbt source YAML of the tables of ``source`` in ``schema``: every table with its
    description, grain and key, every column with its description and DuckDB type."""
    document = {
        "version": 2,
        "sources": [
            {
                "name": source.name,
                "description": Quoted(source.description),
                "schema": schema,
                "tables": [_dbt_table(s) for s in source.tables if s.schema == schema],
            }
        ],
    }
    return SOURCES_HEADER + "\n" + dump_yaml(document)


def render_python_tables_markdown() -> str:
    """``docs/python_tables.md``: every table Python writes, with its grain, key and columns."""
    index = "\n".join(
        f"| [`{s.name}`](#{s.name.replace('.', '')}) | {s.grain} |" for s in PYTHON_TABLES
    )
    sections = "\n".join(spec.markdown() for spec in PYTHON_TABLES)
    return (
        "# Tables written from Python\n\n"
        "Generated by `weixi contract` from the table specs (`warehouse/table_spec.py`); do not "
        "edit by hand. dbt builds every other table of the warehouse (see the dbt docs), the "
        "loader writes the raw tables (see [the data contract](data_contract.md)) and the log "
        "and quarantine tables `raw._loads`, `raw._files` and `raw._quarantine` listed here.\n\n"
        f"| table | grain |\n|---|---|\n{index}\n\n{sections}"
    )
