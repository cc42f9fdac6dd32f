"""The quality checks as Dagster runs them: real ingestion assets on landing folders written here,
the real checks, blocking, warnings, Data Docs, the results tables and source freshness."""

import csv
import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest

from ingest.contract import SOURCES
from orchestration.defs.quality.checks import source_checks
from orchestration.defs.quality.freshness import freshness_checks
from orchestration.defs.raw import ingest_assets
from orchestration.settings import get_settings
from tests.support import DEMO_END, range_tags, weixi_resources

FIRST = DEMO_END - timedelta(days=11)


def _copy_days(demo_landing: Path, out: Path, days: list[date], sources=SOURCES) -> Path:
    for source in sources:
        for day in days:
            folder = demo_landing / source.name / day.isoformat()
            if folder.is_dir():
                shutil.copytree(folder, out / source.name / day.isoformat())
    return out


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _defs(sources: tuple[str, ...]) -> list:
    """The ingestion assets, quality checks and freshness checks of ``sources``."""
    picked = [i for i, s in enumerate(SOURCES) if s.name in sources]
    return [
        *(ingest_assets[i] for i in picked),
        *(source_checks[i] for i in picked),
        *(
            check
            for check in freshness_checks
            if any(key.asset_key.path[-1] in sources for key in check.check_keys)
        ),
    ]


def _evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def _resources(root: Path, landing: Path) -> dict:
    return weixi_resources(
        root / "w.duckdb", landing, quality_docs=root / "docs", alert_log=root / "alerts.log"
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory, demo_landing):
    """Twelve demo days of every source, loaded and checked in one ranged run, with one CRM
    e-mail and phone made malformed (so their format rule fails, and a leak would show)."""
    root = tmp_path_factory.mktemp("checked")
    landing = _copy_days(demo_landing, root / "landing", _days(FIRST, DEMO_END))
    customers = landing / "crm" / DEMO_END.isoformat() / "customers.csv"
    rows = list(csv.DictReader(customers.open(encoding="utf-8")))
    rows[0]["email"], rows[0]["phone"] = "wang.fang.no.at.sign", "call-me-at-home"
    with customers.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = dg.materialize(
        _defs(tuple(s.name for s in SOURCES)),
        resources=_resources(root, landing),
        tags=range_tags(FIRST, DEMO_END),
    )
    return root, result


def test_demo_deliveries_keep_the_contract_and_link_data_docs(checked):
    root, result = checked
    assert result.success
    evaluations = _evaluations(result)
    for source in SOURCES:
        contract = evaluations[(source.name, "contract")]
        assert contract.passed, contract.metadata["failed_expectations"].value
        assert contract.severity == dg.AssetCheckSeverity.ERROR and contract.blocking
        docs = contract.metadata["data_docs"].value
        assert docs == (root / "docs" / "index.html").as_uri()
        pages = re.findall(r"\((file://[^)]+)\)", contract.metadata["data_docs_pages"].value)
        assert pages and all(Path(p.removeprefix("file://")).is_file() for p in pages)
    plausibility = evaluations[("crm", "plausibility")]
    assert not plausibility.passed and plausibility.severity == dg.AssetCheckSeverity.WARN
    failed = plausibility.metadata["failed_expectations"].value
    assert "values_to_match_regex(email): 1 of" in failed
    assert "values_to_match_regex(phone): 1 of" in failed


def test_no_personal_data_reaches_data_docs_or_metadata(checked):
    root, result = checked
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        personal = set()
        for source in SOURCES:
            for entity in source.entities:
                for column in (c.name for c in entity.columns if c.pii):
                    personal |= {
                        v
                        for (v,) in con.execute(
                            f"select distinct {column}::varchar from {source.raw_table(entity)} "
                            f"where length({column}::varchar) >= 6"
                        ).fetchall()
                    }
    assert "wang.fang.no.at.sign" in personal and len(personal) > 100
    files = [p for p in (root / "docs").rglob("*") if p.is_file() and p.suffix != ".png"]
    assert any(p.suffix == ".html" for p in files) and any(p.suffix == ".json" for p in files)
    texts = [p.read_text(encoding="utf-8", errors="ignore") for p in files]
    texts += [str(e.metadata) for e in result.get_asset_check_evaluations()]
    leaked = {value for value in personal for text in texts if value in text}
    assert not leaked


