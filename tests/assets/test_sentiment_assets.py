"""The sentiment asset on two years of generated deliveries: every text scored by a model that
learned the planted sentiment, and the dbt marts built on it filled and consistent."""

import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.defs.ml.sentiment import text_sentiment
from orchestration.defs.raw import ingest_assets
from tests.support import DEMO_END, range_tags, table_snapshot, weixi_resources
from warehouse.model_outputs import TEXT_SENTIMENT


@pytest.fixture(scope="module")
def con(ml_warehouse):
    with duckdb.connect(str(ml_warehouse), read_only=True) as connection:
        yield connection


def _one(con, sql: str):
    return con.execute(sql).fetchall()[0]


def test_every_text_version_is_scored_by_the_model(con):
    expected = _one(
        con,
        """select count(*) from (
            select distinct 'post', post_id, md5(text) from raw.social__posts
            union all
            select distinct 'ticket', ticket_id, md5(description) from raw.service__tickets
            where nullif(trim(description), '') is not null
            union all
            select distinct 'survey', survey_id, md5(comment) from raw.service__surveys
            where nullif(trim(comment), '') is not null)""",
    )[0]
    rows, methods, low, high = _one(
        con,
        """select count(*), list(distinct scoring_method), min(sentiment_score),
                  max(sentiment_score) from ml.text_sentiment""",
    )
    assert rows == expected > 1000
    assert methods == ["model"]
    assert -1 <= low < -0.5 and 0.5 < high <= 1
    unscored = _one(
        con,
        """select (select count(*) from intermediate.int_posts__scored
                   where sentiment_method = 'unscored')
                + (select count(*) from intermediate.int_service_texts__scored
                   where sentiment_method = 'unscored')""",
    )[0]
    assert unscored == 0


def test_validation_figures_beat_their_baselines(con):
    figures = con.execute(
        """select metric, value, baseline, baseline_value from marts.model_validation
           where model = 'text_sentiment'"""
    ).df()
    by_metric = figures.set_index("metric")
    for metric in ("review_accuracy", "review_macro_f1", "review_rating_correlation"):
        assert by_metric.loc[metric, "value"] > by_metric.loc[metric, "baseline_value"], metric
    assert by_metric.loc["review_macro_f1", "value"] > 0.7
    auc = by_metric.loc["ticket_complaint_auc"]
    assert auc["value"] > max(0.75, auc["baseline_value"] + 0.1)
    assert by_metric.loc["nps_comment_correlation", "value"] > 0.5
    assert by_metric.loc["negative_texts_with_theme", "value"] > 0.9
    assert figures["metric"].is_unique


def test_the_model_reads_the_planted_sentiment_of_posts_without_rating(con, ml_landing):
    truth = pd.read_parquet(ml_landing / "_truth" / "posts.parquet")[["post_id", "sentiment"]]
    scored = con.execute(
        """select post_id, sentiment_score, sentiment_label from intermediate.int_posts__scored
           where sentiment_method = 'model'"""
    ).df()
    joined = scored.merge(truth, on="post_id")
    assert len(joined) == len(scored) > 300
    means = joined.groupby("sentiment")["sentiment_score"].mean()
    assert means[-1] < -0.3 and means[1] > 0.3 and means[-1] < means[0] < means[1]
    assert joined["sentiment_score"].corr(joined["sentiment"].astype(float)) > 0.7
    negative = joined[joined["sentiment"] == -1]
    assert (negative["sentiment_label"] != "positive").mean() > 0.95


def test_product_sentiment_agrees_with_the_posts(con):
    mismatches = _one(
        con,
        """
        with posts as (
            select product_id, count(*) as posts,
                   count(*) filter (where sentiment_label = 'negative') as negative
            from intermediate.int_posts__scored
            cross join intermediate.int_reference_date__selected
            where product_id is not null and cast(posted_at as date) <= reference_date
            group by all
        )
        select count(*) from marts.product_sentiment m
        left join posts p using (product_id)
        where m.posts <> coalesce(p.posts, 0) or m.negative_posts <> coalesce(p.negative, 0)
        """,
    )[0]
    assert mismatches == 0
    products, catalogue, themed = _one(
        con,
        """select count(*), (select count(*) from staging.stg_orders__products),
                  count(top_complaint_themes) from marts.product_sentiment""",
    )
    assert products == catalogue and themed > catalogue / 4


def test_complaint_themes_count_every_theme_mention(con):
    mentions = _one(
        con,
        """
        with texts as (
            select posted_at as written_at, complaint_themes from intermediate.int_posts__scored
            union all
            select written_at, complaint_themes from intermediate.int_service_texts__scored
        )
        select count(*) from (select unnest(complaint_themes) from texts
            cross join intermediate.int_reference_date__selected
            where cast(written_at as date) <= reference_date)
        """,
    )[0]
    total, themes, months = _one(
        con,
        "select sum(texts), count(distinct theme), count(distinct period_start) "
        "from marts.complaint_themes",
    )
    assert total == mentions > 1000
    assert themes >= 8 and months >= 23
    expensive = con.execute(
        "select example_phrasing from marts.complaint_themes where theme = 'too expensive'"
    ).df()["example_phrasing"]
    assert expensive.notna().all()
    assert expensive.dropna().str.contains("贵|价格|打折|expensive|pric", regex=True).all()


