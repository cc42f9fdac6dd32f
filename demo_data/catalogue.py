"""The product catalogue: ~300 products in 8 categories, price bands, consumables, launches,
price changes, discontinuations and the planted co-purchase pairs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import columns as col
from .seasons import Window

PRODUCTS_PER_SUBCATEGORY = 8
BANDS = ("budget", "mid", "premium")
# Positions of the 8 products of a subcategory in the three bands.
BAND_OF_POSITION = np.array([0, 0, 0, 1, 1, 1, 2, 2])

CATEGORY_WEIGHTS: dict[str, float] = {
    "mother_baby": 0.14,
    "beauty": 0.16,
    "apparel": 0.15,
    "electronics": 0.10,
    "home": 0.12,
    "food_drink": 0.17,
    "pet": 0.10,
    "sports": 0.06,
}
CATEGORIES = tuple(CATEGORY_WEIGHTS)

# subcategory: (category, Chinese noun, English noun, lowest and highest list price, consumable)
SUBCATEGORIES: dict[str, tuple[str, str, str, float, float, bool]] = {
    "infant_formula": ("mother_baby", "婴儿配方奶粉", "infant formula", 150, 420, True),
    "diapers": ("mother_baby", "纸尿裤", "diapers", 80, 230, True),
    "baby_wipes": ("mother_baby", "婴儿湿巾", "baby wipes", 20, 70, True),
    "feeding_bottles": ("mother_baby", "奶瓶", "feeding bottle", 60, 260, False),
    "strollers": ("mother_baby", "婴儿推车", "stroller", 500, 3500, False),
    "face_cream": ("beauty", "面霜", "face cream", 80, 900, True),
    "serum": ("beauty", "精华液", "serum", 120, 1000, True),
    "lipstick": ("beauty", "口红", "lipstick", 80, 420, False),
    "shampoo": ("beauty", "洗发水", "shampoo", 30, 160, True),
    "sunscreen": ("beauty", "防晒霜", "sunscreen", 60, 320, True),
    "tshirts": ("apparel", "T恤", "T-shirt", 50, 450, False),
    "jackets": ("apparel", "外套", "jacket", 200, 2000, False),
    "dresses": ("apparel", "连衣裙", "dress", 150, 1200, False),
    "sneakers": ("apparel", "运动鞋", "sneakers", 200, 1200, False),
    "socks": ("apparel", "袜子", "socks", 20, 90, True),
    "phones": ("electronics", "手机", "smartphone", 900, 6500, False),
    "phone_cases": ("electronics", "手机壳", "phone case", 30, 220, False),
    "earbuds": ("electronics", "无线耳机", "wireless earbuds", 100, 1500, False),
    "chargers": ("electronics", "充电器", "charger", 40, 320, False),
    "laptops": ("electronics", "笔记本电脑", "laptop", 2800, 9000, False),
    "bedding": ("home", "四件套", "bedding set", 150, 1000, False),
    "cookware": ("home", "炒锅", "wok", 80, 900, False),
    "storage": ("home", "收纳箱", "storage box", 20, 220, False),
    "cleaning": ("home", "洗衣液", "laundry detergent", 15, 90, True),
    "lamps": ("home", "台灯", "desk lamp", 60, 650, False),
    "coffee_beans": ("food_drink", "咖啡豆", "coffee beans", 50, 320, True),
    "coffee_filters": ("food_drink", "咖啡滤纸", "coffee filters", 15, 60, True),
    "tea": ("food_drink", "茶叶", "tea", 60, 600, True),
    "snacks": ("food_drink", "坚果零食", "snack box", 15, 130, True),
    "rice_oil": ("food_drink", "五常大米", "rice", 30, 160, True),
    "dog_food": ("pet", "狗粮", "dog food", 80, 450, True),
    "dog_treats": ("pet", "狗零食", "dog treats", 20, 130, True),
    "cat_food": ("pet", "猫粮", "cat food", 80, 400, True),
    "cat_litter": ("pet", "猫砂", "cat litter", 30, 130, True),
    "pet_toys": ("pet", "宠物玩具", "pet toy", 15, 160, False),
    "yoga_mats": ("sports", "瑜伽垫", "yoga mat", 50, 420, False),
    "running_gear": ("sports", "跑步腰包", "running belt", 100, 850, False),
    "camping": ("sports", "露营帐篷", "camping tent", 200, 2500, False),
}
SUBCATEGORY_NAMES = tuple(SUBCATEGORIES)
SUBCATEGORY_NOUNS_ZH = tuple(v[1] for v in SUBCATEGORIES.values())
SUBCATEGORY_NOUNS_EN = tuple(v[2] for v in SUBCATEGORIES.values())
PRICE_LEVEL = 0.6
"""Scales the price ranges above so that trailing-12-month spend crosses the silver tier
(10,000) for about a tenth of the customers and gold (20,000) for a few percent."""

# (brand, written in English?) per category; the i-th product of a subcategory takes brand i % 5.
BRANDS: dict[str, tuple[tuple[str, bool], ...]] = {
    "mother_baby": (
        ("安贝", False),
        ("Little Sprout", True),
        ("暖阳宝贝", False),
        ("贝乐", False),
        ("NordBaby", True),
    ),
    "beauty": (
        ("花间集", False),
        ("Lumière Lab", True),
        ("清颜", False),
        ("雪域", False),
        ("Aqua Veil", True),
    ),
    "apparel": (
        ("素衣", False),
        ("Urban Thread", True),
        ("北纬", False),
        ("轻风", False),
        ("Harbor & Co", True),
    ),
    "electronics": (
        ("星驰", False),
        ("Voltix", True),
        ("芯动", False),
        ("小禾", False),
        ("Aurion", True),
    ),
    "home": (
        ("居然", False),
        ("Nordhem", True),
        ("木语", False),
        ("家和", False),
        ("CasaLume", True),
    ),
    "food_drink": (
        ("山野", False),
        ("Bean Theory", True),
        ("茶语", False),
        ("五谷丰", False),
        ("Daily Harvest", True),
    ),
    "pet": (
        ("毛孩子", False),
        ("Happy Paws", True),
        ("汪星人", False),
        ("喵小姐", False),
        ("PetNest", True),
    ),
    "sports": (
        ("行者", False),
        ("Summit Gear", True),
        ("奔跑吧", False),
        ("野径", False),
        ("FlowFit", True),
    ),
}
SERIES_ZH = ("经典款", "家庭装", "轻享版", "升级款", "Plus", "Pro", "旗舰版", "臻选礼盒")
SERIES_EN = ("Classic", "Family Pack", "Lite", "Plus", "Select", "Pro", "Signature", "Reserve")

CO_PURCHASE_RULES: tuple[tuple[str, str], ...] = (
    ("infant_formula", "diapers"),
    ("coffee_beans", "coffee_filters"),
    ("phones", "phone_cases"),
    ("dog_food", "dog_treats"),
)
"""The i-th product of the first subcategory is paired with the i-th of the second."""
PAIR_FORWARD_PROBABILITY = 0.7
PAIR_REVERSE_PROBABILITY = 0.4

NEVER = 10**6
"""Day index standing for "not within any window" (no change, never discontinued)."""


@dataclass(frozen=True)
class Catalogue:
    """One entry per product, indexed 0..n-1; days are window day indexes."""

    product_id: pa.Array
    name: tuple[str, ...]
    category: np.ndarray
    subcategory: np.ndarray
    brand: tuple[str, ...]
    band: np.ndarray
    price_cents: np.ndarray
    new_price_cents: np.ndarray
    price_change_day: np.ndarray
    launch_day: np.ndarray
    discontinue_day: np.ndarray
    repeat_purchase: np.ndarray
    popularity: np.ndarray
    substitute: np.ndarray
    """An always-sold product of the same subcategory, used when a product is not on sale."""
    companion: np.ndarray
    """The planted co-purchase partner of a product, or -1."""
    companion_probability: np.ndarray

    @property
    def size(self) -> int:
        return len(self.name)

    def available(self, product: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (self.launch_day[product] <= day) & (day < self.discontinue_day[product])

    def price_at(self, product: np.ndarray, day: np.ndarray) -> np.ndarray:
        changed = day >= self.price_change_day[product]
        return np.where(changed, self.new_price_cents[product], self.price_cents[product])


def build_catalogue(rng: np.random.Generator, window: Window) -> Catalogue:
    """The catalogue, with about 6% of products launched and 6% discontinued in the window."""
    names: list[str] = []
    brands: list[str] = []
    category, subcategory, positions = [], [], []
    for s, (cat, noun_zh, noun_en, *_) in enumerate(SUBCATEGORIES.values()):
        for i in range(PRODUCTS_PER_SUBCATEGORY):
            brand, english = BRANDS[cat][i % len(BRANDS[cat])]
            names.append(
                f"{brand} {noun_en} {SERIES_EN[i]}"
                if english
                else f"{brand} {noun_zh} {SERIES_ZH[i]}"
            )
            brands.append(brand)
            category.append(CATEGORIES.index(cat))
            subcategory.append(s)
            positions.append(i)
    n = len(names)
    sub = np.array(subcategory)
    position = np.array(positions)
    band = BAND_OF_POSITION[position]

    low = np.array([SUBCATEGORIES[SUBCATEGORY_NAMES[s]][3] for s in sub])
    high = np.array([SUBCATEGORIES[SUBCATEGORY_NAMES[s]][4] for s in sub])
    log_span = np.log(high / low)
    log_price = np.log(low * PRICE_LEVEL) + log_span * (band + rng.random(n)) / 3
    price_cents = np.round(np.exp(log_price)).astype(np.int64) * 100 - 10

    # Zipf popularity within each subcategory, in a random order.
    ranks = np.tile(np.arange(PRODUCTS_PER_SUBCATEGORY), (len(SUBCATEGORIES), 1))
    popularity = 1.0 / (1 + rng.permuted(ranks, axis=1).ravel()) ** 0.8

    companion = np.full(n, -1)
    companion_probability = np.zeros(n)
    paired = np.zeros(n, dtype=bool)
    for anchor, partner in CO_PURCHASE_RULES:
        a = np.flatnonzero(sub == SUBCATEGORY_NAMES.index(anchor))
        b = np.flatnonzero(sub == SUBCATEGORY_NAMES.index(partner))
        companion[a], companion[b] = b, a
        companion_probability[a] = PAIR_FORWARD_PROBABILITY
        companion_probability[b] = PAIR_REVERSE_PROBABILITY
        paired[a] = paired[b] = True

    # Per subcategory at most one late launch, one discontinuation and one price change, never
    # on paired products, so every subcategory keeps always-sold products to substitute with.
    launch_day = -rng.integers(30, 1500, n)
    discontinue_day = np.full(n, NEVER)
    price_change_day = np.full(n, NEVER)
    new_price_cents = price_cents.copy()
    substitute = np.arange(n)
    # Windows shorter than ten days keep the catalogue unchanged.
    for s in range(len(SUBCATEGORIES) if window.days >= 10 else 0):
        members = np.flatnonzero(sub == s)
        if paired[members].any():
            continue
        launched, dropped, repriced, keeper = rng.choice(members, 4, replace=False)
        if rng.random() < 0.5:
            launch_day[launched] = rng.integers(window.days // 10, window.days * 4 // 5)
            substitute[launched] = keeper
        if rng.random() < 0.5:
            discontinue_day[dropped] = rng.integers(window.days // 3, window.days - 1)
            substitute[dropped] = keeper
        if rng.random() < 0.7:
            price_change_day[repriced] = rng.integers(window.days // 4, window.days * 3 // 4)
            factor = rng.uniform(0.85, 1.15)
            new_price_cents[repriced] = np.round(price_cents[repriced] * factor / 100) * 100 - 10

    repeat = np.array([SUBCATEGORIES[SUBCATEGORY_NAMES[s]][5] for s in sub])
    return Catalogue(
        product_id=col.ids("SKU", np.arange(1, n + 1), 5),
        name=tuple(names),
        category=np.array(category),
        subcategory=sub,
        brand=tuple(brands),
        band=band,
        price_cents=price_cents,
        new_price_cents=new_price_cents,
        price_change_day=price_change_day,
        launch_day=launch_day,
        discontinue_day=discontinue_day,
        repeat_purchase=repeat,
        popularity=popularity,
        substitute=substitute,
        companion=companion,
        companion_probability=companion_probability,
    )


def product_deliveries(rng: np.random.Generator, catalogue: Catalogue, window: Window) -> pa.Table:
    """Catalogue rows per delivery day: the whole catalogue on day 0, then launches, price
    changes and discontinuations on their days. Carries the delivery day in ``_day``."""
    c = catalogue
    on_sale = c.launch_day <= 0
    rows = [
        (np.flatnonzero(on_sale), np.zeros(on_sale.sum(), dtype=int), 0),
        (np.flatnonzero(~on_sale), c.launch_day[~on_sale], 0),
    ]
    repriced = np.flatnonzero(c.price_change_day < window.days)
    rows.append((repriced, c.price_change_day[repriced], 1))
    dropped = np.flatnonzero(c.discontinue_day < window.days)
    rows.append((dropped, c.discontinue_day[dropped], 2))
    product = np.concatenate([r[0] for r in rows])
    day = np.concatenate([r[1] for r in rows]).astype(np.int64)
    kind = np.concatenate([np.full(len(r[0]), r[2]) for r in rows])
    order = np.lexsort((product, day))
    product, day, kind = product[order], day[order], kind[order]

    seconds = day * 86_400 + rng.integers(3600, 6 * 3600, len(day))
    price = c.price_at(product, day)
    return pa.table(
        {
            "product_id": c.product_id.take(pa.array(product)),
            "product_name": col.pick(c.name, product),
            "category": col.pick(CATEGORIES, c.category[product]),
            "subcategory": col.pick(SUBCATEGORY_NAMES, c.subcategory[product]),
            "brand": col.pick(c.brand, product),
            "price_band": col.pick(BANDS, c.band[product]),
            "list_price": col.money(price),
            "is_repeat_purchase": col.booleans(c.repeat_purchase[product]),
            "status": col.pick(("active", "discontinued"), (kind == 2).astype(int)),
            "launched_on": col.dates(c.launch_day[product], window),
            "updated_at": col.timestamps(seconds, window),
            "_day": col.integers(day),
        }
    )


def co_purchase_truth(catalogue: Catalogue) -> pa.Table:
    """The planted pairs: when ``product_a`` is bought, ``product_b`` is added with
    ``probability`` (and the reverse with the reverse probability)."""
    first = [SUBCATEGORY_NAMES.index(anchor) for anchor, _ in CO_PURCHASE_RULES]
    anchors = np.flatnonzero(np.isin(catalogue.subcategory, first))
    partners = catalogue.companion[anchors]
    return pa.table(
        {
            "product_a": catalogue.product_id.take(pa.array(anchors)),
            "product_b": catalogue.product_id.take(pa.array(partners)),
            "subcategory_a": col.pick(SUBCATEGORY_NAMES, catalogue.subcategory[anchors]),
            "subcategory_b": col.pick(SUBCATEGORY_NAMES, catalogue.subcategory[partners]),
            "probability_a_adds_b": np.full(len(anchors), PAIR_FORWARD_PROBABILITY),
            "probability_b_adds_a": np.full(len(anchors), PAIR_REVERSE_PROBABILITY),
        }
    )
