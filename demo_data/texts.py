"""Text templates in Chinese and English: social posts and reviews by theme, ticket descriptions
by category, survey comments by score. ``{p}`` stands for the product noun."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import columns as col

ZH, EN = 0, 1
LANGUAGES = ("zh", "en")

# theme: (sentiment -1/0/1, Chinese templates, English templates)
POST_THEMES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "praise": (
        1,
        (
            "这个{p}真的很好用，已经回购了！",
            "{p}质量很好，包装也很用心，推荐",
            "第二次买{p}了，一如既往的好",
            "客服态度很好，{p}发货也快，五星好评",
            "{p}超出预期，家里人都说好",
        ),
        (
            "Really happy with the {p}, will buy again!",
            "Great quality {p}, nicely packed.",
            "Second time buying this {p}, still excellent.",
            "Fast delivery and the {p} works great.",
        ),
    ),
    "value": (
        1,
        (
            "{p}性价比很高，活动价入手太划算了",
            "趁大促囤了{p}，便宜又好用",
            "这个价格买到{p}，值了",
        ),
        (
            "Great value {p}, got it on sale.",
            "Stocked up on {p} during the promotion, so cheap.",
            "Good {p} for the price.",
        ),
    ),
    "quality_but_expensive": (
        0,
        (
            "{p}质量很好但是太贵了",
            "{p}确实好用，就是价格有点高",
            "{p}品质没得说，可惜不打折",
            "质量很好但是太贵了，等活动再买{p}",
        ),
        (
            "Good quality but expensive, the {p} is worth it only on sale.",
            "The {p} is great but too pricey.",
            "Love the {p}, hate the price.",
        ),
    ),
    "cheap_feel": (
        -1,
        (
            "{p}便宜是便宜，但做工一般",
            "{p}用了几次就坏了，一分钱一分货",
            "{p}感觉有点廉价，和图片不太一样",
        ),
        (
            "The {p} is cheap and it feels cheap.",
            "The {p} broke after a few uses.",
            "The {p} does not look like the photos.",
        ),
    ),
    "delivery_delay": (
        -1,
        (
            "{p}等了一个星期才到，物流太慢了",
            "说好两天发货，{p}拖了好几天",
            "快递太慢了，{p}到现在还没收到",
        ),
        (
            "Waited a week for the {p}, delivery is so slow.",
            "The {p} was shipped days late.",
            "Still waiting for my {p}, terrible delivery.",
        ),
    ),
    "quality_bad": (
        -1,
        (
            "{p}质量太差了，收到就有问题",
            "买的{p}有瑕疵，非常失望",
            "{p}用了两天就坏了，要求退货",
        ),
        (
            "The {p} arrived damaged, very disappointed.",
            "Poor quality {p}, returning it.",
            "The {p} stopped working after two days.",
        ),
    ),
    "bad_service": (
        -1,
        (
            "投诉了{p}的问题，客服好几天都不回复，再也不买了",
            "{p}出了问题没人管，售后太差",
            "客服推来推去，{p}的问题一直没解决，失望",
        ),
        (
            "Complained about the {p} and nobody answered for days. Never again.",
            "Terrible after-sales service for the {p}.",
            "Customer service ignored my {p} complaint, I am done with this shop.",
        ),
    ),
    "neutral": (
        0,
        (
            "有人用过{p}吗？求推荐",
            "{p}到了，还没开始用",
            "今天逛了一下{p}专区",
        ),
        (
            "Anyone tried this {p}?",
            "The {p} arrived, will report back.",
            "Browsing {p} deals today.",
        ),
    ),
}
THEMES = tuple(POST_THEMES)
SENTIMENT = np.array([v[0] for v in POST_THEMES.values()])

TICKET_TEXTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "delivery_delay": (
        (
            "订单已经过了三天还没发货，请尽快处理",
            "物流信息好几天没更新了",
            "说好的次日达，到现在还没到",
        ),
        (
            "My order still has not shipped after three days.",
            "The tracking has not updated for days.",
            "Next-day delivery, but nothing yet.",
        ),
    ),
    "product_quality": (
        ("收到的{p}有破损", "{p}用了两天就坏了，要求换货", "{p}和描述不符，质量很差"),
        (
            "The {p} arrived broken.",
            "The {p} stopped working, I want a replacement.",
            "The {p} is not as described.",
        ),
    ),
    "wrong_item": (
        ("发错货了，我买的不是这个{p}", "收到的{p}颜色和尺码都不对"),
        ("Wrong item: this is not the {p} I ordered.", "The {p} came in the wrong size."),
    ),
    "refund_request": (
        ("申请退款，{p}不想要了", "退货已经寄回，退款什么时候到账？"),
        ("I want a refund for the {p}.", "I sent the {p} back, where is my refund?"),
    ),
    "billing": (
        ("优惠券没有抵扣，多付了钱", "发票抬头开错了，请重开"),
        ("My coupon was not applied.", "The invoice has the wrong company name."),
    ),
    "inquiry": (
        ("请问{p}什么时候有货？", "{p}支持七天无理由退货吗？", "会员积分怎么使用？"),
        (
            "When will the {p} be back in stock?",
            "Can I return the {p} within 7 days?",
            "How do I use my membership points?",
        ),
    ),
    "other": (
        ("想修改收货地址", "账号登录不上"),
        ("I need to change my delivery address.", "I cannot log in to my account."),
    ),
}

SURVEY_COMMENTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("处理太慢了", "问题没有解决", "客服态度差"),
        ("Far too slow.", "My problem was not solved.", "Rude support."),
    ),
    (("还可以", "一般般"), ("It was okay.", "Average.")),
    (
        ("处理很及时，谢谢", "客服很专业", "非常满意"),
        ("Quick and helpful, thanks.", "Very professional support.", "Very satisfied."),
    ),
)
"""Negative, neutral and positive comments."""


def _render(
    pools: list[tuple[str, ...]], pool: np.ndarray, rng: np.random.Generator, noun: pa.Array
) -> pa.Array:
    """One random template of ``pools[pool[i]]`` per row, with ``{p}`` replaced by ``noun[i]``."""
    flat = [t for p in pools for t in p]
    start = np.cumsum([0] + [len(p) for p in pools])[:-1]
    size = np.array([len(p) for p in pools])
    index = start[pool] + (rng.random(len(pool)) * size[pool]).astype(np.int64)
    before = [t.split("{p}")[0] for t in flat]
    after = [t.split("{p}")[1] if "{p}" in t else "" for t in flat]
    has_slot = np.array(["{p}" in t for t in flat])[index]
    middle = pc.if_else(pa.array(has_slot), noun, pa.scalar(""))
    return col.concat(col.pick(before, index), middle, col.pick(after, index))


def post_texts(
    rng: np.random.Generator, theme: np.ndarray, language: np.ndarray, noun: pa.Array
) -> pa.Array:
    """Post or review texts for theme indexes (see `THEMES`) and languages (0 zh, 1 en)."""
    pools = [texts[lang] for (_, *texts) in POST_THEMES.values() for lang in (ZH, EN)]
    return _render(pools, theme * 2 + language, rng, noun)


def ticket_texts(
    rng: np.random.Generator,
    category: np.ndarray,
    language: np.ndarray,
    noun: pa.Array,
    categories: tuple[str, ...],
) -> pa.Array:
    """Ticket descriptions for category indexes into ``categories`` and languages."""
    pools = [TICKET_TEXTS[c][lang] for c in categories for lang in (ZH, EN)]
    return _render(pools, category * 2 + language, rng, noun)


def survey_comments(rng: np.random.Generator, mood: np.ndarray, language: np.ndarray) -> pa.Array:
    """Survey comments for moods (0 negative, 1 neutral, 2 positive) and languages."""
    pools = [texts[lang] for texts in SURVEY_COMMENTS for lang in (ZH, EN)]
    return _render(pools, mood * 2 + language, rng, pa.nulls(len(mood), pa.string()))
