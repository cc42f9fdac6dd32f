from ingest.contract import LINEAGE_COLUMNS, SOURCES, render_markdown, source
from orchestration.settings import PROJECT_ROOT


def test_docs_are_rendered_from_the_contract():
    text = (PROJECT_ROOT / "docs" / "data_contract.md").read_text(encoding="utf-8")
    assert text == render_markdown(), "run `weixi contract` to refresh docs/data_contract.md"


def test_every_entity_is_well_formed():
    tables = set()
    for s in SOURCES:
        for e in s.entities:
            names = e.column_names
            assert len(names) == len(set(names)), f"{s.name}.{e.name}: duplicate columns"
            assert set(e.key) <= set(e.required_columns), f"{s.name}.{e.name}: key not required"
            assert not set(names) & set(LINEAGE_COLUMNS)
            tables.add(s.raw_table(e))
    assert len(tables) == sum(len(s.entities) for s in SOURCES)


def test_the_sources_of_the_product_and_past_campaigns():
    assert [s.name for s in SOURCES] == ["crm", "orders", "service", "social", "campaigns"]
    assert [s.name for s in SOURCES if not s.daily] == ["campaigns"]
    assert source("orders").entities[0].name == "orders"
