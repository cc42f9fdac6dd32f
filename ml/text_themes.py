"""Recurring themes of what customers write, named in words, from a documented phrase lexicon.

A theme is a complaint (delivery delay, too expensive, ...) or praise (good value, ...). Texts
in Chinese and English are matched against each theme's phrases, so the same theme keeps its
name and meaning from month to month (a clustering would rename and reshuffle its clusters
whenever the data changes). Extend the phrases when the figure ``negative_texts_with_theme``
of the sentiment model drops: negative texts that name no theme are complaints nobody counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class Theme:
    name: str
    kind: str
    """complaint or praise"""
    phrases: tuple[str, ...]
    """Regular expressions (case is ignored), Chinese and English."""


THEMES: tuple[Theme, ...] = (
    Theme(
        "delivery delay",
        "complaint",
        (
            "物流", "快递", "才到", "还没到", "没收到", "没发货", "拖了", "次日达", "没更新",
            "发货慢", "配送慢",
            r"delivery is (so )?slow", "slow delivery", "terrible delivery", r"\blate\b",
            "not shipped", "waited", "still waiting", "tracking", "nothing yet",
        ),
    ),
    Theme(
        "poor quality",
        "complaint",
        (
            "质量太差", "质量差", "质量很差", "坏了", "破损", "瑕疵", "收到就有问题", "描述不符",
            "做工差",
            r"\bbroke\b", "broken", "damaged", "stopped working", "poor quality",
            "not as described", "defect",
        ),
    ),
    Theme(
        "feels cheap",
        "complaint",
        (
            "廉价", "做工一般", "一分钱一分货", "和图片不", "feels cheap", "looks cheap",
            "look like the photos",
        ),
    ),
    Theme(
        "too expensive",
        "complaint",
        (
            "太贵", "价格有点高", "价格高", "有点贵", "不打折", "贵了",
            "expensive", "pricey", "overpriced", "hate the price", "only on sale",
        ),
    ),
    Theme(
        "poor service",
        "complaint",
        (
            "不回复", "没人管", "售后太差", "推来推去", "态度差", "没有解决", "没解决", "处理太慢",
            "nobody answered", "after-sales", "ignored", "rude", "not solved", "far too slow",
        ),
    ),
    Theme(
        "wrong item",
        "complaint",
        ("发错", "尺码都不对", "颜色和尺码", "wrong item", "wrong size", "not the .* i ordered"),
    ),
    Theme(
        "refund or return",
        "complaint",
        ("退款", "退货", "换货", "寄回", "refund", "replacement", "returning", r"\breturn\b"),
    ),
    Theme(
        "billing problem",
        "complaint",
        ("优惠券", "发票", "多付", "抵扣", "coupon", "invoice", "overcharged"),
    ),
    Theme(
        "account or address",
        "complaint",
        ("登录", "账号", "收货地址", "积分", "log in", "account", "address", "points"),
    ),
    Theme(
        "out of stock",
        "complaint",
        ("有货", "缺货", "补货", "in stock", "out of stock", "sold out"),
    ),
    Theme(
        "praise",
        "praise",
        (
            "很好用", "回购", "推荐", "好评", "超出预期", "一如既往", "都说好", "很满意",
            "非常满意",
            "buy again", "excellent", "works great", "really happy", "great quality",
            "very satisfied",
        ),
    ),
    Theme(
        "good value",
        "praise",
        (
            "性价比", "划算", "便宜又好用", "值了", "囤了",
            "great value", "good value", "so cheap", "for the price", "stocked up",
        ),
    ),
    Theme(
        "fast delivery",
        "praise",
        ("发货也快", "发货快", "到货快", "fast delivery", "quick delivery", "arrived quickly"),
    ),
    Theme(
        "good service",
        "praise",
        (
            "客服态度很好", "客服很专业", "处理很及时", "very professional", "quick and helpful",
            "helpful support",
        ),
    ),
)  # fmt: skip
COMPLAINT_THEMES = tuple(t.name for t in THEMES if t.kind == "complaint")
PRAISE_THEMES = tuple(t.name for t in THEMES if t.kind == "praise")


def theme_matrix(
    texts: pa.Array | list[str | None], themes: tuple[Theme, ...] = THEMES
) -> np.ndarray:
    """A boolean matrix: row i, column j is true when text i names theme j."""
    array = pa.array(texts, pa.string()) if not isinstance(texts, pa.Array) else texts
    columns = [
        pc.fill_null(
            pc.match_substring_regex(array, "|".join(t.phrases), ignore_case=True), False
        ).to_numpy(zero_copy_only=False)
        for t in themes
    ]
    return np.column_stack(columns) if columns else np.zeros((len(array), 0), dtype=bool)


def theme_lists(matrix: np.ndarray, names: tuple[str, ...]) -> pa.ListArray:
    """Per row of ``matrix`` (columns in the order of ``names``), the list of the names of its
    true columns (empty when none)."""
    rows, columns = np.nonzero(matrix)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(matrix)))])
    values = pa.array(np.asarray(names, dtype=object)[columns] if len(names) else [], pa.string())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