def test_examples_were_written_by_several_people_and_hold_no_contact_details(con):
    unshared = _one(
        con,
        """
        with authors as (
            select post_text as phrasing, count(distinct author_handle_key) as authors
            from intermediate.int_posts__scored group by all
            union all
            select text_content, count(distinct author_key)
            from intermediate.int_service_texts__scored group by all
        ),
        totals as (select phrasing, sum(authors) as authors from authors group by all)
        select count(*) from marts.complaint_themes c
        left join totals t on t.phrasing = c.example_phrasing
        where c.example_phrasing is not null and coalesce(t.authors, 0) < 3
        """,
    )[0]
    assert unshared == 0
    leaky = _one(
        con,
        r"""select count(*) from marts.complaint_themes
            where regexp_matches(example_phrasing, '[0-9]{5}|@[^<]|\S+@\S+\.\w+')""",
    )[0]
    assert leaky == 0


def test_customer_360_carries_sentiment_for_customers_who_wrote(con):
    missing, negative_mismatch = _one(
        con,
        """
        select
            count(*) filter (where social_posts > 0 and sentiment_score is null),
            count(*) filter (where negative_posts > social_posts)
        from marts.customer_360
        """,
    )
    assert missing == 0 and negative_mismatch == 0
    service = _one(
        con,
        """select count(service_text_sentiment_score), avg(service_text_sentiment_score)
           filter (where complaints > 0), avg(service_text_sentiment_score)
           filter (where complaints = 0) from marts.customer_360""",
    )
    assert service[0] > 100 and service[1] < service[2]


def test_rescoring_gives_the_same_table(ml_warehouse, ml_landing, tmp_path):
    copy = tmp_path / "rescore.duckdb"
    shutil.copy(ml_warehouse, copy)
    before = table_snapshot(copy, ("ml",))
    result = dg.materialize([text_sentiment], resources=weixi_resources(copy, ml_landing))
    assert result.success
    after = table_snapshot(copy, ("ml",))
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table])


def test_a_night_between_refits_scores_only_new_texts_and_gives_the_same_table(
    ml_warehouse, ml_landing, tmp_path
):
    copy = tmp_path / "night.duckdb"
    shutil.copy(ml_warehouse, copy)
    resources = weixi_resources(copy, ml_landing)
    assert dg.materialize([text_sentiment], resources=resources).success
    full = table_snapshot(copy, ("ml",))["ml.text_sentiment"]
    # As if a third of the texts had arrived since: their rows are not in the table yet.
    with duckdb.connect(str(copy)) as con:
        con.execute("delete from ml.text_sentiment where hash(text_hash) % 3 = 0")
        new = con.execute(
            "select count(distinct md5(text)) from (select text from raw.social__posts "
            "union all select description from raw.service__tickets "
            "union all select comment from raw.service__surveys) "
            "where nullif(trim(text), '') is not null "
            "and md5(text) not in (select text_hash from ml.text_sentiment)"
        ).fetchone()[0]
    night = dg.materialize([text_sentiment], resources=resources)
    (event,) = night.get_asset_materialization_events()
    metadata = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
    assert metadata["model_run"].startswith("scored with model")
    assert 0 < metadata["texts_scored"] == new < metadata["distinct_texts"]
    pd.testing.assert_frame_equal(table_snapshot(copy, ("ml",))["ml.text_sentiment"], full)


def test_a_young_shop_is_scored_by_the_keyword_lexicon(demo_landing, tmp_path):
    warehouse = tmp_path / "young.duckdb"
    start = DEMO_END.replace(day=DEMO_END.day - 6)
    result = dg.materialize(
        [*ingest_assets, text_sentiment],
        resources=weixi_resources(warehouse, demo_landing),
        tags=range_tags(start, DEMO_END),
    )
    assert result.success
    metadata = result.asset_materializations_for_node("ml__text_sentiment")[0].metadata
    assert "rated texts" in metadata["model_skipped"].value
    with duckdb.connect(str(warehouse), read_only=True) as con:
        methods = _one(con, "select list(distinct scoring_method), count(*) from ml.text_sentiment")
    assert methods[0] == ["lexicon"] and methods[1] > 0
    # The counts in the run's metadata are the table's.
    header, _, *rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in metadata["by_kind_and_label"].value.splitlines()
    ]
    shown = {
        (row[0], label): n for row in rows for label, n in zip(header[1:], row[1:], strict=True)
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        counted = con.execute(
            "select text_kind, sentiment_label, count(*) from ml.text_sentiment group by all"
        ).fetchall()
    assert {key: n for key, n in shown.items() if n != "0"} == {
        (kind, label): f"{n:,}" for kind, label, n in counted
    }


def test_a_shop_without_texts_gets_the_empty_table(demo_landing, tmp_path):
    """A week of a shop whose exports hold no post, ticket or survey."""
    landing = tmp_path / "landing"
    for source in demo_landing.iterdir():
        (landing / source.name).mkdir(parents=True)
        if source.name not in ("social", "service"):
            shutil.copytree(source, landing / source.name, dirs_exist_ok=True)
    warehouse = tmp_path / "no_texts.duckdb"
    result = dg.materialize(
        [*ingest_assets, text_sentiment],
        resources=weixi_resources(warehouse, landing),
        tags=range_tags(DEMO_END.replace(day=DEMO_END.day - 6), DEMO_END),
    )
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = con.execute("describe ml.text_sentiment").fetchall()
        rows = _one(con, "select count(*) from ml.text_sentiment")
    assert rows == (0,)
    assert [(c[0], c[1]) for c in columns] == [
        (c.name, c.duckdb_type.upper()) for c in TEXT_SENTIMENT.columns
    ]
