"""The audience definitions and builder on small hand-made frames: the loader's errors, channel
choice and consent, service dedupe, the frequency cap over a multi-day history, the holdout."""

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from activation.audience_definitions import DefinitionError, load_definitions, parse_definitions
from activation.builder import (
    CAPPED,
    DEDUPLICATED,
    ERASED,
    NO_CONSENT,
    NO_IDENTIFIER,
    OPTED_OUT,
    SUPPRESSED,
    Rules,
    build_audiences,
)
from activation.holdout import CONTROL
from orchestration.settings import get_settings

DAY = date(2025, 6, 30)


def _audience(name: str, **fields: object) -> dict:
    entry = {
        "name": name,
        "purpose": f"test audience {name}",
        "kind": "marketing",
        "channels": ["email", "sms"],
        "priority": 10,
        "template_key": name,
        "where": "true",
        "reason": "'because'",
        "primary_metric": "repurchase_rate",
        "primary_window_days": 30,
    }
    entry.update(fields)
    return entry


def _candidates(n: int = 1, **columns: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(1, n + 1)],
            "account_manager_id": None,
            "email_consent": True,
            "sms_consent": True,
            "wechat_consent": False,
            "phone_consent": False,
            "marketing_opt_out": False,
            "has_email": True,
            "has_phone": True,
            "has_wechat": False,
            "score": range(n),
        }
    )
    for column, value in columns.items():
        frame[column] = value
    return frame


def _build(definitions: list[dict], candidates: pd.DataFrame, **kwargs):
    return build_audiences(parse_definitions(definitions), candidates, DAY, **kwargs)


def _excluded(build, rule: str) -> set[tuple[str, str]]:
    rows = build.exclusions[build.exclusions["rule"] == rule]
    return set(zip(rows["audience"], rows["customer_id"], strict=True))


# --- the registry -----------------------------------------------------------------------------


def test_the_shipped_registry_loads_with_every_strategy():
    definitions = load_definitions(get_settings().audiences_file)
    names = {d.name for d in definitions}
    assert {
        "value_class_high_value",
        "value_class_potential",
        "value_class_general",
        "value_class_low_value",
        "quadrant_strategic",
        "quadrant_growth",
        "quadrant_basic",
        "quadrant_marginal",
        "welcome_new_customer",
        "first_repurchase_nudge",
        "birthday_greeting",
        "anniversary_greeting",
        "win_back_high_value",
        "complaint_satisfaction_survey",
        "tier_upgrade_notice",
        "referral_invitation",
        "strategic_account_revisit",
    } <= names
    kinds = {d.name: d.kind for d in definitions}
    assert kinds["complaint_satisfaction_survey"] == "service"
    assert kinds["strategic_account_revisit"] == "task"
    nudge = next(d for d in definitions if d.name == "first_repurchase_nudge")
    assert "cross_sell_product_id" in nudge.payload
    primaries = {d.name: (d.primary_metric, d.primary_window_days) for d in definitions}
    assert primaries["first_repurchase_nudge"] == ("repurchase_rate", 30)
    assert primaries["win_back_high_value"] == ("repurchase_rate", 60)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"channels": ["email", "fax"]}, "channels", "unknown channel 'fax'"),
        ({"kind": "promo"}, "kind", "'promo' is not one of"),
        ({"template_key": ""}, "template_key", "missing"),
        ({"priority": "high"}, "priority", "whole number"),
        ({"holdout_share": 1.5}, "holdout_share", "from 0 up to"),
        ({"kind": "task"}, "channels", "account_manager"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"primary_metric": None}, "primary_metric", "missing"),
        ({"primary_metric": "clicks"}, "primary_metric", "'clicks' is not one of"),
        ({"primary_window_days": None}, "primary_window_days", "missing"),
        ({"primary_window_days": 45}, "primary_window_days", "45 is not one of 30, 60, 90"),
        ({"primary_window_days": "30"}, "primary_window_days", "'30' is not one of"),
    ],
)
def test_a_broken_definition_names_the_file_audience_and_field(tmp_path, change, field, words):
    path = tmp_path / "audiences.yml"
    path.write_text(yaml.safe_dump({"audiences": [_audience("fine"), _audience("bad", **change)]}))
    with pytest.raises(DefinitionError) as raised:
        load_definitions(path)
    assert (raised.value.audience, raised.value.field) == ("bad", field)
    message = str(raised.value)
    assert str(path) in message and "'bad'" in message and words in message


