"""Customer service: tickets from orders (complaints and inquiries), their handling, the planted
churn after badly handled complaints, and CSAT / NPS survey answers.

Bad handling is a complaint whose first reply came after 24 hours, or a high or critical
complaint that got no compensation. With probability `CHURN_AFTER_BAD_HANDLING` the customer
buys nothing after the complaint was opened.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as col
from . import identities as ident
from . import texts
from .catalogue import SUBCATEGORY_NOUNS_EN, SUBCATEGORY_NOUNS_ZH, Catalogue
from .customers import Population, customer_ids
from .purchases import guest_columns, order_ids
from .seasons import SECONDS_PER_DAY, Window, quarter_starts

TICKET_CATEGORIES = (
    "delivery_delay",
    "product_quality",
    "wrong_item",
    "refund_request",
    "billing",
    "inquiry",
    "other",
)
SEVERITIES = ("low", "medium", "high", "critical")
TICKET_CHANNELS = ("phone", "wechat", "email", "web", "app")
HIGH = 2
CHURN_AFTER_BAD_HANDLING = 0.65
FIRST_REPLY_SLA_HOURS = 24
LINKED_SHARE = 0.72
"""Tickets of registered customers that the agent linked to the CRM customer."""

# Category weights (in TICKET_CATEGORIES order) of complaints by what happened to the order.
_REFUNDED_CATEGORIES = (0.05, 0.35, 0.15, 0.45, 0, 0, 0)
_LATE_CATEGORIES = (0.75, 0.1, 0.05, 0.05, 0, 0, 0.05)
_OTHER_CATEGORIES = (0.15, 0.4, 0.15, 0.1, 0.1, 0, 0.1)
_INQUIRY_CATEGORIES = (0, 0, 0, 0, 0.2, 0.7, 0.1)
COMPENSATION_SHARE = np.array([0.03, 0.3, 0.72, 0.8])
"""Share of complaints compensated, by severity."""
CSAT_WEIGHTS = {
    "good": (3, 5, 15, 37, 40),
    "bad": (35, 30, 20, 10, 5),
    "inquiry": (2, 3, 10, 35, 50),
}
NPS_WEIGHTS = {
    "good": (1, 1, 1, 2, 2, 4, 6, 12, 22, 25, 24),
    "bad": (10, 12, 14, 14, 12, 10, 9, 7, 5, 4, 3),
    "periodic": (2, 1, 2, 3, 4, 8, 10, 15, 20, 18, 17),
}


def simulate_tickets(
    rng: np.random.Generator, orders: pd.DataFrame, population: Population, window: Window
) -> pd.DataFrame:
    """Tickets about orders (complaints ~5% of orders, inquiries ~3%) and pre-sales inquiries.

    Columns: order (-1: none), person, is_complaint, category, severity, opened,
    first_response, resolved (seconds), compensation_cents, bad_handling.
    """
    n = len(orders)
    cancelled = orders["cancelled"].to_numpy()
    refunded = orders["refunded"].to_numpy()
    late = orders["ship_delay"].to_numpy() == 3
    p_complaint = np.where(cancelled, 0, 0.028 + 0.1 * late + 0.3 * refunded)
    complaint_orders = np.flatnonzero(rng.random(n) < p_complaint)
    inquiry_orders = np.flatnonzero(rng.random(n) < 0.03)

    c_ref = refunded[complaint_orders]
    c_late = late[complaint_orders] & ~c_ref
    category = np.empty(len(complaint_orders), dtype=np.int64)
    for mask, weights in (
        (c_ref, _REFUNDED_CATEGORIES),
        (c_late, _LATE_CATEGORIES),
        (~c_ref & ~c_late, _OTHER_CATEGORIES),
    ):
        category[mask] = col.weighted_choice(rng, weights, mask.sum())
    order_day = orders["day"].to_numpy()
    delay = np.where(
        category == 0,
        orders["ship_delay"].to_numpy()[complaint_orders]
        + rng.integers(1, 4, len(complaint_orders)),
        rng.integers(2, 15, len(complaint_orders)),
    )
    complaint_day = order_day[complaint_orders] + delay
    inquiry_day = order_day[inquiry_orders] + rng.integers(0, 6, len(inquiry_orders))

    # Pre-sales inquiries from registered customers, not about any order.
    n_crm = population.n_crm
    n_pre = int(0.08 * n_crm)
    pre_person = rng.integers(0, n_crm, n_pre) if n_crm else np.zeros(0, dtype=np.int64)
    pre_start = np.maximum(population.signup_day[pre_person], 0)
    pre_day = pre_start + (rng.random(n_pre) * (window.days - pre_start)).astype(np.int64)

    person = orders["person"].to_numpy()
    tickets = pd.DataFrame(
        {
            "order": np.concatenate([complaint_orders, inquiry_orders, np.full(n_pre, -1)]),
            "person": np.concatenate(
                [person[complaint_orders], person[inquiry_orders], pre_person]
            ),
            "is_complaint": np.r_[
                np.ones(len(complaint_orders), bool), np.zeros(len(inquiry_orders) + n_pre, bool)
            ],
            "category": np.concatenate(
                [
                    category,
                    col.weighted_choice(rng, _INQUIRY_CATEGORIES, len(inquiry_orders) + n_pre),
                ]
            ),
            "day": np.concatenate([complaint_day, inquiry_day, pre_day]),
        }
    )
    m = len(tickets)
    complaint = tickets["is_complaint"].to_numpy()
    severity = np.where(
        complaint,
        col.weighted_choice(rng, (0.25, 0.4, 0.25, 0.1), m),
        col.weighted_choice(rng, (0.85, 0.15), m),
    )
    opened = tickets["day"].to_numpy() * SECONDS_PER_DAY + rng.integers(8 * 3600, 22 * 3600, m)
    late_reply = rng.random(m) < np.where(complaint, 0.18, 0.08)
    reply_hours = np.where(
        late_reply,
        rng.uniform(FIRST_REPLY_SLA_HOURS + 0.5, 96, m),
        np.clip(rng.lognormal(np.log(3), 0.9, m), 0.05, 23.5),
    )
    first_response = opened + (reply_hours * 3600).astype(np.int64)
    work_hours = np.clip(
        rng.lognormal(np.where(complaint, np.log(20), np.log(3)), 0.8, m), 0.2, 240
    )
    resolved = first_response + (work_hours * 3600).astype(np.int64)

    order = tickets["order"].to_numpy()
    order_total = np.where(order >= 0, orders["total_cents"].to_numpy()[np.maximum(order, 0)], 0)
    compensated = complaint & (order >= 0) & (rng.random(m) < COMPENSATION_SHARE[severity])
    amount = np.minimum(
        np.maximum(np.round(order_total * rng.uniform(0.05, 0.3, m)), 1000), order_total
    )
    tickets["severity"] = severity
    tickets["opened"] = opened
    tickets["first_response"] = first_response
    tickets["resolved"] = resolved
    tickets["compensation_cents"] = np.where(compensated, amount, 0).astype(np.int64)
    tickets["bad_handling"] = complaint & (late_reply | ((severity >= HIGH) & ~compensated))
    tickets = tickets[opened < window.end_second]
    return tickets.sort_values("opened", kind="stable").reset_index(drop=True)


def churn_after_complaints(
    rng: np.random.Generator, tickets: pd.DataFrame, orders: pd.DataFrame, population: Population
) -> np.ndarray:
    """The moment (seconds) each person stops buying because of a badly handled complaint, or a
    value past the window for people it did not happen to. Only CRM customers are affected."""
    stop = np.full(population.size, np.iinfo(np.int64).max)
    person = tickets["person"].to_numpy()
    triggered = (
        tickets["bad_handling"].to_numpy()
        & population.in_crm[person]
        & (rng.random(len(tickets)) < CHURN_AFTER_BAD_HANDLING)
    )
    np.minimum.at(stop, person[triggered], tickets["opened"].to_numpy()[triggered])
    return stop


def contact_links(
    rng: np.random.Generator, tickets: pd.DataFrame, guests: pd.DataFrame, population: Population
) -> dict[str, pa.Array | np.ndarray]:
    """How each ticket names the customer: ``linked`` (customer_id known), else a phone in some
    format or the e-mail; tickets about guest orders carry the guest's contact only."""
    m = len(tickets)
    person = tickets["person"].to_numpy()
    guest_email, guest_phone = guest_columns(guests, tickets["order"].to_numpy())
    is_guest_order = pc.or_(guest_email.is_valid(), guest_phone.is_valid()).to_numpy(
        zero_copy_only=False
    )

    has_phone = population.has_phone[person]
    has_email = population.has_email[person]
    in_crm = population.in_crm[person]
    linked = in_crm & ~is_guest_order & ((rng.random(m) < LINKED_SHARE) | ~(has_phone | has_email))
    by_phone = ~linked & has_phone & ((rng.random(m) < 0.6) | ~has_email)
    style = col.weighted_choice(rng, (0.3, 0.2, 0.15, 0.1, 0.15, 0.1), m)
    phone = col.with_nulls(ident.format_phones(population.phone_number[person], style), ~by_phone)
    email = col.with_nulls(population.email.take(pa.array(person)), linked | by_phone)
    # Tickets about guest orders name the guest's contact, one of them as a caller or sender.
    use_guest = pa.array(is_guest_order)
    phone = pc.if_else(use_guest, guest_phone, phone)
    email = pc.if_else(
        pc.and_(use_guest, phone.is_valid()),
        pa.nulls(m, pa.string()),
        pc.if_else(use_guest, guest_email, email),
    )
    return {"linked": linked, "phone": phone, "email": email}


