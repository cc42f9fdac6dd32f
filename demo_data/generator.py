"""The entry point: generate every source's daily deliveries for a window of days, plus the
ground truth, deterministically from one seed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import columns as col
from .campaigns import CampaignPlanter
from .catalogue import CATEGORIES, build_catalogue, co_purchase_truth, product_deliveries
from .consent import plant_consent, write_erasure_requests
from .crm import contact_deliveries, customer_deliveries
from .customers import PERSONAS, Population, customer_ids, draw_population
from .purchases import (
    guest_contacts,
    line_deliveries,
    order_deliveries,
    order_ids,
    repeat_budget,
    simulate_orders,
)
from .seasons import Window
from .service import (
    churn_after_complaints,
    simulate_tickets,
    survey_answers,
    ticket_deliveries,
)
from .social import post_deliveries, simulate_posts
from .texts import SENTIMENT, THEMES
from .writer import clear_output, write_landing, write_truth


def _yesterday() -> date:
    return date.today() - timedelta(days=1)


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate: ``customers`` CRM customers over the ``days`` delivery days that end
    on ``end_date`` (inclusive), into the landing folder ``out``."""

    out: Path
    customers: int = 5000
    days: int = 730
    end_date: date = field(default_factory=_yesterday)
    seed: int = 42

    @property
    def first_date(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)


@dataclass
class GenerationSummary:
    """What a generation run wrote."""

    out: Path
    first_date: date
    last_date: date
    customers: int
    orders: int
    """Distinct orders (the orders file also re-delivers changed orders)."""
    rows: dict[str, int]
    """Rows written per ``source/entity``."""
    files: int
    seconds: float
    truth_files: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        width = max(len(k) for k in self.rows) if self.rows else 0
        lines = [
            f"Generated {self.customers:,} customers and {self.orders:,} orders, "
            f"{self.first_date} .. {self.last_date}, into {self.out}",
            *(f"  {name:<{width}}  {count:>12,}" for name, count in self.rows.items()),
            f"  {self.files:,} files in {self.seconds:,.1f} s; ground truth in "
            f"{self.out / '_truth'}",
        ]
        return "\n".join(lines)


def generate(
    config: GeneratorConfig, progress: Callable[[str], None] | None = None
) -> GenerationSummary:
    """Write the demo landing data for ``config`` and return what was written.

    The same config gives byte-identical files; a previous run's source folders and truth in
    ``config.out`` are replaced. ``progress`` receives short messages for a command line.
    """
    if config.customers < 1 or config.days < 1:
        raise ValueError(
            f"need at least 1 customer and 1 day, got {config.customers} "
            f"customers and {config.days} days"
        )
    started = time.perf_counter()
    clear_output(config.out)
    say = progress or (lambda _message: None)
    window = Window(config.first_date, config.days)
    rngs = iter(np.random.default_rng(config.seed).spawn(12))

    catalogue = build_catalogue(next(rngs), window)
    say(f"catalogue: {catalogue.size:,} products")
    population = draw_population(next(rngs), config.customers, window, catalogue)
    say(f"customers: {population.n_crm:,} ({int(population.business.sum()):,} business)")

    campaigns = CampaignPlanter(config.seed, population, window)
    orders, lines = simulate_orders(next(rngs), population, catalogue, window, campaigns.plant)
    tickets = simulate_tickets(next(rngs), orders, population, window)
    stop = churn_after_complaints(next(rngs), tickets, orders, population)
    kept = orders["second"].to_numpy() <= stop[orders["person"].to_numpy()]
    orders = orders[kept]
    lines = lines[kept[lines["order"].to_numpy()]]
    tickets = tickets[
        (tickets["order"] < 0) | kept[np.maximum(tickets["order"].to_numpy(), 0)]
    ].reset_index(drop=True)
    guests = guest_contacts(next(rngs), orders, population)
    say(f"orders: {len(orders):,} ({len(guests):,} guest checkouts), order lines: {len(lines):,}")

    rng = next(rngs)
    customers_table, opt_out_at = customer_deliveries(rng, population, orders, window)
    contacts = contact_deliveries(rng, population, window)
    buyers = orders["person"].to_numpy()[~orders["guest"].to_numpy()]
    customers_table, consent_truth, erasure_requests = plant_consent(
        config.seed, customers_table, buyers, population.business[: population.n_crm], window
    )
    rng = next(rngs)
    tickets_table, ticket_id, linked = ticket_deliveries(
        rng, tickets, guests, population, catalogue, lines, window
    )
    surveys = survey_answers(rng, tickets, ticket_id, linked, population, window)
    say(f"tickets: {len(tickets):,}, survey answers: {surveys.num_rows:,}")
    rng = next(rngs)
    posts = simulate_posts(rng, orders, lines, tickets, population, catalogue, window)
    posts_table, post_id = post_deliveries(rng, posts, population, catalogue, window)
    say(f"social posts: {len(posts):,}")
    order_rng, product_rng = next(rngs), next(rngs)

    tables = {
        ("crm", "customers"): lambda: customers_table,
        ("crm", "contacts"): lambda: contacts,
        ("orders", "orders"): lambda: order_deliveries(
            order_rng, orders, guests, population, window
        ),
        ("orders", "order_lines"): lambda: line_deliveries(lines, orders, catalogue, window),
        ("orders", "products"): lambda: product_deliveries(product_rng, catalogue, window),
        ("service", "tickets"): lambda: tickets_table,
        ("service", "surveys"): lambda: surveys,
        ("social", "posts"): lambda: posts_table,
        ("campaigns", "members"): campaigns.deliveries,
    }
    truth = {
        "customers": _customer_truth(population, orders, stop, opt_out_at, catalogue, window),
        "co_purchase_pairs": co_purchase_truth(catalogue),
        "guest_orders": _guest_truth(guests, population),
        "tickets": _ticket_truth(tickets, ticket_id, stop, population),
        "posts": _post_truth(posts, post_id, population),
        "consent": consent_truth,
        "campaigns": campaigns.truth(orders),
    }
    say("writing files ...")
    write_truth(config.out, truth)
    write_erasure_requests(config.out, erasure_requests)
    rows, files = write_landing(config.out, tables, window)
    summary = GenerationSummary(
        out=config.out,
        first_date=window.first,
        last_date=window.last,
        customers=population.n_crm,
        orders=len(orders),
        rows=rows,
        files=files,
        seconds=time.perf_counter() - started,
        truth_files=[f"{name}.parquet" for name in truth],
    )
    say(f"wrote {files:,} files in {summary.seconds:,.1f} s")
    return summary


