"""marts.campaign_lift on two years of demo data: the planted win-back effect is recovered, the
nudge that does nothing shows an interval around 0, and Weixi's own history joins the imported
campaigns."""

import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from activation.lift import CAMPAIGN_LIFT
from orchestration.defs.activation.lift import campaign_lift_table
from tests.support import ML_END, weixi_resources

WIN_BACK, NUDGE = "win_back_high_value", "first_repurchase_nudge"


def _materialize(warehouse: Path, landing: Path) -> dg.ExecuteInProcessResult:
    result = dg.materialize([campaign_lift_table], resources=weixi_resources(warehouse, landing))
    assert result.success
    return result


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return event.materialization.metadata


def _lift(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("select * from marts.campaign_lift").df()


@pytest.fixture(scope="module")
def lift_run(ml_warehouse: Path, ml_landing: Path, tmp_path_factory: pytest.TempPathFactory):
    """The lift asset on a copy of the two-year warehouse, which has no audience history yet."""
    warehouse = tmp_path_factory.mktemp("lift") / "warehouse.duckdb"
    shutil.copy(ml_warehouse, warehouse)
    result = _materialize(warehouse, ml_landing)
    truth = pd.read_parquet(ml_landing / "_truth" / "campaigns.parquet")
    return warehouse, result, _lift(warehouse), truth.set_index(["audience", "window_days"])


def _row(lift: pd.DataFrame, audience: str, window: int, metric: str) -> pd.Series:
    rows = lift[lift.audience.eq(audience) & lift.window_days.eq(window) & lift.metric.eq(metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_planted_win_back_effect_is_recovered_with_its_interval(lift_run):
    _, _, lift, truth = lift_run
    for window in (30, 60):
        rate = _row(lift, WIN_BACK, window, "repurchase_rate")
        planted = truth.loc[(WIN_BACK, window), "repurchase_rate_effect"]
        assert planted > 0.1
        assert 0 < rate.ci_low <= planted <= rate.ci_high, (window, rate.to_dict(), planted)
        assert rate.p_value < 0.05
        revenue = _row(lift, WIN_BACK, window, "revenue_per_customer")
        planted = truth.loc[(WIN_BACK, window), "revenue_per_customer_effect"]
        assert revenue.ci_low <= planted <= revenue.ci_high, (window, revenue.to_dict())


def test_null_effect_nudge_has_an_interval_around_zero(lift_run):
    _, _, lift, truth = lift_run
    for window in (30, 60, 90):
        assert truth.loc[(NUDGE, window), "repurchase_rate_effect"] == 0
        for metric in ("repurchase_rate", "revenue_per_customer"):
            row = _row(lift, NUDGE, window, metric)
            assert row.ci_low < 0 < row.ci_high, (window, metric, row.to_dict())


def test_every_imported_member_counts_once_and_unfinished_windows_wait(lift_run, ml_landing):
    warehouse, result, lift, truth = lift_run
    assert list(lift.columns) == list(CAMPAIGN_LIFT.column_names)
    assert len(lift) == 2 * 3 * 3
    consent = pd.read_parquet(ml_landing / "_truth" / "consent.parquet")
    erased = consent.loc[consent["planted"] == "erasure", "customer_id"].tolist()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        forgotten = con.execute(
            "select customer_id, audience, holdout_group, min(assigned_on) as assigned_on "
            "from raw.campaigns__members where customer_id in (select unnest(?)) group by all",
            [erased],
        ).df()
    for (audience, window), planted in truth.iterrows():
        row = _row(lift, audience, window, "repurchase_rate")
        # Every planted member whose window ended counts once, but the forgotten customers.
        gone = (
            forgotten[
                forgotten.audience.eq(audience)
                & (forgotten.assigned_on <= pd.Timestamp(ML_END - timedelta(days=window)))
            ]
            .groupby("holdout_group")
            .size()
        )
        assert row.treatment_customers == planted.treatment_members - gone.get("treatment", 0)
        assert row.control_customers == planted.control_members - gone.get("control", 0)
        # Windows still running on the reference date are left out and counted as pending.
        assert row.assignments_to <= pd.Timestamp(ML_END - timedelta(days=window))
        assert row.pending_assignments > 0 and not row.window_complete
    share = lift.control_customers.sum() / (lift.control_customers + lift.treatment_customers).sum()
    assert 0.07 < share < 0.13
    metadata = _metadata(result)
    assert "lift [95% CI]" in metadata["lift"].value
    assert set(metadata["assignments"].value) == {"imported"}


def test_the_verdict_comes_from_the_primary_metric_only(lift_run):
    _, result, lift, _ = lift_run
    primary = lift[lift.is_primary].set_index("audience")
    # audiences.yml: win-back is judged on 60-day repurchase, the nudge on 30-day repurchase.
    assert (primary.loc[WIN_BACK, "metric"], primary.loc[WIN_BACK, "window_days"]) == (
        "repurchase_rate",
        60,
    )
    assert primary.loc[WIN_BACK, "verdict"] == "works"
    assert primary.loc[NUDGE, "window_days"] == 30
    assert primary.loc[NUDGE, "verdict"] == "no_evidence"
    assert (primary.adjusted_p_value == primary.p_value).all()
    secondary = lift[~lift.is_primary]
    assert secondary.verdict.isna().all() and set(secondary.status) == {"secondary"}
    assert (secondary.adjusted_p_value >= secondary.p_value).all()
    # The do-nothing nudge shows no secondary effect either once the eight tests are adjusted.
    assert (secondary[secondary.audience.eq(NUDGE)].adjusted_p_value >= 0.05).all()
    headline = _metadata(result)["lift"].value
    assert "no_evidence" in headline and "works" in headline
    assert _metadata(result)["verdicts"].value == {WIN_BACK: "works", NUDGE: "no_evidence"}


def test_weixi_history_joins_the_imported_campaigns(lift_run, ml_landing, tmp_path):
    source, _, before, _ = lift_run
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(source, warehouse)
    assigned_on = date(2025, 9, 1)
    with duckdb.connect(str(warehouse)) as con:
        customers = [
            c
            for (c,) in con.execute(
                "select customer_id from marts.customer_360 order by customer_id limit 40"
            ).fetchall()
        ]
        history = pd.DataFrame(
            {
                "audience_date": assigned_on,
                "audience": "birthday_greeting",
                "kind": "marketing",
                "customer_id": customers + ["C_ERASED"],
                "channel": "sms",
                "priority": 50,
                "template_key": "birthday",
                "holdout_group": ["control" if i % 4 == 0 else "treatment" for i in range(41)],
                "is_new_entry": True,
                "reason": "birthday",
                "payload": "{}",
            }
        )
        # The same customers a day later are no new entry: no second assignment.
        later = history.assign(audience_date=assigned_on + timedelta(days=1), is_new_entry=False)
        con.execute("create schema activation")
        con.register("_history", pd.concat([history, later]))
        con.execute("create table activation.audience_history as select * from _history")
    result = _materialize(warehouse, ml_landing)
    lift = _lift(warehouse)
    row = _row(lift, "birthday_greeting", 30, "repurchase_rate")
    assert (row.treatment_customers, row.control_customers) == (30, 10)
    assert row.is_primary and row.status == "primary"
    assert row.assignments_from == row.assignments_to == pd.Timestamp(assigned_on)
    imported = lift[lift.audience.ne("birthday_greeting")].reset_index(drop=True)
    pd.testing.assert_frame_equal(imported, before)
    metadata = _metadata(result)
    assert metadata["assignments_left_out"].value == 1


def test_no_assignments_write_an_empty_table(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        for schema in ("intermediate", "marts"):
            con.execute(f"create schema {schema}")
        con.execute(
            "create table intermediate.int_reference_date__selected as "
            "select date '2025-06-30' as reference_date"
        )
        con.execute("create table marts.customer_360 (customer_id varchar)")
    result = _materialize(warehouse, tmp_path / "landing")
    lift = _lift(warehouse)
    assert lift.empty and list(lift.columns) == list(CAMPAIGN_LIFT.column_names)
    metadata = _metadata(result)
    assert "no campaign assignments" in metadata["skipped"].value
