"""The dbt source files are rendered and kept current: the landing sources' from the contract,
those of the tables Python writes from their table specs."""

import yaml
from click.testing import CliRunner

from ingest.contract import SOURCES
from ingest.dbt_sources import render_dbt_sources
from orchestration import cli
from orchestration.settings import DBT_PROJECT_DIR
from orchestration.table_catalog import (
    PYTHON_SOURCES,
    PYTHON_TABLES,
    python_sources_path,
    render_python_sources,
)


def test_every_landing_source_declares_the_contract_columns_and_not_null_tests():
    for source in SOURCES:
        (declared,) = yaml.safe_load(render_dbt_sources(source))["sources"]
        assert (declared["name"], declared["schema"]) == (source.name, "raw")
        tables = {table["name"]: table for table in declared["tables"]}
        assert list(tables) == [e.name for e in source.entities]
        for entity in source.entities:
            table = tables[entity.name]
            assert f"raw.{table['identifier']}" == source.raw_table(entity)
            columns = {c["name"]: c for c in table["columns"]}
            assert list(columns) == [*entity.column_names, "_partition_date"]
            for column in entity.columns:
                assert columns[column.name]["description"] == column.description
                tests = columns[column.name].get("data_tests", [])
                assert tests == (["not_null"] if column.required else []), column.name


def test_every_table_python_writes_is_a_dbt_source_with_its_columns_and_types():
    declared = {}
    for source in PYTHON_SOURCES:
        for schema in source.schemas:
            (block,) = yaml.safe_load(render_python_sources(source, schema))["sources"]
            assert (block["name"], block["schema"]) == (source.name, schema)
            for table in block["tables"]:
                declared[f"{schema}.{table['name']}"] = table
    assert sorted(declared) == [spec.name for spec in PYTHON_TABLES]
    assert len({spec.name for spec in PYTHON_TABLES}) == len(PYTHON_TABLES), "one source each"
    for spec in PYTHON_TABLES:
        table = declared[spec.name]
        assert table["description"].startswith(spec.description)
        assert f"Grain: {spec.grain}." in table["description"]
        assert [(c["name"], c["description"], c["data_type"]) for c in table["columns"]] == [
            (c.name, c.description, c.duckdb_type) for c in spec.columns
        ]


def test_the_generated_files_are_current():
    targets = [target for target, _ in cli.generated_files()]
    for source in SOURCES:
        assert (
            DBT_PROJECT_DIR / "models" / "staging" / source.name / (f"_{source.name}__sources.yml")
            in targets
        )
    for source in PYTHON_SOURCES:
        for schema in source.schemas:
            assert DBT_PROJECT_DIR / python_sources_path(source, schema) in targets
    for target, render in cli.generated_files():
        assert target.read_text(encoding="utf-8") == render(), f"run `weixi contract`: {target}"


def test_check_fails_naming_the_drifted_file(tmp_path, monkeypatch):
    current, drifted = tmp_path / "current.yml", tmp_path / "drifted.yml"
    current.write_text("same\n", encoding="utf-8")
    drifted.write_text("edited by hand\n", encoding="utf-8")
    monkeypatch.setattr(cli, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(
        cli, "generated_files", lambda: [(current, lambda: "same\n"), (drifted, lambda: "new\n")]
    )

    result = CliRunner().invoke(cli.main, ["contract", "--check"])

    assert result.exit_code != 0
    assert "drifted.yml" in result.output and "current.yml" not in result.output
    assert drifted.read_text(encoding="utf-8") == "edited by hand\n"

    assert CliRunner().invoke(cli.main, ["contract"]).exit_code == 0
    assert drifted.read_text(encoding="utf-8") == "new\n"
