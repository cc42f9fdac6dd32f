"""Orders and order lines: buy-till-you-die purchase times, basket contents with personas, price
bands and planted co-purchase pairs, amounts, statuses and guest checkouts.

Orders are numbered in time order; the number is the position in the frames and never changes,
so dropping orders later (churn after a complaint) leaves gaps, as real order ids do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as col
from . import identities as ident
from .catalogue import CATEGORIES, CATEGORY_WEIGHTS, Catalogue
from .customers import (
    BAND_PREFERENCE,
    ORDER_CHANNEL_WEIGHTS,
    ORDER_CHANNELS,
    PERSONAS,
    Population,
    customer_ids,
)
from .seasons import (
    SECONDS_PER_DAY,
    Window,
    cumulative_weights,
    demand_multiplier,
    promotion_days,
    sample_days,
    sample_seconds_of_day,
)

# How strongly each demand profile follows the holiday peaks (price-sensitive, quality-seeking,
# regular, business): price-sensitive shoppers wait for the campaigns.
HOLIDAY_EXPONENT = np.array([1.6, 0.5, 1.0, 0.3])
LINE_DISCOUNT_SHARE = np.array([0.45, 0.05, 0.2])
LINE_DISCOUNT_PROMOTION_BONUS = np.array([0.35, 0.05, 0.15])
COUPON_SHARE = np.array([0.35, 0.03, 0.12])
COUPON_PROMOTION_BONUS = np.array([0.25, 0.02, 0.12])
COUPON_YUAN = np.array([5, 10, 20, 30, 50, 100])
FREE_SHIPPING_FROM_CENTS = 9_900
SHIPPING_CENTS = 1_000
CANCEL_SHARE = 0.03
REFUND_SHARE = 0.04
GUEST_SHARE_OF_CRM_ORDERS = 0.055
GUEST_TYPO_SHARE = 0.1
STORE = ORDER_CHANNELS.index("store")


def simulate_orders(
    rng: np.random.Generator,
    population: Population,
    catalogue: Catalogue,
    window: Window,
    plant: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All orders of the window (one row per order, in time order) and their lines.

    ``plant`` may add purchase times (person, second) before baskets are drawn (the planted
    effect of past campaigns), so that the added orders get lines and amounts like any other.

    Orders: person, second, day, channel, promotion, items/discount/shipping/total cents,
    cancelled, refunded, ship_delay, refund_second, refund_cents, guest.
    Lines: order, product, quantity, unit_cents, discount_cents, amount_cents.
    """
    person, second = purchase_times(rng, population, window)
    if plant is not None:
        person, second = plant(person, second)
    order = np.argsort(second, kind="stable")
    person, second = person[order], second[order]
    day = second // SECONDS_PER_DAY
    n = len(person)
    promotion = promotion_days(window)[day]

    lines = _basket_lines(rng, population, catalogue, person, day)
    persona = population.persona[person]
    _price_lines(rng, lines, catalogue, population, person, day, promotion)

    items = np.bincount(lines["order"], weights=lines["amount_cents"], minlength=n).astype(np.int64)
    coupon = rng.random(n) < COUPON_SHARE[persona] + promotion * COUPON_PROMOTION_BONUS[persona]
    cap_yuan = items * 0.2 // 100
    discount = np.where(
        coupon, np.minimum(COUPON_YUAN[rng.integers(0, 6, n)], cap_yuan) * 100, 0
    ).astype(np.int64)
    channel = np.where(
        rng.random(n) < 0.7,
        population.preferred_channel[person],
        col.weighted_choice(rng, ORDER_CHANNEL_WEIGHTS, n),
    )
    free_shipping = (
        (items - discount >= FREE_SHIPPING_FROM_CENTS)
        | (channel == STORE)
        | population.business[person]
    )
    shipping = np.where(free_shipping, 0, SHIPPING_CENTS)
    total = items - discount + shipping

    cancelled = rng.random(n) < CANCEL_SHARE
    refunded = ~cancelled & (rng.random(n) < REFUND_SHARE)
    ship_delay = col.weighted_choice(rng, (0.55, 0.33, 0.12), n) + 1
    refund_day = day + ship_delay + rng.integers(2, 16, n)
    partial = rng.random(n) < 0.25
    refund_cents = np.where(partial, np.round(total * rng.uniform(0.2, 0.8, n)), total)
    reachable = population.has_email | population.has_phone
    guest = (
        population.in_crm[person]
        & ~population.business[person]
        & reachable[person]
        & (rng.random(n) < GUEST_SHARE_OF_CRM_ORDERS)
    )
    guest |= ~population.in_crm[person]

    orders = pd.DataFrame(
        {
            "person": person,
            "second": second,
            "day": day,
            "channel": channel,
            "promotion": promotion,
            "items_cents": items,
            "discount_cents": discount,
            "shipping_cents": shipping,
            "total_cents": total,
            "cancelled": cancelled,
            "refunded": refunded,
            "ship_delay": ship_delay,
            "refund_second": refund_day * SECONDS_PER_DAY + rng.integers(9 * 3600, 21 * 3600, n),
            "refund_cents": refund_cents.astype(np.int64),
            "guest": guest,
        }
    )
    return orders, lines