def test_a_duplicate_name_is_refused(tmp_path):
    path = tmp_path / "audiences.yml"
    path.write_text(yaml.safe_dump({"audiences": [_audience("twice"), _audience("twice")]}))
    with pytest.raises(DefinitionError, match="'twice', field 'name': defined twice"):
        load_definitions(path)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"where": "scroe > 1"}, "where", "scroe"),
        ({"where": "score + 1"}, "where", "must be true or false"),
        ({"reason": "'x' || (score"}, "reason", "syntax error"),
        ({"payload": ["score", "email"]}, "payload", "no candidate column 'email'"),
    ],
)
def test_sql_duckdb_cannot_bind_is_refused_before_anything_is_built(change, field, words):
    with pytest.raises(DefinitionError) as raised:
        _build([_audience("bad", **change)], _candidates(3))
    assert (raised.value.audience, raised.value.field) == ("bad", field)
    assert words in str(raised.value)


# --- consent and channels ---------------------------------------------------------------------


def test_channel_is_the_first_preferred_one_with_consent_and_an_identifier():
    candidates = _candidates(
        4,
        email_consent=[True, False, True, False],
        has_email=[True, True, False, False],
        sms_consent=[True, True, True, False],
    )
    build = _build([_audience("a", channels=["email", "sms"])], candidates)
    assert dict(zip(build.members["customer_id"], build.members["channel"], strict=True)) == {
        "C0000001": "email",
        "C0000002": "sms",
        "C0000003": "sms",
    }
    assert _excluded(build, NO_CONSENT) == {("a", "C0000004")}


def test_marketing_opt_outs_and_erasures_are_dropped_whatever_the_candidates_say():
    candidates = _candidates(5, marketing_opt_out=[True, False, False, False, False])
    ledger = pd.DataFrame(
        {
            "customer_id": ["C0000002", "C0000003", "C0000004"],
            "channel": ["all", "all", "email"],
            "reason": ["marketing_opt_out", "erasure", "channel_opt_out"],
        }
    )
    definitions = [
        _audience("promo"),
        _audience("survey", kind="service", channels=["email"]),
        _audience("call", kind="task", channels=["account_manager"]),
    ]
    candidates["account_manager_id"] = "AM001"
    build = _build(definitions, candidates, suppressions=ledger)
    members = set(zip(build.members["audience"], build.members["customer_id"], strict=True))
    assert members == {
        ("promo", "C0000004"),  # e-mail suppressed: SMS instead
        ("promo", "C0000005"),
        ("survey", "C0000001"),  # service needs the channel, not marketing consent
        ("survey", "C0000002"),
        ("survey", "C0000005"),
        ("call", "C0000004"),
        ("call", "C0000005"),
    }
    assert (
        build.members.set_index(["audience", "customer_id"]).loc[("promo", "C0000004"), "channel"]
        == "sms"
    )
    assert _excluded(build, OPTED_OUT) == {
        ("promo", "C0000001"),
        ("promo", "C0000002"),
        ("call", "C0000001"),
        ("call", "C0000002"),
    }
    assert _excluded(build, ERASED) == {
        ("promo", "C0000003"),
        ("survey", "C0000003"),
        ("call", "C0000003"),
    }
    assert _excluded(build, SUPPRESSED) == {("survey", "C0000004")}


def test_no_identifier_is_told_apart_from_no_consent():
    candidates = _candidates(2, has_email=False, has_phone=[False, True], sms_consent=False)
    build = _build([_audience("a")], candidates)
    assert build.members.empty
    assert _excluded(build, NO_IDENTIFIER) == {("a", "C0000001"), ("a", "C0000002")}


# --- history: new entries, dedupe and the frequency cap ----------------------------------------


