"""The sync state is updated by key, not rewritten: a second night sends only the difference, a
re-run sends nothing, and the state always equals what a from-scratch computation holds."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from activation.destinations.delivery import WEBHOOK, NightInput, night_changes, run_syncs
from activation.destinations.formats import AD_FORMATS, FILE_FORMATS, ad_members
from activation.destinations.members import MARKETING, SERVICE, ExportMembers
from activation.destinations.sync import SYNC_STATE, state_changes, update_state

DAY1, DAY2 = date(2025, 12, 30), date(2025, 12, 31)
AUDIENCES = {
    "welcome": (MARKETING, "email"),
    "win_back": (MARKETING, "sms"),
    "survey": (SERVICE, "email"),
}


def _export(members: dict[str, list[int]]) -> ExportMembers:
    rows = [
        {
            "customer_id": f"C{i:04d}",
            "audience": audience,
            "kind": AUDIENCES[audience][0],
            "channel": AUDIENCES[audience][1],
            "address": f"c{i}@example.com",
            "name": f"name {i}",
            "template_key": "v1",
            "is_new_entry": True,
            "payload": "{}",
            # Every third customer has no identifier an ad platform may use.
            "ad_email": None if i % 3 == 0 else f"c{i}@example.com",
            "ad_phone": None,
        }
        for audience, ids in members.items()
        for i in ids
    ]
    blocked = pd.DataFrame(columns=["audience", "kind", "customer_id", "channel", "rule"])
    return ExportMembers(rows=pd.DataFrame(rows), blocked=blocked)


def _from_scratch(export: ExportMembers) -> set[tuple[str, str, str]]:
    """What every destination but the (unconfigured) webhook should hold after the night."""
    rows = export.rows
    held = set()
    for fmt in FILE_FORMATS:
        part = rows if fmt.channel is None else rows[rows["channel"] == fmt.channel]
        held |= {
            (fmt.destination, a, c)
            for a, c in zip(part["audience"], part["customer_id"], strict=True)
        }
    ads = ad_members(rows)
    for ad in AD_FORMATS:
        held |= {
            (ad.destination, a, c) for a, c in zip(ads["audience"], ads["customer_id"], strict=True)
        }
    return held


def _night(con, export: ExportMembers, day: date, folder: Path) -> pd.DataFrame:
    night = NightInput(export, day, night_changes(con, export, webhook=False), frozenset(), folder)
    outcome = run_syncs(night, webhook=None)
    update_state(con, outcome.added_state(), outcome.removed_state())
    return outcome.sync_frame()


def _state(con) -> pd.DataFrame:
    return con.execute(f"select * from {SYNC_STATE.name}").df()


def _keys(state: pd.DataFrame) -> set[tuple[str, str, str]]:
    return set(zip(state["destination"], state["audience"], state["customer_id"], strict=True))


def test_second_night_sends_the_difference_and_a_rerun_nothing(tmp_path):
    first = _export({"welcome": [1, 2, 3, 4, 5, 6], "win_back": [2, 7], "survey": [8]})
    # C0001 leaves welcome, C0009 joins it; win_back empties; survey unchanged.
    second = _export({"welcome": [2, 3, 4, 5, 6, 9], "survey": [8]})
    with duckdb.connect() as con:
        SYNC_STATE.create(con)
        syncs1 = _night(con, first, DAY1, tmp_path)
        state1 = _state(con)
        assert _keys(state1) == _from_scratch(first)
        assert syncs1["removed"].sum() == 0 and syncs1["added"].sum() == len(state1)

        syncs2 = _night(con, second, DAY2, tmp_path).set_index(["destination", "audience"])
        state2 = _state(con)
        assert _keys(state2) == _from_scratch(second)
        assert syncs2.loc[("email", "welcome"), ["added", "removed"]].tolist() == [1, 1]
        assert syncs2.loc[("sms", "win_back"), ["added", "removed"]].tolist() == [0, 2]
        assert syncs2.loc[("parquet", "survey"), ["added", "removed"]].tolist() == [0, 0]
        assert set(syncs2.loc[WEBHOOK, "status"]) == {"skipped"}
        # Who stayed keeps the row (key, time, hashes) of the night that added them.
        stayed = state1.merge(state2, on=["destination", "audience", "customer_id"])
        for column in ("idempotency_key", "synced_at", "hashed_identifiers"):
            left, right = stayed[f"{column}_x"], stayed[f"{column}_y"]
            assert (left.eq(right) | (left.isna() & right.isna())).all(), column
        # The ad state carries the hashes to remove on erasure; the files hold none.
        ads = state2[state2["destination"].isin([a.destination for a in AD_FORMATS])]
        assert ads["hashed_identifiers"].notna().all()
        assert state2.loc[~state2.index.isin(ads.index), "hashed_identifiers"].isna().all()

        rerun = _night(con, second, DAY2, tmp_path)
        assert (rerun[["added", "removed"]] == 0).all().all()
        pd.testing.assert_frame_equal(
            _state(con).sort_values(list(state2.columns)).reset_index(drop=True),
            state2.sort_values(list(state2.columns)).reset_index(drop=True),
        )


def test_state_changes_are_the_set_difference_of_the_synced_destinations():
    members = pd.DataFrame(
        {
            "audience": ["welcome"] * 4 + ["survey"] * 2,
            "customer_id": ["C1", "C2", "C3", "C4", "C1", "C5"],
            "channel": ["email", "email", "sms", "sms", "email", "sms"],
        }
    )
    held = [
        ("email", "welcome", "C1"),  # stays
        ("email", "welcome", "C3"),  # now on SMS: removed from e-mail
        ("email", "gone", "C9"),  # an audience nobody is in any more
        ("parquet", "survey", "C5"),  # stays
        ("webhook", "welcome", "C7"),  # not synced tonight: kept, never removed
    ]
    wanted = {"email": "channel = 'email'", "parquet": "true"}
    with duckdb.connect() as con:
        SYNC_STATE.create(con)
        state = pd.DataFrame(held, columns=["destination", "audience", "customer_id"]).assign(
            idempotency_key=lambda f: "k" + f["customer_id"],
            synced_at=pd.Timestamp("2025-12-29"),
            hashed_identifiers=lambda f: '{"h": "' + f["customer_id"] + '"}',
        )
        update_state(con, state, state.iloc[:0])
        changes = state_changes(con, members, wanted)

    added = {(d, a, c) for (d, a), ids in changes.added.items() for c in ids}
    wanted_keys = {("email", a, c) for a, c, ch in members.itertuples(index=False) if ch == "email"}
    wanted_keys |= {("parquet", a, c) for a, c, _ in members.itertuples(index=False)}
    assert added == wanted_keys - set(held)
    removed = pd.concat(changes.removed.values())
    assert _keys(removed) == {("email", "welcome", "C3"), ("email", "gone", "C9")}
    assert set(removed["idempotency_key"]) == {"kC3", "kC9"}
    assert set(removed["hashed_identifiers"]) == {'{"h": "C3"}', '{"h": "C9"}'}
    assert changes.held == {(d, a) for d, a, _ in held}
