"""The nightly report on a warehouse built by the pipeline: the asset writes one self-contained
page per reference date, holds no customer's personal data, loads nothing from elsewhere, draws
its charts from the marts, and `weixi report` writes the same page."""

import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.defs.report import ACTIVATION_GROUP, REPORT_KEY
from orchestration.settings import get_settings
from reporting import kpi_trends, product_pairs, segment_grid
from reporting.page import REPORT_NAME
from tests.support import code_location_assets, weixi_resources


@pytest.fixture
def warehouse(tmp_path: Path, pipeline_warehouse: tuple[Path, object]) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_warehouse[0], copy)
    return copy


def _reference_date(warehouse: Path) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return (
            con.execute("select reference_date from intermediate.int_reference_date__selected")
            .fetchone()[0]
            .isoformat()
        )


def _materialize(warehouse: Path, landing: Path) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        code_location_assets(dg.AssetSelection.assets(REPORT_KEY)),
        resources=weixi_resources(warehouse, landing),
        selection=dg.AssetSelection.assets(REPORT_KEY),
    )
    assert result.success
    return result


def test_the_report_is_written_once_per_reference_date(warehouse, demo_landing):
    result = _materialize(warehouse, demo_landing)
    path = (
        warehouse.parent / "reports" / REPORT_NAME.format(reference_date=_reference_date(warehouse))
    )
    (materialization,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == REPORT_KEY
    ]
    assert materialization.metadata["path"].value == str(path)
    html = path.read_text(encoding="utf-8")
    # The pipeline's marts are drawn; the marts of later steps (models, lift) are notes.
    for title in ("Sales and activity, week by week", "RFM grid", "Strongest product pairs"):
        assert title in html
    assert "marts.churn_scores is not built yet" in html
    first = path.stat().st_mtime_ns
    _materialize(warehouse, demo_landing)
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a re-run replaces it"
    assert path.stat().st_mtime_ns >= first


def test_the_report_holds_no_personal_data_and_loads_nothing(warehouse, demo_landing):
    _materialize(warehouse, demo_landing)
    (path,) = (warehouse.parent / "reports").iterdir()
    html = path.read_text(encoding="utf-8")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        people = con.execute(
            "select customer_id, customer_name, email, phone from staging.stg_crm__customers"
        ).fetchall()
    personal = {
        value
        for row in people
        for value in row
        # Two-character Chinese names could be part of a product name; longer ones cannot.
        if value and len(value) >= 3
    }
    assert len(personal) > 3 * len(people) // 2
    assert not [value for value in personal if value in html]
    assert "<script" not in html.lower() and "@import" not in html
    links = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)|url\(([^)]*)\)""", html)
    assert all((a or b).startswith(("#", "data:")) for a, b in links)


@pytest.mark.parametrize(
    ("module", "change"),
    [
        (
            kpi_trends,
            "update marts.kpi_daily set revenue = revenue * 3 where kpi_date in "
            "(select kpi_date from marts.kpi_daily order by kpi_date limit 14 offset 7)",
        ),
        (
            segment_grid,
            "update marts.customer_rfm set r_score = 6 - r_score "
            "where customer_id in (select customer_id from marts.customer_rfm limit 20)",
        ),
        (
            product_pairs,
            "update marts.product_associations set pair_baskets = pair_baskets + 1000",
        ),
    ],
)
def test_the_charts_follow_their_marts(warehouse, module, change):
    with duckdb.connect(str(warehouse)) as con:
        before = [chart.svg for chart in module.section(con).charts]
        con.execute(change)
        after = [chart.svg for chart in module.section(con).charts]
    assert before and len(before) == len(after)
    assert before[0] != after[0]


def test_the_report_runs_after_every_mart_and_activation_asset(all_assets):
    from orchestration.definitions import defs

    graph = defs().resolve_asset_graph()
    parents = graph.get(REPORT_KEY).parent_keys
    marts = {k for k in graph.materializable_asset_keys if k.path[0] == "marts"}
    activation = {
        k for k in graph.materializable_asset_keys if graph.get(k).group_name == ACTIVATION_GROUP
    }
    assert activation and marts <= parents and activation <= parents


def test_weixi_report_writes_the_page(warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("WEIXI_WAREHOUSE", str(warehouse))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["report", "--out", str(tmp_path / "out")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    written = tmp_path / "out" / REPORT_NAME.format(reference_date=_reference_date(warehouse))
    assert f"wrote {written}" in result.output
    assert "Campaign lift" in written.read_text(encoding="utf-8")
