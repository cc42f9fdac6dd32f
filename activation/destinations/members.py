"""The export input: the night's treatment members who may be sent, with their addresses.

Defence in depth: whatever the marts say, a member is dropped here when the consent ledger
(``governance.suppressions``) or the latest CRM row forbids the message. The audience builder
applies the same rules; this module applies them again at the last step before anything
leaves, so a bug or a stale mart upstream cannot send to someone who opted out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from activation.builder import AUDIENCE_MEMBERS
from activation.destinations.identifiers import normalise_email, normalise_phone, wechat_handle

MARKETING = "marketing"
SERVICE = "service"
MESSAGE_CHANNELS = ("email", "sms", "wechat", "phone")
ALL_CHANNELS = "all"
ERASURE = "erasure"

# Why a member was dropped at export (counted per audience, never with identifiers).
ERASED = "erased"
NOT_IN_CRM = "not_in_crm"
MARKETING_OPT_OUT = "marketing_opt_out"
CHANNEL_OPT_OUT = "channel_opt_out"
NO_CONSENT = "no_consent"
NO_ADDRESS = "no_address"
SUPPRESSION_RULES = (ERASED, NOT_IN_CRM, MARKETING_OPT_OUT, CHANNEL_OPT_OUT, NO_CONSENT)

# The CRM columns the export reads (``staging.stg_crm__customers``).
CRM_COLUMNS = (
    "customer_id",
    "customer_name",
    "email",
    "phone",
    "social_handles",
    "email_consent",
    "sms_consent",
    "wechat_consent",
    "phone_consent",
    "marketing_opt_out",
)


@dataclass(frozen=True)
class ExportMembers:
    """Who may be sent tonight.

    ``rows``: one row per exportable (audience, customer) with ``address`` (the normalised
    identifier of the member's channel), ``name``, and ``ad_email`` / ``ad_phone`` (normalised,
    set only where marketing on e-mail / on SMS or phone is allowed: what ad audiences may use).
    ``blocked``: one row per member dropped, with ``audience``, ``kind``, ``customer_id``,
    ``channel`` and ``rule`` (one of :data:`SUPPRESSION_RULES` or :data:`NO_ADDRESS`).
    """

    rows: pd.DataFrame
    blocked: pd.DataFrame

    def suppressed(self, audience: str) -> int:
        """Members of ``audience`` dropped by a consent or erasure rule."""
        b = self.blocked
        return int(((b["audience"] == audience) & b["rule"].isin(SUPPRESSION_RULES)).sum())


def _suppressed_on(suppressions: pd.DataFrame, channel: str) -> set[str]:
    rows = suppressions[suppressions["channel"] == channel]
    return set(rows["customer_id"].astype(object))


def permissions(crm: pd.DataFrame, suppressions: pd.DataFrame) -> pd.DataFrame:
    """Per CRM customer: ``erased``, ``marketing_opt_out`` and, per channel, whether a
    marketing message (``<channel>_marketing``: consent given, not opted out) and a service
    message (``<channel>_service``: consent not refused) may be sent on it.

    The ledger wins over the CRM: a suppression stays whatever a later CRM import says.
    """
    ids = crm["customer_id"].astype(object)
    erased = ids.isin(set(suppressions.loc[suppressions["reason"] == ERASURE, "customer_id"]))
    opted_out = crm["marketing_opt_out"].fillna(False).astype(bool).to_numpy() | ids.isin(
        _suppressed_on(suppressions, ALL_CHANNELS)
    )
    out = pd.DataFrame(
        {"customer_id": ids, "erased": erased, "marketing_opt_out": opted_out}, index=crm.index
    )
    for channel in MESSAGE_CHANNELS:
        consent = crm[f"{channel}_consent"]
        channel_off = ids.isin(_suppressed_on(suppressions, channel)) | erased
        out[f"{channel}_opted_out"] = channel_off
        out[f"{channel}_service"] = ~channel_off & (consent.isna() | consent.fillna(False))
        marketing = ~channel_off & ~out["marketing_opt_out"] & consent.fillna(False).astype(bool)
        out[f"{channel}_marketing"] = marketing
    return out


def _addresses(crm: pd.DataFrame) -> pd.DataFrame:
    phone = _parsed(normalise_phone, crm["phone"])  # SMS and calls use the same number
    return pd.DataFrame(
        {
            "customer_id": crm["customer_id"].astype(object),
            "name": crm["customer_name"],
            "email": _parsed(normalise_email, crm["email"]),
            "sms": phone,
            "phone": phone,
            "wechat": _parsed(wechat_handle, crm["social_handles"]),
        }
    )


def _parsed(parse: Callable[[object], str | None], values: pd.Series) -> pd.Series:
    """``parse`` of every value, as plain Python strings: a loop over Python objects, where
    ``Series.map`` walks Arrow text and turns the result back into it."""
    parsed = [parse(v) for v in values.to_numpy(dtype=object)]
    return pd.Series(parsed, index=values.index, dtype=object)


def export_members(
    members: pd.DataFrame, crm: pd.DataFrame, suppressions: pd.DataFrame
) -> ExportMembers:
    """The treatment members of marketing and service audiences that may be sent.

    ``members``: rows of ``marts.audience_members``; ``crm``: the latest CRM row per customer
    (:data:`CRM_COLUMNS`); ``suppressions``: ``governance.suppressions``. Control rows and
    account-manager tasks are never exported.
    """
    sendable = members[
        (members["holdout_group"] == "treatment") & members["kind"].isin([MARKETING, SERVICE])
    ].copy()
    sendable["customer_id"] = sendable["customer_id"].astype(object)
    # Addresses are parsed row by row: only for the customers someone may send to tonight.
    # On plain Python strings: an Arrow-string isin against a set tests one id at a time.
    crm = crm[crm["customer_id"].astype(object).isin(sendable["customer_id"].unique())]
    allowed = permissions(crm, suppressions).merge(_addresses(crm), on="customer_id")
    frame = sendable.merge(allowed, on="customer_id", how="left", indicator="_crm")
    erased_ids = set(suppressions.loc[suppressions["reason"] == ERASURE, "customer_id"])

    rule = pd.Series(None, index=frame.index, dtype=object)
    address = pd.Series(None, index=frame.index, dtype=object)
    marketing = frame["kind"] == MARKETING
    for channel in MESSAGE_CHANNELS:
        on = frame["channel"] == channel
        may = frame[f"{channel}_marketing"].where(marketing, frame[f"{channel}_service"])
        rule[on & ~may.astype("boolean").fillna(False)] = NO_CONSENT
        rule[on & frame[f"{channel}_opted_out"].eq(True)] = CHANNEL_OPT_OUT
        address[on] = frame.loc[on, channel]
    rule[~frame["channel"].isin(MESSAGE_CHANNELS)] = NO_ADDRESS
    rule[rule.isna() & address.isna()] = NO_ADDRESS
    rule[marketing & frame["marketing_opt_out"].eq(True)] = MARKETING_OPT_OUT
    rule[frame["_crm"] == "left_only"] = NOT_IN_CRM
    rule[frame["customer_id"].isin(erased_ids)] = ERASED

    frame["address"] = address
    frame["ad_email"] = frame["email"].where(frame["email_marketing"].eq(True))
    ad_phone = frame["sms_marketing"].eq(True) | frame["phone_marketing"].eq(True)
    frame["ad_phone"] = frame["phone"].where(ad_phone)
    keep = [*AUDIENCE_MEMBERS.column_names, "name", "address", "ad_email", "ad_phone"]
    rows = frame.loc[rule.isna(), keep].sort_values(["audience", "customer_id"])
    # Plain Python strings: formats and hashing iterate over them row by row.
    text = [c for c in rows.columns if pd.api.types.is_string_dtype(rows[c])]
    rows = rows.astype(dict.fromkeys(text, object))
    blocked = frame.loc[rule.notna(), ["audience", "kind", "customer_id", "channel"]].assign(
        rule=rule[rule.notna()]
    )
    return ExportMembers(rows.reset_index(drop=True), blocked.reset_index(drop=True))