def _customer_truth(
    population: Population,
    orders,
    stop: np.ndarray,
    opt_out_at: np.ndarray,
    catalogue,
    window: Window,
) -> pa.Table:
    n = population.n_crm
    allowed = repeat_budget(population)[:n]
    simulated = np.bincount(orders["person"].to_numpy(), minlength=population.size)[:n]
    churned = stop[:n] < window.end_second
    dropped_out = (simulated >= allowed) | (allowed <= 0)
    return pa.table(
        {
            "customer_id": customer_ids(np.arange(n), n),
            "persona": col.pick(PERSONAS, population.persona[:n]),
            "is_business": population.business[:n],
            "signup_date": col.dates(population.signup_day[:n], window),
            "purchase_rate_per_day": population.rate[:n],
            "dropout_probability": population.dropout[:n],
            "repeats_allowed": population.repeats_allowed[:n],
            "dropped_out": dropped_out & ~churned,
            "churned_after_complaint": churned,
            "churned_after_complaint_at": col.timestamps(
                np.where(churned, stop[:n], 0), window, ~churned
            ),
            "opted_out_at": col.timestamps(opt_out_at, window, opt_out_at < 0),
            "primary_category": col.pick(CATEGORIES, population.primary_category[:n]),
            "favourite_product_id": catalogue.product_id.take(
                pa.array(population.favourite_product[:n])
            ),
            "orders_in_window": simulated,
        }
    )


def _guest_truth(guests, population: Population) -> pa.Table:
    owner = guests["owner"].to_numpy()
    return pa.table(
        {
            "order_id": order_ids(guests["order"].to_numpy()),
            "customer_id": customer_ids(np.maximum(owner, 0), population.n_crm, owner < 0),
            "matchable": guests["matchable"].to_numpy(),
        }
    )


def _ticket_truth(
    tickets, ticket_id: pa.Array, stop: np.ndarray, population: Population
) -> pa.Table:
    person = tickets["person"].to_numpy()
    opened = tickets["opened"].to_numpy()
    return pa.table(
        {
            "ticket_id": ticket_id,
            "customer_id": customer_ids(person, population.n_crm, ~population.in_crm[person]),
            "bad_handling": tickets["bad_handling"].to_numpy(),
            "triggered_churn": stop[person] == opened,
        }
    )


def _post_truth(posts, post_id: pa.Array, population: Population) -> pa.Table:
    person = posts["person"].to_numpy()
    theme = posts["theme"].to_numpy()
    known = (person >= 0) & population.in_crm[np.maximum(person, 0)]
    return pa.table(
        {
            "post_id": post_id,
            "customer_id": customer_ids(np.maximum(person, 0), population.n_crm, ~known),
            "theme": col.pick(THEMES, theme),
            "sentiment": SENTIMENT[theme],
        }
    )
