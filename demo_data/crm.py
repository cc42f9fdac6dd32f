"""The CRM's daily changed-rows extract: a customer's row on the signup day (existing customers
on the first day), then the whole row again whenever the membership tier, consents (opt-outs),
address or B2B revisit date change; and the contacts of business accounts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as col
from . import identities as ident
from .catalogue import CATEGORIES
from .customers import (
    ACQUISITION_CHANNELS,
    ACQUISITION_WEIGHTS,
    GENDERS,
    PERSONAS,
    Population,
    account_managers,
    crm_phones,
    customer_ids,
)
from .seasons import SECONDS_PER_DAY, Window, month_starts

TIERS = ("standard", "silver", "gold")
TIER_FROM_CENTS = (10_000_00, 20_000_00)
"""Trailing-12-month spend for silver and gold, in cents (the platform's defaults)."""
CONSENT_SHARE = np.array([0.55, 0.6, 0.72, 0.3])
"""E-mail, SMS, WeChat and phone consent at signup (of those with that contact)."""
OPT_OUT_SHARE = 0.03
CONSENT_CHANGE_SHARE = 0.04
MOVE_SHARE = 0.02
REVISIT_INTERVALS = np.array([30, 60, 90])
TITLES = {
    "decision_maker": ("总经理", "采购总监", "CEO"),
    "influencer": ("采购经理", "技术主管", "财务经理"),
    "user": ("行政专员", "运营专员", "仓库主管"),
}
ROLES = tuple(TITLES)
_KEY_SHIFT = 10**11
"""Seconds shift that makes every time positive and smaller than the per-person key step."""


def customer_deliveries(
    rng: np.random.Generator, population: Population, orders: pd.DataFrame, window: Window
) -> tuple[pa.Table, np.ndarray]:
    """CRM customer rows per delivery day (``_day``), and per customer the opt-out second
    (or -1) for the ground truth."""
    p = population
    n = p.n_crm
    signup = p.signup_second[:n]
    business = p.business[:n]
    start = np.maximum(signup, 0)
    base_updated = np.where(signup < 0, signup + (rng.random(n) * -signup).astype(np.int64), signup)

    initial_tier, tier_person, tier_second, tier_value = _tier_changes(rng, p, orders, window)

    has_contact = np.stack(
        [p.has_email[:n], p.has_phone[:n], p.has_phone[:n], p.has_phone[:n]], axis=1
    )
    consent = has_contact & (rng.random((n, 4)) < CONSENT_SHARE)
    event_at = start + (rng.random(n) * (window.end_second - start)).astype(np.int64)
    kind = rng.random(n)
    opt_out_at = np.where(kind < OPT_OUT_SHARE, event_at, -1)
    flip_at = np.where(
        (kind >= OPT_OUT_SHARE) & (kind < OPT_OUT_SHARE + CONSENT_CHANGE_SHARE), event_at, -1
    )
    flip_channel = rng.integers(0, 4, n)
    flipped = consent.copy()
    flipped[np.arange(n), flip_channel] = (
        ~consent[np.arange(n), flip_channel] & has_contact[np.arange(n), flip_channel]
    )

    move_at = np.where(
        rng.random(n) < MOVE_SHARE,
        start + (rng.random(n) * (window.end_second - start)).astype(np.int64),
        -1,
    )
    new_city = col.weighted_choice(rng, [c[2] for c in ident.CITIES], n)

    interval = np.where(business, REVISIT_INTERVALS[rng.integers(0, 3, n)], 0)
    first_revisit = np.where(
        signup < 0, rng.integers(0, 90, n) % np.maximum(interval, 1), p.signup_day[:n] + interval
    )
    visits = np.where(
        business, np.maximum(0, -(-(window.days - first_revisit) // np.maximum(interval, 1))), 0
    )
    visit_person = np.repeat(np.arange(n), visits)
    visit_day = first_revisit[visit_person] + col.rank_within(visit_person) * interval[visit_person]
    visit_second = visit_day * SECONDS_PER_DAY + rng.integers(
        15 * 3600, 19 * 3600, len(visit_person)
    )

    # Every row: the signup row and one per change; one row per customer and day (the last).
    person = np.concatenate(
        [
            np.arange(n),
            tier_person,
            np.flatnonzero(opt_out_at >= 0),
            np.flatnonzero(flip_at >= 0),
            np.flatnonzero(move_at >= 0),
            visit_person,
        ]
    )
    updated = np.concatenate(
        [
            base_updated,
            tier_second,
            opt_out_at[opt_out_at >= 0],
            flip_at[flip_at >= 0],
            move_at[move_at >= 0],
            visit_second,
        ]
    )
    keep = updated < window.end_second
    person, updated = person[keep], updated[keep]
    day = np.where(updated < 0, 0, updated // SECONDS_PER_DAY)
    order = np.lexsort((updated, day, person))
    person, updated, day = person[order], updated[order], day[order]
    last_of_day = np.r_[(person[1:] != person[:-1]) | (day[1:] != day[:-1]), True]
    person, updated, day = person[last_of_day], updated[last_of_day], day[last_of_day]
    order = np.lexsort((person, updated, day))
    person, updated, day = person[order], updated[order], day[order]

    tier_event = _latest_event(tier_person, tier_second, person, updated)
    tier = _event_values(tier_value, tier_event, initial_tier[person])
    opted_out = (opt_out_at[person] >= 0) & (opt_out_at[person] <= updated)
    consent_now = (
        np.where(
            ((flip_at[person] >= 0) & (flip_at[person] <= updated))[:, None],
            flipped[person],
            consent[person],
        )
        & ~opted_out[:, None]
    )
    moved = (move_at[person] >= 0) & (move_at[person] <= updated)
    city = np.where(moved, new_city[person], p.city[person])
    visit_event = _latest_event(visit_person, visit_second, person, updated)
    next_revisit = _event_values(
        visit_day + interval[visit_person], visit_event, first_revisit[person]
    )

    attributes = _static_attributes(rng, p, window)
    rows = pa.array(person)
    is_business = business[person]
    table = pa.table(
        {
            "customer_id": customer_ids(person, n),
            "customer_type": col.pick(("consumer", "business"), is_business.astype(int)),
            "name": p.name.take(rows),
            "email": p.email.take(rows),
            "phone": attributes["phone"].take(rows),
            "gender": attributes["gender"].take(rows),
            "birthday": attributes["birthday"].take(rows),
            "city": col.pick([c[0] for c in ident.CITIES], city),
            "region": col.pick([c[1] for c in ident.CITIES], city),
            "occupation": attributes["occupation"].take(rows),
            "signup_date": col.dates(np.floor_divide(signup[person], SECONDS_PER_DAY), window),
            "acquisition_channel": attributes["acquisition_channel"].take(rows),
            "account_manager_id": attributes["account_manager_id"].take(rows),
            "membership_tier": col.pick(TIERS, tier),
            "email_consent": col.booleans(consent_now[:, 0]),
            "sms_consent": col.booleans(consent_now[:, 1]),
            "wechat_consent": col.booleans(consent_now[:, 2]),
            "phone_consent": col.booleans(consent_now[:, 3]),
            "marketing_opt_out": col.booleans(opted_out),
            "opted_out_at": col.timestamps(opt_out_at[person], window, ~opted_out),
            "tags": attributes["tags"].take(rows),
            "social_handles": attributes["social_handles"].take(rows),
            "referred_by": attributes["referred_by"].take(rows),
            "revisit_interval_days": col.integers(interval[person], ~is_business),
            "next_revisit_date": col.dates(next_revisit, window, ~is_business),
            "updated_at": col.timestamps(updated, window),
            "_day": col.integers(day),
        }
    )
    return table, opt_out_at


def _latest_event(
    event_person: np.ndarray, event_second: np.ndarray, person: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """Index of each row's person's latest event at or before the row's second, or -1.
    ``event_person`` / ``event_second`` must be sorted by person, then second."""
    if len(event_person) == 0:
        return np.full(len(person), -1)
    step = 2 * _KEY_SHIFT
    event_key = event_person * step + event_second + _KEY_SHIFT
    index = np.searchsorted(event_key, person * step + second + _KEY_SHIFT, side="right") - 1
    found = (index >= 0) & (event_person[np.maximum(index, 0)] == person)
    return np.where(found, index, -1)


def _event_values(values: np.ndarray, event: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``values[event]`` where a row has an event (index >= 0), else ``fallback``."""
    if len(values) == 0:
        return fallback
    return np.where(event >= 0, values[np.maximum(event, 0)], fallback)


def _tier_changes(
    rng: np.random.Generator, population: Population, orders: pd.DataFrame, window: Window
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tier the CRM records: from trailing-12-month spend, recomputed on each month's first
    day. Spend before the window is estimated from the customer's rate and order value.
    Returns the initial tier and the change events (person, second, tier) sorted by person."""
    n = population.n_crm
    counted = ~orders["guest"].to_numpy() & ~orders["cancelled"].to_numpy()
    person = orders["person"].to_numpy()[counted]
    day = orders["day"].to_numpy()[counted]
    spend = (
        orders["total_cents"].to_numpy()
        - np.where(orders["refunded"].to_numpy(), orders["refund_cents"].to_numpy(), 0)
    )[counted]
    order_count = np.bincount(person, minlength=n)[:n]
    total = np.bincount(person, weights=spend, minlength=n)[:n]
    typical = np.median(spend) if len(spend) else 0.0
    order_value = np.where(order_count > 0, total / np.maximum(order_count, 1), typical)
    p = population
    tenure = np.clip(-p.signup_second[:n] / SECONDS_PER_DAY, 0, 365)
    alive = p.prior_repeats[:n] < p.repeats_allowed[:n]
    prior_spend = rng.poisson(p.rate[:n] * tenure * np.where(alive, 1.0, 0.3)) * order_value
    initial = np.digitize(prior_spend, TIER_FROM_CENTS)

    current = initial.copy()
    people, seconds, values = [], [], []
    for m in month_starts(window):
        lo, hi = np.searchsorted(day, [m - 365, m])
        trailing = (
            np.bincount(person[lo:hi], weights=spend[lo:hi], minlength=n)[:n]
            + prior_spend * max(0, 365 - m) / 365
        )
        tier = np.where(p.signup_day[:n] < m, np.digitize(trailing, TIER_FROM_CENTS), current)
        changed = np.flatnonzero(tier != current)
        people.append(changed)
        seconds.append(m * SECONDS_PER_DAY + rng.integers(2 * 3600, 4 * 3600, len(changed)))
        values.append(tier[changed])
        current = tier
    if not people:
        empty = np.zeros(0, dtype=np.int64)
        return initial, empty, empty, empty
    event_person = np.concatenate(people)
    event_second = np.concatenate(seconds)
    order = np.lexsort((event_second, event_person))
    return (initial, event_person[order], event_second[order], np.concatenate(values)[order])


def _static_attributes(
    rng: np.random.Generator, population: Population, window: Window
) -> dict[str, pa.Array]:
    """Per CRM customer, the columns that never change."""
    p = population
    n = p.n_crm
    business = p.business[:n]
    birthday_known = ~business & (rng.random(n) < 0.82)
    age_days = (np.clip(rng.normal(34, 10, n), 18, 75) * 365.25).astype(np.int64)
    occupation = pc.if_else(
        pa.array(business),
        col.pick([i[0] for i in ident.INDUSTRIES], p.industry[:n]),
        col.pick(ident.OCCUPATIONS, col.weighted_choice(rng, ident.OCCUPATION_WEIGHTS, n)),
    )

    channel = col.weighted_choice(rng, ACQUISITION_WEIGHTS, n)
    referral = ACQUISITION_CHANNELS.index("referral")
    # Customers are numbered in signup order: a referrer is anyone who signed up earlier, and
    # the very first customer cannot have been referred.
    referred = (channel == referral) & (np.arange(n) > 0)
    channel = np.where(
        (channel == referral) & ~referred, ACQUISITION_CHANNELS.index("direct"), channel
    )
    referrer = (rng.random(n) * np.arange(n)).astype(np.int64)

    manager = account_managers(rng, p)
    return {
        "phone": crm_phones(rng, p).slice(0, n),
        "gender": col.pick(GENDERS, p.gender[:n], business),
        "birthday": col.dates(
            window.days - 1 - age_days - rng.integers(0, 365, n), window, ~birthday_known
        ),
        "occupation": occupation,
        "acquisition_channel": col.pick(ACQUISITION_CHANNELS, channel),
        "referred_by": customer_ids(referrer, n, ~referred),
        "account_manager_id": col.with_nulls(col.ids("AM", manager, 3), manager == 0),
        "tags": _tags(rng, p),
        "social_handles": _known_handles(rng, p),
    }


def _tags(rng: np.random.Generator, population: Population) -> pa.Array:
    """CRM tags, set by sales and marketing staff for some of the customers they fit."""
    p = population
    n = p.n_crm
    persona, category = p.persona[:n], p.primary_category[:n]
    rules = (
        ("价格敏感", persona == PERSONAS.index("price_sensitive"), 0.4),
        ("品质优先", persona == PERSONAS.index("quality_seeking"), 0.3),
        ("母婴", category == CATEGORIES.index("mother_baby"), 0.6),
        ("宠物主", category == CATEGORIES.index("pet"), 0.5),
        ("数码控", category == CATEGORIES.index("electronics"), 0.3),
        ("企业客户", p.business[:n], 0.9),
        ("wholesale", p.business[:n], 0.2),
    )
    parts = [
        pa.array(np.where(fits & (rng.random(n) < share), tag, None), pa.string())
        for tag, fits, share in rules
    ]
    return _join_present(parts)


def _known_handles(rng: np.random.Generator, population: Population) -> pa.Array:
    """``platform:handle;...`` for the 40% of social customers whose accounts the CRM knows."""
    p = population
    n = p.n_crm
    known = p.social_active[:n] & (rng.random(n) < 0.4)
    handle = p.handle.slice(0, n)
    parts = [
        col.with_nulls(col.concat(f"{platform}:", handle), ~(known & p.platforms[:n, k]))
        for k, platform in enumerate(ident.SOCIAL_PLATFORMS)
    ]
    return _join_present(parts)


def contact_deliveries(
    rng: np.random.Generator, population: Population, window: Window
) -> pa.Table:
    """2-4 contacts per business account (one decision maker, then influencers and users),
    delivered with the account's signup row."""
    p = population
    accounts = np.flatnonzero(p.business[: p.n_crm])
    count = rng.integers(2, 5, len(accounts))
    account = np.repeat(accounts, count)
    m = len(account)
    rank = col.rank_within(account)
    role = np.where(rank == 0, 0, rng.integers(1, 3, m))
    title = rng.integers(0, 3, m)
    name, roman = ident.person_names(rng, rng.random(m) < 0.5, rng.random(m) < 0.05)
    domain = pc.struct_field(
        pc.extract_regex(p.email.take(pa.array(account)), r"@(?P<domain>.+)$"), [0]
    )
    email = col.concat(roman, "@", domain)
    phone = ident.format_phones(ident.phone_numbers(rng, m), rng.integers(0, 2, m))
    updated = np.maximum(p.signup_second[account], 0) + rng.integers(60, 3600, m)
    updated = np.minimum(updated, (updated // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY - 1)
    return pa.table(
        {
            "contact_id": col.ids("K", np.arange(1, m + 1), col.id_width(m, 7)),
            "customer_id": customer_ids(account, p.n_crm),
            "name": name,
            "email": email,
            "phone": col.with_nulls(phone, rng.random(m) < 0.1),
            "role": col.pick(ROLES, role),
            "title": col.pick([t for r in ROLES for t in TITLES[r]], role * 3 + title),
            "updated_at": col.timestamps(updated, window),
            "_day": col.integers(updated // SECONDS_PER_DAY),
        }
    )


def _join_present(parts: list[pa.Array]) -> pa.Array:
    """``a;b`` of the non-null parts, null when all are null."""
    # Joined with empty strings for the nulls, then the empty slots squeezed out (pyarrow's
    # null_handling="skip" drops rows instead).
    joined = pc.binary_join_element_wise(*[pc.fill_null(p, "") for p in parts], ";")
    joined = pc.utf8_trim(pc.replace_substring_regex(joined, ";+", ";"), ";")
    return pc.if_else(pc.equal(joined, ""), pa.nulls(len(joined), pa.string()), joined)