def _history(rows: list[tuple[date, str, str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["audience_date", "audience", "kind", "customer_id", "is_new_entry"]
    )


def test_a_member_of_the_previous_date_is_not_a_new_entry():
    history = _history(
        [
            (DAY - timedelta(days=1), "a", "marketing", "C0000001", True),
            (DAY - timedelta(days=3), "a", "marketing", "C0000002", True),
        ]
    )
    build = _build([_audience("a")], _candidates(3), history=history)
    new = dict(zip(build.members["customer_id"], build.members["is_new_entry"], strict=True))
    assert new == {"C0000001": False, "C0000002": True, "C0000003": True}


def test_the_cap_keeps_the_highest_priorities_and_counts_earlier_contacts():
    definitions = [
        _audience("low", priority=1),
        _audience("mid", priority=5),
        _audience("high", priority=9),
        _audience("also_high", priority=9),
    ]
    history = _history(
        [
            # C2 was contacted twice in the window (one as control): no room today.
            (DAY - timedelta(days=6), "x", "marketing", "C0000002", True),
            (DAY - timedelta(days=2), "y", "marketing", "C0000002", True),
            # C3: once in the window, once just outside it: one contact left today.
            (DAY - timedelta(days=7), "x", "marketing", "C0000003", True),
            (DAY - timedelta(days=4), "y", "marketing", "C0000003", True),
            # Service entries and continuing memberships are not contacts.
            (DAY - timedelta(days=1), "s", "service", "C0000001", True),
        ]
    )
    build = _build(definitions, _candidates(3), history=history, rules=Rules(2, 7, 0.0))
    members = build.members.groupby("customer_id")["audience"].agg(set).to_dict()
    assert members == {"C0000001": {"also_high", "high"}, "C0000003": {"also_high"}}
    assert ("low", "C0000001") in _excluded(build, CAPPED)
    assert {a for a, c in _excluded(build, CAPPED) if c == "C0000002"} == {
        "low",
        "mid",
        "high",
        "also_high",
    }


def test_the_cap_holds_over_a_week_of_nights():
    definitions = [_audience(f"a{i}", priority=i) for i in range(5)]
    # Every night each customer qualifies for a different mix of audiences.
    history = pd.DataFrame(
        columns=["audience_date", "audience", "kind", "customer_id", "is_new_entry"]
    )
    for offset in range(14):
        day = DAY + timedelta(days=offset)
        candidates = _candidates(20)
        for i in range(5):
            candidates[f"in_a{i}"] = (candidates["score"] + offset + i) % 3 == 0
        build = build_audiences(
            parse_definitions([{**d, "where": f"in_{d['name']}"} for d in definitions]),
            candidates,
            day,
            history=history,
            rules=Rules(2, 7, 0.1),
        )
        history = pd.concat([history, build.members], ignore_index=True)
    contacts = history[history["is_new_entry"].astype(bool)]
    for offset in range(14):
        day = DAY + timedelta(days=offset)
        window = contacts[
            (contacts["audience_date"] > day - timedelta(days=7))
            & (contacts["audience_date"] <= day)
        ]
        assert window.groupby("customer_id").size().max() <= 2


def test_service_entries_are_not_capped_but_deduplicated_within_their_window():
    definitions = [
        _audience("promo", priority=1),
        _audience("survey", kind="service", dedupe_days=30),
    ]
    history = _history(
        [
            (DAY - timedelta(days=6), "x", "marketing", "C0000001", True),
            (DAY - timedelta(days=5), "y", "marketing", "C0000001", True),
            # C2 got the survey 10 days ago and left it: no second survey within 30 days.
            (DAY - timedelta(days=10), "survey", "service", "C0000002", True),
            # C3 got it 40 days ago: may get it again.
            (DAY - timedelta(days=40), "survey", "service", "C0000003", True),
        ]
    )
    build = _build(definitions, _candidates(3), history=history)
    surveyed = set(build.members.loc[build.members["audience"] == "survey", "customer_id"])
    assert surveyed == {"C0000001", "C0000003"}
    assert _excluded(build, DEDUPLICATED) == {("survey", "C0000002")}
    assert ("promo", "C0000001") in _excluded(build, CAPPED)


# --- holdout ----------------------------------------------------------------------------------


def test_the_holdout_is_about_its_share_stable_and_may_be_set_per_audience():
    definitions = [_audience("big"), _audience("none", holdout_share=0)]
    candidates = _candidates(4000)
    first = _build(definitions, candidates, rules=Rules(5, 7, 0.10))
    again = _build(definitions, candidates.sample(frac=1, random_state=1), rules=Rules(5, 7, 0.10))
    pd.testing.assert_frame_equal(first.members, again.members)
    big = first.members[first.members["audience"] == "big"]
    assert (big["holdout_group"] == CONTROL).mean() == pytest.approx(0.10, abs=0.015)
    none = first.members[first.members["audience"] == "none"]
    assert (none["holdout_group"] == CONTROL).sum() == 0


def test_rebuilding_a_date_ignores_that_dates_own_history_rows():
    definitions = [_audience("a")]
    first = _build(definitions, _candidates(5))
    again = _build(definitions, _candidates(5), history=first.members)
    pd.testing.assert_frame_equal(first.members, again.members)


def test_shipped_file_path_is_the_setting():
    assert (
        get_settings().audiences_file == Path(__file__).parents[2] / "activation" / "audiences.yml"
    )