def ticket_deliveries(
    rng: np.random.Generator,
    tickets: pd.DataFrame,
    guests: pd.DataFrame,
    population: Population,
    catalogue: Catalogue,
    lines: pd.DataFrame,
    window: Window,
) -> tuple[pa.Table, pa.Array, np.ndarray]:
    """Ticket rows per delivery day: the opening day's row (status open) and the resolution
    day's row; one resolved row when both fall on one day. Returns the table, the ticket ids
    and per ticket whether it names the customer_id."""
    m = len(tickets)
    ticket_id = col.ids("T", np.arange(1, m + 1), col.id_width(m, 8))
    links = contact_links(rng, tickets, guests, population)
    person = tickets["person"].to_numpy()
    email_contact = ~links["linked"] & links["email"].is_valid().to_numpy(zero_copy_only=False)
    channel = np.where(
        email_contact,
        TICKET_CHANNELS.index("email"),
        col.weighted_choice(rng, (0.35, 0.35, 0, 0.15, 0.15), m),
    )

    order = tickets["order"].to_numpy()
    language = np.where(
        population.english[person], rng.random(m) < 0.8, rng.random(m) < 0.05
    ).astype(np.int64)
    noun = _order_nouns(rng, order, language, lines, catalogue)
    description = texts.ticket_texts(
        rng, tickets["category"].to_numpy(), language, noun, TICKET_CATEGORIES
    )

    opened = tickets["opened"].to_numpy()
    first_response = tickets["first_response"].to_numpy()
    resolved = tickets["resolved"].to_numpy()
    open_day = opened // SECONDS_PER_DAY
    resolved_day = resolved // SECONDS_PER_DAY
    same_day = resolved_day == open_day
    with_open_row = np.flatnonzero(~same_day)
    with_resolved_row = np.flatnonzero(resolved < window.end_second)
    row = np.concatenate([with_open_row, with_resolved_row])
    is_open = np.r_[np.ones(len(with_open_row), bool), np.zeros(len(with_resolved_row), bool)]
    day = np.where(is_open, open_day[row], resolved_day[row])
    replied = ~is_open | (first_response[row] // SECONDS_PER_DAY == open_day[row])
    updated = np.where(is_open, np.where(replied, first_response[row], opened[row]), resolved[row])
    sort = np.lexsort((updated, day))
    row, is_open, day, replied, updated = (a[sort] for a in (row, is_open, day, replied, updated))
    rows = pa.array(row)
    order_id = order_ids(np.maximum(order[row], 0))
    compensation = tickets["compensation_cents"].to_numpy()[row]
    complaint = tickets["is_complaint"].to_numpy()[row]
    table = pa.table(
        {
            "ticket_id": ticket_id.take(rows),
            "customer_id": customer_ids(person[row], population.n_crm, ~links["linked"][row]),
            "contact_phone": links["phone"].take(rows),
            "contact_email": links["email"].take(rows),
            "order_id": col.with_nulls(order_id, order[row] < 0),
            "channel": col.pick(TICKET_CHANNELS, channel[row]),
            "category": col.pick(TICKET_CATEGORIES, tickets["category"].to_numpy()[row]),
            "is_complaint": col.booleans(complaint),
            "severity": col.pick(SEVERITIES, tickets["severity"].to_numpy()[row]),
            "status": col.pick(("open", "resolved"), (~is_open).astype(int)),
            "opened_at": col.timestamps(opened[row], window),
            "first_response_at": col.timestamps(first_response[row], window, ~replied),
            "resolved_at": col.timestamps(resolved[row], window, is_open),
            "compensation_amount": col.money(compensation, is_open | ~complaint),
            "description": description.take(rows),
            "updated_at": col.timestamps(updated, window),
            "_day": col.integers(day),
        }
    )
    return table, ticket_id, links["linked"]


def _order_nouns(
    rng: np.random.Generator,
    order: np.ndarray,
    language: np.ndarray,
    lines: pd.DataFrame,
    catalogue: Catalogue,
) -> pa.Array:
    """The noun of one product of each order in the ticket's language ("商品" / "item" when
    there is no order)."""
    line_order = lines["order"].to_numpy()
    start = np.searchsorted(line_order, np.maximum(order, 0))
    count = np.searchsorted(line_order, np.maximum(order, 0), side="right") - start
    pick = start + (rng.random(len(order)) * np.maximum(count, 1)).astype(np.int64)
    product = (
        lines["product"].to_numpy()[np.minimum(pick, max(len(line_order) - 1, 0))]
        if (len(line_order))
        else np.zeros(len(order), dtype=np.int64)
    )
    english = pa.array(language == texts.EN)
    noun = pc.if_else(
        english,
        col.pick(SUBCATEGORY_NOUNS_EN, catalogue.subcategory[product]),
        col.pick(SUBCATEGORY_NOUNS_ZH, catalogue.subcategory[product]),
    )
    generic = pc.if_else(english, pa.scalar("item"), pa.scalar("商品"))
    return pc.if_else(pa.array((order < 0) | (count == 0)), generic, noun)


def survey_answers(
    rng: np.random.Generator,
    tickets: pd.DataFrame,
    ticket_id: pa.Array,
    linked: np.ndarray,
    population: Population,
    window: Window,
) -> pa.Table:
    """CSAT (45% of resolved tickets) and NPS (20% of resolved complaints) answered 1-5 days
    after resolution, lower after bad handling; plus quarterly NPS of 2% of customers."""
    m = len(tickets)
    resolved = tickets["resolved"].to_numpy()
    complaint = tickets["is_complaint"].to_numpy()
    bad = tickets["bad_handling"].to_numpy()
    person = tickets["person"].to_numpy()
    after = resolved + rng.integers(SECONDS_PER_DAY, 5 * SECONDS_PER_DAY + 1, m)

    csat = np.flatnonzero(rng.random(m) < 0.45)
    mood = np.where(bad[csat], "bad", np.where(complaint[csat], "good", "inquiry"))
    csat_score = np.empty(len(csat), dtype=np.int64)
    for key, weights in CSAT_WEIGHTS.items():
        csat_score[mood == key] = col.weighted_choice(rng, weights, (mood == key).sum()) + 1

    nps = np.flatnonzero(complaint & (rng.random(m) < 0.2))
    nps_score = np.where(
        bad[nps],
        col.weighted_choice(rng, NPS_WEIGHTS["bad"], len(nps)),
        col.weighted_choice(rng, NPS_WEIGHTS["good"], len(nps)),
    )
    nps_after = after[nps] + rng.integers(0, 3600, len(nps))

    # Quarterly NPS of registered customers; worse for those who were badly handled before.
    first_bad = np.full(population.size, np.iinfo(np.int64).max)
    np.minimum.at(first_bad, person[bad], tickets["opened"].to_numpy()[bad])
    q_person, q_second = [], []
    n_crm = population.n_crm
    for q in quarter_starts(window):
        eligible = np.flatnonzero(population.signup_day[:n_crm] < q)
        chosen = eligible[rng.random(len(eligible)) < 0.02]
        q_person.append(chosen)
        q_second.append(q * SECONDS_PER_DAY + rng.integers(0, 14 * SECONDS_PER_DAY, len(chosen)))
    q_person_a = np.concatenate(q_person) if q_person else np.zeros(0, dtype=np.int64)
    q_second_a = np.concatenate(q_second) if q_second else np.zeros(0, dtype=np.int64)
    q_bad = first_bad[q_person_a] < q_second_a
    q_score = np.where(
        q_bad,
        col.weighted_choice(rng, NPS_WEIGHTS["bad"], len(q_person_a)),
        col.weighted_choice(rng, NPS_WEIGHTS["periodic"], len(q_person_a)),
    )

    ticket_row = np.concatenate([csat, nps, np.full(len(q_person_a), -1)])
    who = np.concatenate([person[csat], person[nps], q_person_a])
    known = np.concatenate([linked[csat], linked[nps], np.ones(len(q_person_a), bool)])
    kind = np.r_[np.zeros(len(csat), int), np.ones(len(nps) + len(q_person_a), int)]
    answered = np.concatenate([after[csat], nps_after, q_second_a])
    score = np.concatenate([csat_score, nps_score, q_score])
    keep = answered < window.end_second
    ticket_row, who, known, kind, answered, score = (
        a[keep] for a in (ticket_row, who, known, kind, answered, score)
    )
    order = np.lexsort((who, answered))
    ticket_row, who, known, kind, answered, score = (
        a[order] for a in (ticket_row, who, known, kind, answered, score)
    )

    n = len(answered)
    mood = np.where(kind == 0, np.digitize(score, [3, 4]), np.digitize(score, [7, 9]))
    language = (population.english[who] & (rng.random(n) < 0.8)).astype(np.int64)
    comment = col.with_nulls(texts.survey_comments(rng, mood, language), rng.random(n) >= 0.3)
    surveyed = (
        ticket_id.take(pa.array(np.maximum(ticket_row, 0)))
        if len(ticket_id)
        else (pa.nulls(n, pa.string()))
    )
    return pa.table(
        {
            "survey_id": col.ids("S", np.arange(1, n + 1), col.id_width(n, 8)),
            "ticket_id": col.with_nulls(surveyed, ticket_row < 0),
            "customer_id": customer_ids(who, population.n_crm, ~known),
            "survey_type": col.pick(("csat", "nps"), kind),
            "answered_at": col.timestamps(answered, window),
            "score": col.integers(score),
            "comment": comment,
            "_day": col.integers(answered // SECONDS_PER_DAY),
        }
    )
