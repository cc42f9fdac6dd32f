"""The tables the destinations read, built by hand in a real DuckDB file: the night's
``marts.audience_members``, ``staging.stg_crm__customers`` and ``governance.suppressions``,
with planted opt-outs and erasures (the audiences and consent branches build the real ones)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from activation.holdout import holdout_groups

AUDIENCE_DATE = date(2025, 12, 30)
PHONE_STYLES = ("138{0}", "138-{0:.4}-{1}", "+86 138-{0:.4}-{1}", "0086 138{0}", "138 {0:.4} {1}")
# (audience, kind, channel, priority, template)
AUDIENCES = {
    "welcome": ("marketing", "email", 30, "welcome_v1"),
    "win_back": ("marketing", "sms", 80, "win_back_v2"),
    "birthday": ("marketing", "wechat", 50, "birthday_v1"),
    "satisfaction_survey": ("service", "email", 90, "survey_v1"),
    "strategic_revisit": ("task", "account_manager", 70, "revisit"),
}
# Planted: each must never appear in an export or a request, whatever the marts say.
CRM_MARKETING_OPT_OUT = "C0041"  # CRM says opted out, the mart still lists them
REIMPORTED_OPT_OUT = "C0042"  # the ledger has the opt-out; a CRM re-import says consent again
NO_EMAIL_CONSENT = "C0043"
SMS_OPTED_OUT = "C0044"  # channel opt-out in the ledger, CRM still says yes
ERASED_GONE = "C0045"  # erased: no CRM row any more
ERASED_STILL_IN_CRM = "C0046"  # erased, but the CRM view has not caught up
PLANTED = (
    CRM_MARKETING_OPT_OUT,
    REIMPORTED_OPT_OUT,
    NO_EMAIL_CONSENT,
    SMS_OPTED_OUT,
    ERASED_GONE,
    ERASED_STILL_IN_CRM,
)
SERVICE_DESPITE_OPT_OUT = "C0047"  # marketing opt-out, but a survey is a service message


def customer_ids(n: int = 60) -> list[str]:
    return [f"C{i:04d}" for i in range(1, n + 1)]


def crm(n: int = 60) -> pd.DataFrame:
    """One CRM row per customer with e-mail, a phone in one of the CRM's styles and WeChat."""
    rows = []
    for i, cid in enumerate(customer_ids(n)):
        number = f"{i:04d}"
        rows.append(
            {
                "customer_id": cid,
                "customer_name": f"客户{i}",
                "email": f"  Customer.{i}@Example.COM ",
                "phone": PHONE_STYLES[i % len(PHONE_STYLES)].format(f"{number}{number}", number),
                "social_handles": f"weibo:wb_{i};wechat:wx_{i}",
                "email_consent": True,
                "sms_consent": True,
                "wechat_consent": True,
                "phone_consent": True,
                "marketing_opt_out": False,
            }
        )
    frame = pd.DataFrame(rows)
    frame.loc[frame["customer_id"] == CRM_MARKETING_OPT_OUT, "marketing_opt_out"] = True
    frame.loc[frame["customer_id"] == SERVICE_DESPITE_OPT_OUT, "marketing_opt_out"] = True
    frame.loc[frame["customer_id"] == NO_EMAIL_CONSENT, "email_consent"] = False
    return frame[frame["customer_id"] != ERASED_GONE].reset_index(drop=True)


def suppressions() -> pd.DataFrame:
    """The ledger: a marketing opt-out, a channel opt-out and two erasures."""
    rows = [
        (REIMPORTED_OPT_OUT, "all", "marketing_opt_out"),
        (SMS_OPTED_OUT, "sms", "channel_opt_out"),
        (ERASED_GONE, "all", "erasure"),
        (ERASED_STILL_IN_CRM, "all", "erasure"),
    ]
    return ledger(rows)


def ledger(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    at = datetime(2025, 12, 1)
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "channel": [r[1] for r in rows],
            "reason": [r[2] for r in rows],
            "effective_at": at,
            "recorded_at": at,
            "evidence": "test ledger",
        }
    )


def members(assignments: dict[str, list[str]], audience_date: date = AUDIENCE_DATE):
    """``marts.audience_members`` for ``{audience: [customer ids]}``, holdout by the real hash
    at a 20% share."""
    rows = []
    for audience, ids in assignments.items():
        kind, channel, priority, template = AUDIENCES[audience]
        for cid in ids:
            rows.append(
                {
                    "audience_date": audience_date,
                    "audience": audience,
                    "kind": kind,
                    "customer_id": cid,
                    "channel": channel,
                    "priority": priority,
                    "template_key": template,
                    "is_new_entry": True,
                    "reason": f"planted for {audience}",
                    "payload": json.dumps(
                        {"recommended_product": f"P{len(cid)}", "coupon": 20}, sort_keys=True
                    ),
                }
            )
    frame = pd.DataFrame(rows)
    frame["holdout_group"] = holdout_groups(frame["audience"], frame["customer_id"], 0.2)
    return frame


def default_assignments() -> dict[str, list[str]]:
    """Every planted customer is put in the audience whose channel they must not receive."""
    ids = customer_ids()
    return {
        "welcome": [
            *ids[:20],
            CRM_MARKETING_OPT_OUT,
            REIMPORTED_OPT_OUT,
            NO_EMAIL_CONSENT,
            ERASED_GONE,
        ],
        "win_back": [*ids[10:30], SMS_OPTED_OUT, ERASED_STILL_IN_CRM, REIMPORTED_OPT_OUT],
        "birthday": [*ids[25:35], CRM_MARKETING_OPT_OUT, ERASED_GONE],
        "satisfaction_survey": [*ids[30:40], SERVICE_DESPITE_OPT_OUT, ERASED_STILL_IN_CRM],
        "strategic_revisit": ids[:5],
    }


def write_inputs(
    warehouse: Path,
    member_frame: pd.DataFrame,
    crm_frame: pd.DataFrame | None = None,
    ledger_frame: pd.DataFrame | None = None,
) -> None:
    """Replace the three input tables in ``warehouse`` (the night's audience and what it reads)."""
    crm_frame = crm() if crm_frame is None else crm_frame
    ledger_frame = suppressions() if ledger_frame is None else ledger_frame
    with duckdb.connect(str(warehouse)) as con:
        for schema in ("marts", "staging", "governance"):
            con.execute(f"create schema if not exists {schema}")
        for table, frame in (
            ("marts.audience_members", member_frame),
            ("staging.stg_crm__customers", crm_frame),
            ("governance.suppressions", ledger_frame),
        ):
            con.register("_frame", frame)
            con.execute(f"create or replace table {table} as select * from _frame")
            con.unregister("_frame")
        con.execute("alter table marts.audience_members alter audience_date type date")
