"""Consent and erasure applied again at export, whatever the marts say."""

import json

from activation.destinations.formats import EMAIL, SMS, WECHAT, file_rows
from activation.destinations.members import (
    CHANNEL_OPT_OUT,
    ERASED,
    MARKETING_OPT_OUT,
    NO_CONSENT,
    NOT_IN_CRM,
    export_members,
)
from tests.support import activation_inputs as inputs


def _export():
    members = inputs.members(inputs.default_assignments())
    return members, export_members(members, inputs.crm(), inputs.suppressions())


def test_planted_opt_outs_and_erasures_are_dropped_with_their_rule():
    members, export = _export()
    sent = set(export.rows["customer_id"])
    assert not sent & set(inputs.PLANTED)
    rules = {
        (r.audience, r.customer_id): r.rule
        for r in export.blocked.itertuples()
        if r.customer_id in inputs.PLANTED
    }
    treatment = members[members["holdout_group"] == "treatment"]
    expected = {
        ("welcome", inputs.CRM_MARKETING_OPT_OUT): MARKETING_OPT_OUT,
        ("welcome", inputs.REIMPORTED_OPT_OUT): MARKETING_OPT_OUT,
        ("welcome", inputs.NO_EMAIL_CONSENT): NO_CONSENT,
        ("welcome", inputs.ERASED_GONE): ERASED,
        ("win_back", inputs.SMS_OPTED_OUT): CHANNEL_OPT_OUT,
        ("win_back", inputs.ERASED_STILL_IN_CRM): ERASED,
        ("win_back", inputs.REIMPORTED_OPT_OUT): MARKETING_OPT_OUT,
        ("birthday", inputs.CRM_MARKETING_OPT_OUT): MARKETING_OPT_OUT,
        ("birthday", inputs.ERASED_GONE): ERASED,
        ("satisfaction_survey", inputs.ERASED_STILL_IN_CRM): ERASED,
    }
    # The planted rows all fall in the treatment group (the holdout hash is fixed).
    assert set(expected) <= set(zip(treatment["audience"], treatment["customer_id"], strict=True))
    assert rules == expected
    assert export.suppressed("welcome") == sum(1 for k in rules if k[0] == "welcome")


def test_controls_and_tasks_never_leave_and_service_ignores_marketing_opt_out():
    members, export = _export()
    control = members[members["holdout_group"] == "control"]
    assert len(control) > 0
    sent = set(zip(export.rows["audience"], export.rows["customer_id"], strict=True))
    assert not sent & set(zip(control["audience"], control["customer_id"], strict=True))
    assert "strategic_revisit" not in set(export.rows["audience"])
    survey = members[
        (members["audience"] == "satisfaction_survey")
        & (members["customer_id"] == inputs.SERVICE_DESPITE_OPT_OUT)
    ]
    assert (survey["holdout_group"] == "treatment").all()
    assert ("satisfaction_survey", inputs.SERVICE_DESPITE_OPT_OUT) in sent


def test_a_customer_missing_from_the_crm_is_not_sent():
    members = inputs.members({"welcome": ["C0001", "C0099"]})
    members["holdout_group"] = "treatment"
    export = export_members(members, inputs.crm(), inputs.ledger([]))
    assert list(export.rows["customer_id"]) == ["C0001"]
    assert list(export.blocked["rule"]) == [NOT_IN_CRM]


def test_files_carry_only_their_channel_identifier():
    _, export = _export()
    rows = export.rows
    email = file_rows(EMAIL, rows[rows["audience"] == "welcome"])
    sms = file_rows(SMS, rows[rows["audience"] == "win_back"])
    wechat = file_rows(WECHAT, rows[rows["audience"] == "birthday"])
    assert email["Email Address"].str.fullmatch(r"customer\.\d+@example\.com").all()
    assert sms["phone"].str.fullmatch(r"\+86138\d{8}").all()
    assert wechat["openid"].str.fullmatch(r"wx_\d+").all()
    for frame in (email, sms, wechat):
        text = frame.to_csv()
        assert ("@" in text) == (frame is email)
        assert ("+86" in text) == (frame is sms)
        assert ("wx_" in text) == (frame is wechat)
        assert {"recommended_product", "coupon"} <= set(frame.columns)
    assert email["coupon"].iloc[0] == json.dumps(20)
