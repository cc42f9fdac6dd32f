"""The sentiment model learns from rated texts: fitted on reviews written by the demo-data
generator's templates (Chinese and English), scored on held-out ones."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from demo_data import texts
from demo_data.catalogue import SUBCATEGORY_NOUNS_EN, SUBCATEGORY_NOUNS_ZH
from demo_data.social import RATING_RANGE
from ml.history import NotEnoughHistory
from ml.sentiment import (
    MIN_DISTINCT_TEXTS,
    fit_sentiment_model,
    is_held_out,
    sentiment_labels,
    stars_to_score,
    validate_sentiment_model,
)
from ml.sentiment_lexicon import lexicon_scores
from ml.text_themes import COMPLAINT_THEMES, PRAISE_THEMES, THEMES, theme_lists, theme_matrix
from orchestration.defs.ml.sentiment import figures_left_out

# How often each theme of the generator occurs among reviews: mostly praise, as in real shops.
THEME_SHARES = {
    "praise": 0.55,
    "value": 0.1,
    "quality_but_expensive": 0.1,
    "cheap_feel": 0.05,
    "delivery_delay": 0.07,
    "quality_bad": 0.07,
    "bad_service": 0.03,
    "neutral": 0.03,
}


def generated_reviews(n: int, seed: int = 3) -> pd.DataFrame:
    """Reviews as the demo generator writes them: a theme, its text in Chinese or English about
    a random product, and a star rating drawn from the theme's range."""
    rng = np.random.default_rng(seed)
    theme = rng.choice(len(texts.THEMES), n, p=[THEME_SHARES[t] for t in texts.THEMES])
    language = (rng.random(n) < 0.4).astype(np.int64)
    noun_index = rng.integers(0, len(SUBCATEGORY_NOUNS_ZH), n)
    noun = pc.if_else(
        pa.array(language == texts.EN),
        pa.array(np.asarray(SUBCATEGORY_NOUNS_EN)[noun_index]),
        pa.array(np.asarray(SUBCATEGORY_NOUNS_ZH)[noun_index]),
    )
    low = np.array([RATING_RANGE[t][0] for t in texts.THEMES])[theme]
    high = np.array([RATING_RANGE[t][1] for t in texts.THEMES])[theme]
    return pd.DataFrame(
        {
            "text": texts.post_texts(rng, theme, language, noun).to_pylist(),
            "stars": (low + (rng.random(n) * (high - low + 1)).astype(np.int64)).astype(float),
            "weight": 1.0,
            "source": "review",
            "language": np.asarray(texts.LANGUAGES)[language],
            "theme": np.asarray(texts.THEMES)[theme],
        }
    )


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return generated_reviews(3000)


@pytest.fixture(scope="module")
def validation(reviews):
    return validate_sentiment_model(reviews)


def test_model_beats_the_majority_class_and_the_keyword_lexicon(validation):
    assert validation.held_out_reviews > 300
    assert validation.accuracy >= validation.majority_accuracy + 0.05
    assert validation.macro_f1 >= 0.7 > validation.majority_macro_f1 + 0.3
    assert validation.macro_f1 > validation.lexicon_macro_f1 + 0.05
    assert validation.rating_correlation > 0.75
    assert validation.rating_correlation > validation.lexicon_rating_correlation


def test_shuffled_ratings_teach_nothing(reviews):
    shuffled = reviews.assign(stars=np.random.default_rng(0).permutation(reviews["stars"]))
    figures = validate_sentiment_model(shuffled)
    assert abs(figures.rating_correlation) < 0.15
    assert figures.macro_f1 < 0.45


def test_chinese_and_english_are_both_read(reviews):
    model = fit_sentiment_model(reviews[~is_held_out(reviews["text"])])
    held_out = reviews[is_held_out(reviews["text"])]
    for language in ("zh", "en"):
        part = held_out[held_out["language"] == language]
        score = model.score(part["text"])
        assert len(part) > 100, language
        assert np.corrcoef(score, part["stars"])[0, 1] > 0.7, language


def test_hand_written_texts_score_as_a_reader_would(reviews):
    model = fit_sentiment_model(reviews)
    negative = [
        "这次买的东西质量太差了，用了两天就坏了，非常失望",
        "Very disappointed: poor quality, it arrived damaged.",
    ]
    positive = ["宝宝很喜欢，质量很好，已经回购了", "Excellent, really happy with it!"]
    assert (model.score(negative) <= -0.25).all()
    assert (model.score(positive) >= 0.25).all()
    assert list(sentiment_labels(model.score(negative))) == ["negative", "negative"]