def test_data_quality_runs_agree_with_the_loads(checked):
    root, result = checked
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        runs = con.execute(
            "select dataset, rows_in, rows_loaded, rows_quarantined, checks_passed, "
            "checks_failed, partition_start, partition_end from marts.data_quality_runs "
            "where run_id = ? order by dataset",
            [result.run_id],
        ).fetchall()
        loads = con.execute(
            "select source, sum(rows_read), sum(rows_loaded), sum(rows_quarantined) "
            "from raw._loads where load_id = ? group by all order by source",
            [result.run_id],
        ).fetchall()
        rules = con.execute(
            "select dataset, count(*) filter (where passed), count(*) filter (where not passed) "
            "from quality.check_results where run_id = ? group by all order by dataset",
            [result.run_id],
        ).fetchall()
    assert [r[:4] for r in runs] == [tuple(row) for row in loads]
    assert [(r[0], r[4], r[5]) for r in runs] == [tuple(row) for row in rules]
    assert {(r[6], r[7]) for r in runs} == {(FIRST, DEMO_END)}
    assert sum(r[1] for r in runs) > 500


def test_a_key_twice_in_one_delivery_blocks_what_reads_the_source(tmp_path, demo_landing):
    days = _days(DEMO_END - timedelta(days=2), DEMO_END)
    landing = _copy_days(demo_landing, tmp_path / "landing", days, [SOURCES[1]])
    orders = (landing / "orders" / DEMO_END.isoformat() / "orders.csv").read_text().splitlines()
    (landing / "orders" / DEMO_END.isoformat() / "orders_2.csv").write_text(
        "\n".join(orders[:2]) + "\n"
    )
    read = []

    @dg.asset(deps=[dg.AssetKey(["raw", "orders"])])
    def reads_orders() -> None:
        read.append(True)

    resources = _resources(tmp_path, landing)
    loaded = dg.materialize(
        _defs(("orders",))[:1], resources=resources, tags=range_tags(days[0], days[-1])
    )
    assert loaded.success
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        # The loader quarantines the repeated key (tests/unit/test_delivery_rules.py); the
        # blocking check is the net for a key twice that reached raw otherwise (a manual insert,
        # a warehouse loaded by an older version).
        assert con.execute("select reason from raw._quarantine").fetchall() == [
            (f"exact duplicate of 'orders/{DEMO_END}/orders.csv, row 2'",)
        ]
        con.execute(
            "insert into raw.orders__orders select * from raw.orders__orders "
            "where _partition_date = ? and _row_number = 2 and _file like '%/orders.csv'",
            [DEMO_END],
        )
    result = dg.materialize(
        [*_defs(("orders",)), reads_orders],
        resources=resources,
        tags=range_tags(days[0], days[-1]),
        selection=dg.AssetSelection.assets(reads_orders)
        | dg.AssetSelection.checks_for_assets(dg.AssetKey(["raw", "orders"])),
        raise_on_error=False,
    )
    contract = _evaluations(result)[("orders", "contract")]
    assert not contract.passed and contract.severity == dg.AssetCheckSeverity.ERROR
    assert (
        "key unique within a delivery(order_id): 2 of"
        in contract.metadata["failed_expectations"].value
    )
    assert not result.success and not read
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        blocking = con.execute(
            "select blocking_failures from marts.data_quality_runs where dataset = 'orders'"
        ).fetchone()[0]
    assert blocking == 1


def test_an_empty_day_loads_and_the_volume_check_warns(tmp_path, demo_landing):
    history = _days(FIRST, DEMO_END - timedelta(days=1))
    landing = _copy_days(demo_landing, tmp_path / "landing", history, [SOURCES[1]])
    empty = landing / "orders" / DEMO_END.isoformat()
    empty.mkdir()
    for entity in SOURCES[1].entities:
        header = ",".join(entity.column_names)
        (empty / f"{entity.name}.csv").write_text(header + "\n", encoding="utf-8")
    resources = _resources(tmp_path, landing)
    assert dg.materialize(
        _defs(("orders",)), resources=resources, tags=range_tags(history[0], history[-1])
    ).success
    result = dg.materialize(
        _defs(("orders",)), resources=resources, partition_key=DEMO_END.isoformat()
    )
    assert result.success
    evaluations = _evaluations(result)
    assert evaluations[("orders", "contract")].passed
    volume = evaluations[("orders", "volume")]
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.WARN
    assert "delivery not empty: 1 of 1 rows" in volume.metadata["failed_expectations"].value
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        loaded = con.execute(
            "select sum(files), sum(rows_read) from raw._loads where partition_date = ?",
            [DEMO_END],
        ).fetchone()
    assert loaded == (3, 0)