def order_ids(number: np.ndarray) -> pa.Array:
    """Order ids (``O0000000001`` for order number 0)."""
    return col.ids("O", np.asarray(number) + 1, 10)


def repeat_budget(population: Population) -> np.ndarray:
    """Purchases each person can still make in the window before dropping out: new customers
    their first purchase plus their repeats, existing customers what is left of their repeats
    (zero or less: they dropped out before the window)."""
    p = population
    return np.where(p.signup_second < 0, p.repeats_allowed - p.prior_repeats, p.repeats_allowed + 1)


def purchase_times(
    rng: np.random.Generator, population: Population, window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """Purchase times per person following buy-till-you-die within the window.

    Repeat purchases arrive as a Poisson process with the person's rate, shaped by the demand
    profile's holiday peaks; after each repeat purchase the person drops out with their dropout
    probability (so they make ``repeats_allowed`` repeats in their life). New customers make a
    first purchase at signup; existing customers already used ``prior_repeats``.
    """
    p = population
    multiplier = demand_multiplier(window)
    profile = np.where(p.business, 3, p.persona)
    signup_day = p.signup_day
    start = np.where(signup_day < 0, 0, signup_day + 1)
    start = np.minimum(start, window.days)

    people, seconds = [], []
    for k, exponent in enumerate(HOLIDAY_EXPONENT):
        who = np.flatnonzero(profile == k)
        cumulative = cumulative_weights(multiplier**exponent)
        expected = p.rate[who] * (cumulative[window.days] - cumulative[start[who]])
        count = rng.poisson(expected)
        owner = np.repeat(who, count)
        days = sample_days(rng, cumulative, start[owner], window.days)
        people.append(owner)
        seconds.append(days * SECONDS_PER_DAY + sample_seconds_of_day(rng, len(owner)))
    first = np.flatnonzero(p.initial_purchase)
    people.append(first)
    seconds.append(p.signup_second[first] + rng.integers(120, 2400, len(first)))

    person = np.concatenate(people)
    second = np.concatenate(seconds)
    order = np.lexsort((second, person))
    person, second = person[order], second[order]
    allowed = repeat_budget(p)
    keep = (col.rank_within(person) < allowed[person]) & (second < window.end_second)
    return person[keep], second[keep]


def _product_choosers(catalogue: Catalogue) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """(persona, category) -> (products, cumulative choice probability)."""
    choosers = {}
    for category in range(len(CATEGORIES)):
        products = np.flatnonzero(catalogue.category == category)
        for persona in range(len(PERSONAS)):
            weights = (
                catalogue.popularity[products] * BAND_PREFERENCE[persona][catalogue.band[products]]
            )
            choosers[persona, category] = (products, np.cumsum(weights) / weights.sum())
    return choosers


def _basket_lines(
    rng: np.random.Generator,
    population: Population,
    catalogue: Catalogue,
    person: np.ndarray,
    day: np.ndarray,
) -> pd.DataFrame:
    """Products per order: favourites, the primary category and the rest of the shop, with
    unavailable products swapped for a substitute and co-purchase partners added."""
    n = len(person)
    business = population.business[person]
    size = 1 + rng.poisson(np.where(business, 2.0, 1.4))
    order = np.repeat(np.arange(n), size)
    who = person[order]
    m = len(order)

    mode = rng.random(m)
    favourite_share = np.where(population.business[who], 0.4, 0.28)
    category = np.where(
        mode < favourite_share + 0.35,
        population.primary_category[who],
        col.weighted_choice(rng, list(CATEGORY_WEIGHTS.values()), m),
    )
    product = np.empty(m, dtype=np.int64)
    persona = population.persona[who]
    u = rng.random(m)
    for (p, c), (products, cdf) in _product_choosers(catalogue).items():
        rows = np.flatnonzero((persona == p) & (category == c))
        product[rows] = products[np.minimum(np.searchsorted(cdf, u[rows]), len(products) - 1)]
    product = np.where(mode < favourite_share, population.favourite_product[who], product)
    line_day = day[order]
    product = np.where(
        catalogue.available(product, line_day), product, catalogue.substitute[product]
    )

    partner = catalogue.companion[product]
    adds = (partner >= 0) & (rng.random(m) < catalogue.companion_probability[product])
    order = np.concatenate([order, order[adds]])
    product = np.concatenate([product, partner[adds]])

    # One line per product and order, in order and product sequence.
    _, first = np.unique(order * catalogue.size + product, return_index=True)
    return pd.DataFrame({"order": order[first], "product": product[first]})


def _price_lines(
    rng: np.random.Generator,
    lines: pd.DataFrame,
    catalogue: Catalogue,
    population: Population,
    person: np.ndarray,
    day: np.ndarray,
    promotion: np.ndarray,
) -> None:
    """Adds quantity, unit price, line discount and line amount (cents) to ``lines``."""
    order = lines["order"].to_numpy()
    product = lines["product"].to_numpy()
    m = len(order)
    who = person[order]
    persona = population.persona[who]
    repeat = catalogue.repeat_purchase[product]
    quantity = np.where(repeat, rng.geometric(0.6, m), 1 + (rng.random(m) < 0.04))
    quantity = np.where(population.business[who], quantity * rng.integers(1, 4, m), quantity)
    unit = catalogue.price_at(product, day[order])
    discounted = rng.random(m) < (
        LINE_DISCOUNT_SHARE[persona] + promotion[order] * LINE_DISCOUNT_PROMOTION_BONUS[persona]
    )
    rate = np.where(persona == 0, rng.uniform(0.1, 0.3, m), rng.uniform(0.05, 0.15, m))
    discount = np.where(discounted, np.round(quantity * unit * rate), 0).astype(np.int64)
    lines["quantity"] = quantity
    lines["unit_cents"] = unit
    lines["discount_cents"] = discount
    lines["amount_cents"] = quantity * unit - discount


def guest_contacts(
    rng: np.random.Generator, orders: pd.DataFrame, population: Population
) -> pd.DataFrame:
    """What guest checkouts typed: per guest order its e-mail and/or phone, the real owner's
    customer index (-1 for shoppers unknown to the CRM) and whether the contact can be matched
    to the CRM after normalising case, spaces and phone formats (false for typos)."""
    guest = orders["guest"].to_numpy()
    owner = orders["person"].to_numpy()[guest]
    n = len(owner)
    has_email = population.has_email[owner]
    has_phone = population.has_phone[owner]
    choice = rng.choice(3, n, p=[0.35, 0.35, 0.3])  # e-mail only, phone only, both
    give_email = has_email & ((choice != 1) | ~has_phone)
    give_phone = has_phone & ((choice != 0) | ~give_email)
    in_crm = population.in_crm[owner]
    typo = in_crm & (rng.random(n) < GUEST_TYPO_SHARE)

    email = population.email.take(pa.array(owner))
    email = pc.if_else(pa.array(typo), ident.mistyped_emails(email), ident.messy_emails(rng, email))
    number = population.phone_number[owner]
    number = np.where(typo, ident.mistyped_phones(number), number)
    style = col.weighted_choice(rng, (0.25, 0.15, 0.2, 0.1, 0.15, 0.15), n)
    phone = ident.format_phones(number, style)
    return pd.DataFrame(
        {
            "order": orders.index.to_numpy()[guest],
            "email": pd.Series(
                col.with_nulls(email, ~give_email), dtype=pd.ArrowDtype(pa.string())
            ),
            "phone": pd.Series(
                col.with_nulls(phone, ~give_phone), dtype=pd.ArrowDtype(pa.string())
            ),
            "owner": np.where(in_crm, owner, -1),
            "matchable": in_crm & ~typo,
        }
    )


def guest_columns(guests: pd.DataFrame, order: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The guest e-mail and phone of each order number in ``order`` (null for non-guests)."""
    row = pd.Series(np.arange(len(guests)), index=guests["order"].to_numpy()).reindex(order)
    missing = row.isna().to_numpy()
    index = pa.array(np.where(missing, 0, row.fillna(0).to_numpy()).astype(np.int64), mask=missing)
    if len(guests) == 0:
        return pa.nulls(len(order), pa.string()), pa.nulls(len(order), pa.string())
    email = pa.array(guests["email"].array, pa.string())
    phone = pa.array(guests["phone"].array, pa.string())
    return email.take(index), phone.take(index)


def order_deliveries(
    rng: np.random.Generator,
    orders: pd.DataFrame,
    guests: pd.DataFrame,
    population: Population,
    window: Window,
) -> pa.Table:
    """Order rows per delivery day: the order on its day (paid, or cancelled within hours), the
    shipped row 1-3 days later and the refunded row when a refund follows."""
    n = len(orders)
    number = orders.index.to_numpy()
    second = orders["second"].to_numpy()
    day = orders["day"].to_numpy()
    cancelled = orders["cancelled"].to_numpy()
    end_of_day = (day + 1) * SECONDS_PER_DAY - 1
    first_update = np.where(
        cancelled, np.minimum(second + rng.integers(300, 4 * 3600, n), end_of_day), second
    )
    ship_second = (day + orders["ship_delay"].to_numpy()) * SECONDS_PER_DAY + rng.integers(
        8 * 3600, 20 * 3600, n
    )
    shipped = np.flatnonzero(~cancelled & (ship_second < window.end_second))
    refund_second = orders["refund_second"].to_numpy()
    refunded = np.flatnonzero(orders["refunded"].to_numpy() & (refund_second < window.end_second))

    row = np.concatenate([np.arange(n), shipped, refunded])
    status = np.concatenate(
        [np.where(cancelled, 2, 0), np.full(len(shipped), 1), np.full(len(refunded), 3)]
    )
    updated = np.concatenate([first_update, ship_second[shipped], refund_second[refunded]])
    row_day = updated // SECONDS_PER_DAY
    sort = np.lexsort((updated, row_day))
    row, status, updated, row_day = row[sort], status[sort], updated[sort], row_day[sort]

    person = orders["person"].to_numpy()[row]
    guest = orders["guest"].to_numpy()[row]
    email, phone = guest_columns(guests, number[row])
    rows = pa.array(row)
    cents = {
        c: orders[c].to_numpy()[row]
        for c in ("items_cents", "discount_cents", "shipping_cents", "total_cents", "refund_cents")
    }
    return pa.table(
        {
            "order_id": order_ids(number[row]),
            "customer_id": customer_ids(person, population.n_crm, guest),
            "guest_email": email,
            "guest_phone": phone,
            "ordered_at": col.timestamps(second, window).take(rows),
            "status": col.pick(("paid", "shipped", "cancelled", "refunded"), status),
            "channel": col.pick(ORDER_CHANNELS, orders["channel"].to_numpy()[row]),
            "currency": pa.array(np.full(len(row), "CNY")),
            "items_amount": col.money(cents["items_cents"]),
            "discount_amount": col.money(cents["discount_cents"]),
            "shipping_amount": col.money(cents["shipping_cents"]),
            "total_amount": col.money(cents["total_cents"]),
            "refund_amount": col.money(cents["refund_cents"], status != 3),
            "updated_at": col.timestamps(updated, window),
            "_day": col.integers(row_day),
        }
    )


def line_deliveries(
    lines: pd.DataFrame, orders: pd.DataFrame, catalogue: Catalogue, window: Window
) -> pa.Table:
    """Order lines, delivered once with the order's first row."""
    order = lines["order"].to_numpy()
    day = orders["day"].reindex(order).to_numpy()
    return pa.table(
        {
            "order_id": order_ids(order),
            "line_number": col.integers(col.rank_within(order) + 1),
            "product_id": catalogue.product_id.take(pa.array(lines["product"].to_numpy())),
            "quantity": col.integers(lines["quantity"].to_numpy()),
            "unit_price": col.money(lines["unit_cents"].to_numpy()),
            "discount_amount": col.money(lines["discount_cents"].to_numpy()),
            "line_amount": col.money(lines["amount_cents"].to_numpy()),
            "_day": col.integers(day),
        }
    )