def test_fitting_is_deterministic_and_ignores_row_order(reviews):
    first = fit_sentiment_model(reviews)
    second = fit_sentiment_model(reviews.sample(frac=1, random_state=1))
    sample = reviews["text"].head(200)
    assert first.version == second.version
    np.testing.assert_array_equal(first.score(sample), second.score(sample))


def test_scores_and_labels_follow_the_star_scale():
    np.testing.assert_array_equal(stars_to_score(np.array([1, 2, 3, 4, 5])), [-1, -0.5, 0, 0.5, 1])
    labels = sentiment_labels(np.array([-1, -0.25, -0.24, 0, 0.24, 0.25, 1]))
    assert list(labels) == [
        "negative",
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
        "positive",
    ]


def test_too_few_rated_texts_is_not_enough_history(reviews):
    with pytest.raises(NotEnoughHistory, match="rated texts"):
        validate_sentiment_model(reviews.head(50))


def test_csat_figures_need_enough_distinct_held_out_comments(reviews, validation):
    comments = generated_reviews(600, seed=5).assign(source="csat_comment")
    many = validate_sentiment_model(pd.concat([reviews, comments], ignore_index=True))
    held_out = comments[is_held_out(comments["text"])]
    assert held_out["text"].nunique() >= MIN_DISTINCT_TEXTS
    assert many.csat_correlation > 0.7

    # A few templates, each repeated: the figure would be one text's score, so it is left out.
    few = held_out.drop_duplicates("text").head(MIN_DISTINCT_TEXTS - 1)
    repeated = pd.concat([few] * 20, ignore_index=True)
    figures = validate_sentiment_model(pd.concat([reviews, repeated], ignore_index=True))
    assert figures.csat_correlation is None
    assert figures.lexicon_csat_correlation is None
    # named in the asset's metadata; no tickets or NPS comments were given either
    assert figures_left_out(figures) == [
        "csat_comment_correlation",
        "ticket_complaint_auc",
        "nps_comment_correlation",
    ]
    assert "csat_comment_correlation" not in figures_left_out(many)
    # the held-out comments do not train the model: the review figures are unchanged
    assert figures.rating_correlation == validation.rating_correlation


def test_keyword_lexicon_counts_negations_only_as_negative():
    scores = lexicon_scores(
        pd.Series(
            ["质量很好，推荐！", "不满意，太慢了", "Great quality but expensive", "收到了", None]
        )
    )
    np.testing.assert_array_equal(scores, [1.0, -1.0, 0.0, 0.0, 0.0])


def test_themes_name_what_the_generator_planted(reviews):
    # "The {p} broke after a few uses" (cheap_feel) is poor quality in words.
    expected = {
        "delivery_delay": ["delivery delay"],
        "quality_bad": ["poor quality"],
        "bad_service": ["poor service"],
        "quality_but_expensive": ["too expensive"],
        "cheap_feel": ["feels cheap", "poor quality"],
        "praise": ["praise"],
        "value": ["good value"],
    }
    names = tuple(t.name for t in THEMES)
    matrix = theme_matrix(pa.array(reviews["text"]))
    for planted, themes in expected.items():
        rows = (reviews["theme"] == planted).to_numpy()
        share = matrix[np.ix_(rows, [names.index(t) for t in themes])].any(axis=1).mean()
        assert share > 0.95, (planted, themes, share)
    neutral = (reviews["theme"] == "neutral").to_numpy()
    complaint = np.isin(names, COMPLAINT_THEMES)
    assert not matrix[np.ix_(neutral, complaint)].any()


def test_ticket_texts_get_their_category_theme():
    expected = {
        "delivery_delay": "delivery delay",
        "product_quality": "poor quality",
        "wrong_item": "wrong item",
        "refund_request": "refund or return",
        "billing": "billing problem",
    }
    names = tuple(t.name for t in THEMES)
    for category, theme in expected.items():
        written = [t.replace("{p}", "面霜") for lang in texts.TICKET_TEXTS[category] for t in lang]
        matrix = theme_matrix(written)
        assert matrix[:, names.index(theme)].all(), (category, written)


def test_theme_lists_keep_the_order_of_the_names():
    matrix = np.array([[True, False, True], [False, False, False]])
    lists = theme_lists(matrix, ("a", "b", "c")).to_pylist()
    assert lists == [["a", "c"], []]
    assert set(PRAISE_THEMES).isdisjoint(COMPLAINT_THEMES)