def test_an_engine_error_fails_the_step_naming_table_and_rule(tmp_path, demo_landing):
    landing = _copy_days(demo_landing, tmp_path / "landing", [DEMO_END], [SOURCES[3]])
    resources = _resources(tmp_path, landing)
    assert dg.materialize(
        [ingest_assets[3]], resources=resources, partition_key=DEMO_END.isoformat()
    ).success
    # A table left in an older shape: GX cannot compare text with the rating range.
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("alter table raw.social__posts alter rating type varchar")
        con.execute("update raw.social__posts set rating = 'five'")
    result = dg.materialize(
        [ingest_assets[3], source_checks[3]],
        resources=resources,
        selection=dg.AssetSelection.checks_for_assets(ingest_assets[3]),
        tags={"dagster/partition": DEMO_END.isoformat()},
        raise_on_error=False,
    )
    assert not result.success
    assert not result.get_asset_check_evaluations(), "an engine error is neither pass nor fail"
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "raw.social__posts" in message and "values_to_be_between(rating)" in message


def test_freshness_warns_on_old_deliveries_and_passes_on_fresh_ones(
    checked, tmp_path, demo_landing
):
    _, result = checked
    stale = _evaluations(result)[("orders", "freshness")]
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    assert stale.metadata["last_delivery"].value == DEMO_END.isoformat()

    yesterday = datetime.now(ZoneInfo(get_settings().timezone)).date() - timedelta(days=1)
    landing = tmp_path / "landing"
    shutil.copytree(
        demo_landing / "social" / DEMO_END.isoformat(), landing / "social" / yesterday.isoformat()
    )
    fresh = dg.materialize(
        [ingest_assets[3], freshness_checks[3]],
        resources=_resources(tmp_path, landing),
        partition_key=yesterday.isoformat(),
    )
    evaluation = _evaluations(fresh)[("social", "freshness")]
    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["hours_since_last_delivery"].value <= 24


def test_a_nightly_check_reads_only_its_day_and_a_range_check_reads_the_range(
    tmp_path, demo_landing
):
    days = _days(DEMO_END - timedelta(days=3), DEMO_END)
    landing = _copy_days(demo_landing, tmp_path / "landing", days, [SOURCES[1]])
    resources = _resources(tmp_path, landing)
    orders = dg.AssetKey(["raw", "orders"])
    assert dg.materialize(
        _defs(("orders",)), resources=resources, tags=range_tags(days[0], days[-2])
    ).success
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        # A bad row on a day already checked (a manual edit, a load by an older version).
        con.execute(
            "update raw.orders__orders set total_amount = -1 "
            "where _partition_date = ? and _row_number = 2",
            [days[0]],
        )
    nightly = dg.materialize(
        _defs(("orders",)), resources=resources, partition_key=days[-1].isoformat()
    )
    assert nightly.success and _evaluations(nightly)[("orders", "contract")].passed
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        checked = con.execute(
            "select distinct partition_start, partition_end from quality.check_results "
            "where run_id = ? and table_name = 'raw.orders__orders'",
            [nightly.run_id],
        ).fetchall()
        rows = con.execute(
            "select max(rows_checked) from quality.check_results where run_id = ? "
            "and table_name = 'raw.orders__orders'",
            [nightly.run_id],
        ).fetchone()[0]
        day_rows = con.execute(
            "select count(*) from raw.orders__orders where _partition_date = ?", [days[-1]]
        ).fetchone()[0]
    assert checked == [(days[-1], days[-1])] and rows == day_rows, "only the new day is read"
    whole_range = dg.materialize(
        _defs(("orders",)),
        resources=resources,
        tags=range_tags(days[0], days[-1]),
        selection=dg.AssetSelection.checks_for_assets(orders),
        raise_on_error=False,
    )
    contract = _evaluations(whole_range)[("orders", "contract")]
    assert not contract.passed
    assert "total_amount" in contract.metadata["failed_expectations"].value
