"""The keyword-lexicon sentiment that Weixi used before the text model: the baseline the model
must beat, and the fallback while a shop has too few rated texts to train one."""

from __future__ import annotations

import numpy as np
import pandas as pd

NEGATIVE = (
    "不满意", "不推荐", "不好", "不值", "差评", "失望", "太差", "很差", "质量差", "退货",
    "投诉", "垃圾", "太贵", "坏了", "破损", "慢",
    "not good", "not recommend", "disappoint", "terrible", "awful", "broken", "poor",
    "refund", "expensive", "worst", "slow", "bad",
)  # fmt: skip
POSITIVE = (
    "满意", "推荐", "喜欢", "不错", "好用", "很好", "质量好", "划算", "值得", "超赞",
    "回购", "棒", "赞", "好",
    "excellent", "recommend", "perfect", "amazing", "great", "happy", "love", "good", "nice",
)  # fmt: skip
_NEGATIVE = "|".join(NEGATIVE)
_POSITIVE = "|".join(POSITIVE)


def lexicon_scores(texts: pd.Series) -> np.ndarray:
    """Per text: (positive hits - negative hits) / all hits in [-1, 1], 0 without hits.

    Negative phrases are counted first and removed, so that 不满意 / "not good" do not also
    count as 满意 / "good"."""
    lowered = texts.fillna("").str.lower()
    negative = lowered.str.count(_NEGATIVE).to_numpy(dtype=float)
    positive = (
        lowered.str.replace(_NEGATIVE, " ", regex=True).str.count(_POSITIVE).to_numpy(dtype=float)
    )
    hits = positive + negative
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hits > 0, (positive - negative) / hits, 0.0)
