"""Who the customers are: identity, signup, persona and the hidden buying behaviour
(buy-till-you-die rate and dropout) that the purchase simulation follows.

Besides the CRM customers, a few guest shoppers who never registered buy as guests only; they
share the arrays (indexes ``n_crm`` and up) but never appear in the CRM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as col
from . import identities as ident
from .catalogue import CATEGORIES, CATEGORY_WEIGHTS, NEVER, Catalogue
from .seasons import SECONDS_PER_DAY, Window, cumulative_weights, demand_multiplier, sample_days

PERSONAS = ("price_sensitive", "quality_seeking", "regular")
PERSONA_WEIGHTS = (0.35, 0.25, 0.40)
PRICE_SENSITIVE, QUALITY_SEEKING, REGULAR = range(3)
# Share of the base that already existed before the window (delivered on the first day).
EXISTING_SHARE = 0.35
BUSINESS_SHARE = 0.08
GUEST_SHOPPER_SHARE = 0.025
# Buy-till-you-die: purchase rate per day ~ Gamma(shape, scale), dropout after each repeat
# purchase ~ Beta(a, b). Rate multipliers per persona; business accounts buy more often.
RATE_SHAPE = 0.9
RATE_MEAN_PER_DAY = 0.044
RATE_MULTIPLIER = np.array([1.15, 0.8, 1.0])
BUSINESS_RATE_MULTIPLIER = 1.5
DROPOUT_A, DROPOUT_B = 1.1, 16.0
INITIAL_PURCHASE_SHARE = 0.75
ACQUISITION_CHANNELS = ("search", "social", "referral", "store", "marketplace", "direct")
ACQUISITION_WEIGHTS = (0.25, 0.24, 0.12, 0.15, 0.14, 0.10)
ORDER_CHANNELS = ("app", "web", "mini_program", "store", "marketplace")
ORDER_CHANNEL_WEIGHTS = (0.40, 0.15, 0.25, 0.08, 0.12)
GENDERS = ("female", "male", "unknown")
BAND_PREFERENCE = np.array(
    [
        [0.65, 0.30, 0.05],  # price-sensitive: budget
        [0.08, 0.32, 0.60],  # quality-seeking: premium
        [0.30, 0.50, 0.20],  # regular
    ]
)
"""Relative weight of the budget, mid and premium bands per persona."""


@dataclass(frozen=True)
class Population:
    """Per-person arrays, CRM customers first (index = customer number - 1, in signup order)."""

    n_crm: int
    business: np.ndarray
    persona: np.ndarray
    signup_second: np.ndarray
    """Seconds after the first window midnight; negative for customers who existed before."""
    rate: np.ndarray
    """Purchase rate per day while alive."""
    dropout: np.ndarray
    """Probability of dropping out after each repeat purchase."""
    repeats_allowed: np.ndarray
    """Repeat purchases before dropping out (geometric in ``dropout``), counted from signup."""
    prior_repeats: np.ndarray
    """Repeat purchases made before the window (existing customers)."""
    initial_purchase: np.ndarray
    """New customers who order right at signup."""
    primary_category: np.ndarray
    favourite_product: np.ndarray
    preferred_channel: np.ndarray
    english: np.ndarray
    gender: np.ndarray
    name: pa.Array
    roman: pa.Array
    """ASCII romanisation of the name (e-mail local parts, handles)."""
    city: np.ndarray
    industry: np.ndarray
    """Index into `identities.INDUSTRIES` (the occupation of business accounts)."""
    email: pa.Array
    phone_number: np.ndarray
    """11-digit mobile number; 0 when none is known."""
    handle: pa.Array
    social_active: np.ndarray
    platforms: np.ndarray
    """(people, 3) booleans: has an account on wechat, xiaohongshu, weibo."""

    @property
    def size(self) -> int:
        return len(self.business)

    @property
    def signup_day(self) -> np.ndarray:
        return np.floor_divide(self.signup_second, SECONDS_PER_DAY)

    @property
    def has_email(self) -> np.ndarray:
        return self.email.is_valid().to_numpy(zero_copy_only=False)

    @property
    def has_phone(self) -> np.ndarray:
        return self.phone_number > 0

    @property
    def in_crm(self) -> np.ndarray:
        return np.arange(self.size) < self.n_crm


def draw_population(
    rng: np.random.Generator, customers: int, window: Window, catalogue: Catalogue
) -> Population:
    """``customers`` CRM customers plus a few guest shoppers, with identities and behaviour."""
    n_crm = customers
    n = n_crm + int(round(customers * GUEST_SHOPPER_SHARE))
    in_crm = np.arange(n) < n_crm

    signup_second = _signup_seconds(rng, n_crm, window)
    guest_days = sample_days(
        rng,
        cumulative_weights(demand_multiplier(window)),
        np.zeros(n - n_crm, dtype=int),
        window.days,
    )
    signup_second = np.concatenate(
        [signup_second, guest_days * SECONDS_PER_DAY + rng.integers(8 * 3600, 22 * 3600, n - n_crm)]
    )
    business = in_crm & (rng.random(n) < BUSINESS_SHARE)
    persona = col.weighted_choice(rng, PERSONA_WEIGHTS, n)

    rate = rng.gamma(RATE_SHAPE, RATE_MEAN_PER_DAY / RATE_SHAPE, n) * RATE_MULTIPLIER[persona]
    rate = np.where(business, rate * BUSINESS_RATE_MULTIPLIER, rate)
    dropout = rng.beta(DROPOUT_A, DROPOUT_B, n)
    repeats_allowed = rng.geometric(dropout)
    tenure_before = np.maximum(-signup_second / SECONDS_PER_DAY, 0)
    prior_repeats = rng.poisson(rate * tenure_before)
    initial_purchase = (signup_second >= 0) & (rng.random(n) < INITIAL_PURCHASE_SHARE)

    primary_category = col.weighted_choice(rng, list(CATEGORY_WEIGHTS.values()), n)
    favourite_product = _favourite_products(rng, catalogue, primary_category, persona)
    preferred_channel = col.weighted_choice(rng, ORDER_CHANNEL_WEIGHTS, n)

    english = rng.random(n) < 0.08
    gender = col.weighted_choice(rng, (0.56, 0.40, 0.04), n)
    name, roman = ident.person_names(rng, gender == 0, english)
    city = col.weighted_choice(rng, [c[2] for c in ident.CITIES], n)

    # Business accounts: company names, company e-mail domains.
    industry = rng.integers(0, len(ident.INDUSTRIES), n)
    company, stem = ident.company_names(
        rng, col.pick([c[0] for c in ident.CITIES], city), industry, rng.random(n) < 0.15
    )
    is_business = pa.array(business)
    name = pc.if_else(is_business, company, name)
    number = ident.unique_numbers(rng, n, 10, 10**7)
    company_domain = col.concat(stem, pc.cast(pa.array(number % 997), pa.string()), ".com.cn")
    personal = ident.emails(rng, roman, number)
    company_mail = ident.emails(rng, pa.array(np.full(n, "service")), number, company_domain)
    has_email = rng.random(n) < np.where(business, 0.95, np.where(in_crm, 0.72, 0.8))
    email = col.with_nulls(pc.if_else(is_business, company_mail, personal), ~has_email)
    has_phone = rng.random(n) < np.where(business, 0.9, 0.92)
    # Guest shoppers must leave some contact at checkout.
    has_phone |= ~in_crm & ~has_email
    phone_number = np.where(has_phone, ident.phone_numbers(rng, n), 0)

    handle_number = pc.cast(pa.array(rng.integers(1, 10_000, n)), pa.string())
    handle = col.concat(pc.replace_substring(roman, ".", "_"), "_", handle_number)
    social_active = ~business & (rng.random(n) < 0.3)
    platforms = social_active[:, None] & (rng.random((n, 3)) < np.array([0.7, 0.5, 0.45]))
    platforms[social_active & ~platforms.any(axis=1), 0] = True

    return Population(
        n_crm=n_crm,
        business=business,
        persona=persona,
        signup_second=signup_second,
        rate=rate,
        dropout=dropout,
        repeats_allowed=repeats_allowed,
        prior_repeats=prior_repeats,
        initial_purchase=initial_purchase,
        primary_category=primary_category,
        favourite_product=favourite_product,
        preferred_channel=preferred_channel,
        english=english,
        gender=gender,
        name=name,
        roman=roman,
        city=city,
        industry=industry,
        email=email,
        phone_number=phone_number,
        handle=handle,
        social_active=social_active,
        platforms=platforms,
    )


def _signup_seconds(rng: np.random.Generator, n: int, window: Window) -> np.ndarray:
    """Sorted signup times: an existing base before the window, then growing daily signups."""
    existing = rng.random(n) < EXISTING_SHARE
    days = np.empty(n, dtype=np.int64)
    days[existing] = -rng.integers(30, 1095, existing.sum())
    growth = (1 + 0.6 * np.arange(window.days) / window.days) * demand_multiplier(window) ** 0.5
    days[~existing] = sample_days(
        rng, cumulative_weights(growth), np.zeros((~existing).sum(), dtype=int), window.days
    )
    seconds = days * SECONDS_PER_DAY + rng.integers(7 * 3600, 23 * 3600, n)
    return np.sort(seconds)


def _favourite_products(
    rng: np.random.Generator,
    catalogue: Catalogue,
    primary_category: np.ndarray,
    persona: np.ndarray,
) -> np.ndarray:
    """A product each person keeps coming back to: a consumable of their primary category where
    there is one, in their persona's price band."""
    favourite = np.empty(len(persona), dtype=np.int64)
    for category in range(len(CATEGORIES)):
        for p in range(len(PERSONAS)):
            who = np.flatnonzero((primary_category == category) & (persona == p))
            products = np.flatnonzero(
                (catalogue.category == category)
                & (catalogue.launch_day <= 0)
                & (catalogue.discontinue_day == NEVER)
            )
            weights = (
                catalogue.popularity[products]
                * BAND_PREFERENCE[p][catalogue.band[products]]
                * np.where(catalogue.repeat_purchase[products], 4, 1)
            )
            favourite[who] = products[col.weighted_choice(rng, weights, len(who))]
    return favourite


def account_managers(rng: np.random.Generator, population: Population) -> np.ndarray:
    """Account manager number (1..) per CRM customer, 0 for none: every business account and
    some of the most active consumers have one."""
    n = population.n_crm
    business = population.business[:n]
    count = max(3, int(np.ceil(business.sum() / 40)))
    rate = population.rate[:n]
    big_consumer = ~business & (rate > np.quantile(rate, 0.985)) & (rng.random(n) < 0.6)
    manager = rng.integers(1, count + 1, n)
    return np.where(business | big_consumer, manager, 0)


def customer_ids(index: np.ndarray, n_crm: int, null: np.ndarray | None = None) -> pa.Array:
    """CRM customer ids (``C0000001`` for index 0), null where ``null`` is true."""
    ids = col.ids("C", np.asarray(index) + 1, col.id_width(n_crm, 7))
    return ids if null is None else col.with_nulls(ids, null)


def crm_phones(rng: np.random.Generator, population: Population) -> pa.Array:
    """Phones as typed into the CRM: mostly plain digits, some with dashes or +86."""
    style = rng.choice(3, population.size, p=[0.8, 0.1, 0.1])
    return col.with_nulls(
        ident.format_phones(population.phone_number, style), ~population.has_phone
    )
