"""Social listening: shop reviews of ordered products, WeChat / Xiaohongshu / Weibo posts about
purchases and complaints, and mentions by strangers. The theme of a text (and so its
sentiment and rating) follows what happened to the author's order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as col
from . import identities as ident
from . import texts
from .catalogue import SUBCATEGORY_NOUNS_EN, SUBCATEGORY_NOUNS_ZH, Catalogue
from .customers import PERSONAS, Population, customer_ids
from .seasons import SECONDS_PER_DAY, Window

PLATFORMS = ("wechat", "xiaohongshu", "weibo", "review")
REVIEW = PLATFORMS.index("review")
POST_TYPES = ("post", "comment", "review", "mention")
THEME = {name: i for i, name in enumerate(texts.THEMES)}
# Star ratings by theme: (lowest, highest), drawn uniformly.
RATING_RANGE = {
    "praise": (4, 5),
    "value": (4, 5),
    "quality_but_expensive": (3, 4),
    "cheap_feel": (2, 3),
    "delivery_delay": (2, 3),
    "quality_bad": (1, 2),
    "bad_service": (1, 1),
    "neutral": (3, 4),
}
REVIEW_SHARE = 0.10
SOCIAL_POST_SHARE = 0.15
COMPLAINT_POST_SHARE = 0.35
LINKED_SHARE = np.array([0.5, 0.15, 0.15])
"""Share of WeChat, Xiaohongshu and Weibo posts the platform links to a CRM customer."""


def order_experience(tickets: pd.DataFrame, n_orders: int) -> tuple[np.ndarray, np.ndarray]:
    """Per order number: the complaint category (-1 when none) and whether it was handled
    badly."""
    category = np.full(n_orders, -1)
    bad = np.zeros(n_orders, dtype=bool)
    complaints = tickets[tickets["is_complaint"] & (tickets["order"] >= 0)]
    order = complaints["order"].to_numpy()
    category[order] = complaints["category"].to_numpy()
    bad[order] = complaints["bad_handling"].to_numpy()
    return category, bad


def _themes(
    rng: np.random.Generator,
    persona: np.ndarray,
    band: np.ndarray,
    complaint: np.ndarray,
    bad: np.ndarray,
) -> np.ndarray:
    """Theme per text from the order's experience, persona and the product's price band."""
    n = len(persona)
    u = rng.random(n)
    price_sensitive = persona == PERSONAS.index("price_sensitive")
    quality_seeking = persona == PERSONAS.index("quality_seeking")
    return np.select(
        [
            bad,
            complaint == 0,
            complaint > 0,
            price_sensitive & (band == 2) & (u < 0.7),
            quality_seeking & (band == 0) & (u < 0.6),
            price_sensitive & (band == 0) & (u < 0.5),
            (band == 2) & (u < 0.15),
        ],
        [
            THEME["bad_service"],
            THEME["delivery_delay"],
            THEME["quality_bad"],
            THEME["quality_but_expensive"],
            THEME["cheap_feel"],
            THEME["value"],
            THEME["quality_but_expensive"],
        ],
        THEME["praise"],
    )


def _random_line(rng: np.random.Generator, lines: pd.DataFrame, order: np.ndarray) -> np.ndarray:
    """The product of one random line of each order."""
    line_order = lines["order"].to_numpy()
    start = np.searchsorted(line_order, order)
    count = np.searchsorted(line_order, order, side="right") - start
    pick = start + (rng.random(len(order)) * count).astype(np.int64)
    return lines["product"].to_numpy()[pick]


def simulate_posts(
    rng: np.random.Generator,
    orders: pd.DataFrame,
    lines: pd.DataFrame,
    tickets: pd.DataFrame,
    population: Population,
    catalogue: Catalogue,
    window: Window,
) -> pd.DataFrame:
    """Posts as a frame: person (-1 stranger), platform, post_type, product (-1 none), second,
    theme, linked (customer_id given)."""
    p = population
    number = orders.index.to_numpy()
    person = orders["person"].to_numpy()
    category, bad = order_experience(tickets, int(number.max()) + 1 if len(number) else 0)
    after_delivery = orders["second"].to_numpy() + orders["ship_delay"].to_numpy() * (
        SECONDS_PER_DAY
    )
    sold = ~orders["cancelled"].to_numpy()

    # Reviews in the shop: registered customers, ordered products.
    r = np.flatnonzero(
        sold
        & ~orders["guest"].to_numpy()
        & p.in_crm[person]
        & (rng.random(len(number)) < REVIEW_SHARE)
    )
    review_product = _random_line(rng, lines, number[r])
    # Posts about a purchase, by people active on social media.
    s = np.flatnonzero(
        sold & p.social_active[person] & (rng.random(len(number)) < SOCIAL_POST_SHARE)
    )
    social_product = _random_line(rng, lines, number[s])
    parts = [
        pd.DataFrame(
            {
                "person": person[r],
                "platform": REVIEW,
                "post_type": POST_TYPES.index("review"),
                "product": review_product,
                "second": after_delivery[r]
                + rng.integers(SECONDS_PER_DAY, 10 * SECONDS_PER_DAY, len(r)),
                "theme": _themes(
                    rng,
                    p.persona[person[r]],
                    catalogue.band[review_product],
                    category[number[r]],
                    bad[number[r]],
                ),
            }
        ),
        pd.DataFrame(
            {
                "person": person[s],
                "platform": _platform_of(rng, p, person[s]),
                "post_type": np.where(rng.random(len(s)) < 0.7, 0, 1),
                "product": social_product,
                "second": after_delivery[s]
                + rng.integers(SECONDS_PER_DAY, 20 * SECONDS_PER_DAY, len(s)),
                "theme": _themes(
                    rng,
                    p.persona[person[s]],
                    catalogue.band[social_product],
                    category[number[s]],
                    bad[number[s]],
                ),
            }
        ),
        _complaint_posts(rng, tickets, p, lines),
        _stranger_mentions(rng, p, catalogue, window),
    ]
    posts = pd.concat(parts, ignore_index=True)
    posts = posts[posts["second"] < window.end_second]
    return posts.sort_values(["second", "person"], kind="stable").reset_index(drop=True)


def _platform_of(
    rng: np.random.Generator, population: Population, person: np.ndarray
) -> np.ndarray:
    """One of the platforms each person has an account on."""
    accounts = population.platforms[person]
    score = rng.random(accounts.shape) * accounts
    return score.argmax(axis=1)


def _complaint_posts(
    rng: np.random.Generator, tickets: pd.DataFrame, population: Population, lines: pd.DataFrame
) -> pd.DataFrame:
    """Angry posts by social-media users shortly after they complained."""
    person = tickets["person"].to_numpy()
    chosen = np.flatnonzero(
        tickets["is_complaint"].to_numpy()
        & (tickets["order"] >= 0)
        & population.social_active[person]
        & (rng.random(len(tickets)) < COMPLAINT_POST_SHARE)
    )
    who = person[chosen]
    category = tickets["category"].to_numpy()[chosen]
    theme = np.where(
        tickets["bad_handling"].to_numpy()[chosen],
        THEME["bad_service"],
        np.where(category == 0, THEME["delivery_delay"], THEME["quality_bad"]),
    )
    return pd.DataFrame(
        {
            "person": who,
            "platform": _platform_of(rng, population, who),
            "post_type": POST_TYPES.index("post"),
            "product": _random_line(rng, lines, tickets["order"].to_numpy()[chosen]),
            "second": tickets["opened"].to_numpy()[chosen]
            + rng.integers(600, 3 * SECONDS_PER_DAY, len(chosen)),
            "theme": theme,
        }
    )


def _stranger_mentions(
    rng: np.random.Generator, population: Population, catalogue: Catalogue, window: Window
) -> pd.DataFrame:
    """Mentions by people the shop does not know, about a product or the shop itself."""
    n = int(0.06 * population.n_crm)
    with_product = rng.random(n) < 0.5
    product = np.where(with_product, col.weighted_choice(rng, catalogue.popularity, n), -1)
    return pd.DataFrame(
        {
            "person": -1,
            "platform": rng.integers(0, 3, n),
            "post_type": POST_TYPES.index("mention"),
            "product": product,
            "second": rng.integers(0, window.end_second, n),
            "theme": col.weighted_choice(rng, (0.35, 0.1, 0.15, 0.05, 0.1, 0.1, 0.05, 0.1), n),
        }
    )


def post_deliveries(
    rng: np.random.Generator,
    posts: pd.DataFrame,
    population: Population,
    catalogue: Catalogue,
    window: Window,
) -> tuple[pa.Table, pa.Array]:
    """Post rows per delivery (publication) day, and the post ids."""
    p = population
    n = len(posts)
    person = posts["person"].to_numpy()
    known = person >= 0
    who = np.maximum(person, 0)
    platform = posts["platform"].to_numpy()
    product = posts["product"].to_numpy()
    theme = posts["theme"].to_numpy()
    is_review = platform == REVIEW

    linked = (
        known
        & p.in_crm[who]
        & (is_review | (rng.random(n) < LINKED_SHARE[np.minimum(platform, 2)]))
    )
    stranger_names = ident.person_names(rng, rng.random(n) < 0.6, rng.random(n) < 0.1)[1]
    stranger = col.concat(
        pc.replace_substring(stranger_names, ".", "_"),
        pc.cast(pa.array(rng.integers(10, 100_000, n)), pa.string()),
    )
    own = p.handle.take(pa.array(who))
    handle = pc.if_else(
        pa.array(known),
        pc.if_else(pa.array(is_review), own, ident.handle_variants(rng, own)),
        stranger,
    )

    english = np.where(known, p.english[who], False)
    language = (rng.random(n) < np.where(english, 0.75, np.where(known, 0.08, 0.2))).astype(
        np.int64
    )
    subcategory = catalogue.subcategory[np.maximum(product, 0)]
    noun = pc.if_else(
        pa.array(language == texts.EN),
        col.pick(SUBCATEGORY_NOUNS_EN, subcategory),
        col.pick(SUBCATEGORY_NOUNS_ZH, subcategory),
    )
    noun = pc.if_else(
        pa.array(product < 0),
        pc.if_else(pa.array(language == texts.EN), pa.scalar("this shop"), pa.scalar("这家店")),
        noun,
    )
    text = texts.post_texts(rng, theme, language, noun)

    low = np.array([RATING_RANGE[t][0] for t in texts.THEMES])[theme]
    high = np.array([RATING_RANGE[t][1] for t in texts.THEMES])[theme]
    rating = low + (rng.random(n) * (high - low + 1)).astype(np.int64)
    likes = np.where(
        is_review,
        rng.geometric(0.35, n) - 1,
        np.floor(rng.lognormal(1.5, 1.3, n) * np.where(platform == 1, 2, 1)),
    )
    second = posts["second"].to_numpy()
    post_id = col.ids("M", np.arange(1, n + 1), col.id_width(n, 9))
    table = pa.table(
        {
            "post_id": post_id,
            "platform": col.pick(PLATFORMS, platform),
            "post_type": col.pick(POST_TYPES, posts["post_type"].to_numpy()),
            "author_handle": handle,
            "customer_id": customer_ids(who, p.n_crm, ~linked),
            "product_id": catalogue.product_id.take(
                pa.array(np.maximum(product, 0), mask=product < 0)
            ),
            "posted_at": col.timestamps(second, window),
            "language": col.pick(texts.LANGUAGES, language),
            "text": text,
            "rating": col.integers(rating, ~is_review),
            "likes": col.integers(likes),
            "_day": col.integers(second // SECONDS_PER_DAY),
        }
    )
    return table, post_id
