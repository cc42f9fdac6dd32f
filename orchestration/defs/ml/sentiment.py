"""Sentiment and themes of every text customers wrote: social posts, ticket descriptions and
survey comments, scored before dbt builds the marts that read them."""

from datetime import date

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ingest.contract import SOURCES
from ingest.loader import ensure_raw_tables
from ml import registry
from ml.history import NotEnoughHistory
from ml.sentiment import (
    MIN_DISTINCT_TEXTS,
    MODEL_NAME,
    SentimentModel,
    SentimentValidation,
    fit_sentiment_model,
    sentiment_labels,
    validate_sentiment_model,
)
from ml.sentiment_lexicon import lexicon_scores
from ml.text_themes import COMPLAINT_THEMES, PRAISE_THEMES, THEMES, theme_lists, theme_matrix
from orchestration.defs.metadata import markdown_table
from orchestration.defs.ml.model_asset import TableOutput, Validation, publish
from orchestration.defs.ml.model_validation import Figure
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Models, Warehouse
from warehouse.model_outputs import TEXT_SENTIMENT

LEXICON_VERSION = "keyword_lexicon"
WEAK_TICKET_WEIGHT = 0.3
"""Weight of a ticket description labelled only by its complaint flag (complaint = 2 stars,
other = 3), against 1 for a text its author rated."""

# Every version ever delivered of each text: a corrected text gets its own row, and dbt joins
# on the hash of the text it keeps, so a score always belongs to the exact words.
TEXTS_SQL = """
select distinct 'post' as text_kind, post_id as source_id, text
from raw.social__posts where nullif(trim(text), '') is not null
union all
select distinct 'ticket', ticket_id, description
from raw.service__tickets where nullif(trim(description), '') is not null
union all
select distinct 'survey_comment', survey_id, comment
from raw.service__surveys where nullif(trim(comment), '') is not null
"""
LABELLED_SQL = f"""
select distinct post_id as id, text, rating::double as stars, 1.0 as weight, 'review' as source
from raw.social__posts
where rating between 1 and 5 and nullif(trim(text), '') is not null
union all
select distinct survey_id, comment, score::double, 1.0, 'csat_comment'
from raw.service__surveys
where survey_type = 'csat' and score between 1 and 5 and nullif(trim(comment), '') is not null
union all
select distinct ticket_id, description, case when is_complaint then 2.0 else 3.0 end,
    {WEAK_TICKET_WEIGHT}, 'ticket'
from raw.service__tickets
where is_complaint is not null and nullif(trim(description), '') is not null
"""
NPS_SQL = """
select distinct survey_id, comment as text, score::double as score
from raw.service__surveys
where survey_type = 'nps' and score between 0 and 10 and nullif(trim(comment), '') is not null
"""


def _read(
    warehouse: Warehouse, kept_version: str | None
) -> tuple[pa.Table, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Texts to score (kind, id, hash); the distinct texts by hash that need scoring; the
    scores kept from ``ml.text_sentiment`` by hash; the labelled texts and the NPS comments.

    With ``kept_version`` (a night that does not refit the model), a text already scored by
    that version keeps its row (scoring is a function of the text and the model) and only
    new texts are scored, and the training texts are not read."""
    with warehouse.connect() as con:
        ensure_raw_tables(con, tuple(s for s in SOURCES if s.name in {"social", "service"}))
        con.execute(
            f"create temp table _texts as select *, md5(text) as text_hash from ({TEXTS_SQL})"
        )
        texts = con.sql("select text_kind, source_id, text_hash from _texts").to_arrow_table()
        kept = _kept_scores(con, kept_version)
        if len(kept):
            con.register("_kept", kept[["text_hash"]])
        unscored = "where text_hash not in (select text_hash from _kept)" if len(kept) else ""
        distinct = _df(
            con,
            f"select text_hash, any_value(text) as text from _texts {unscored} "
            "group by 1 order by 1",
        )
        if kept_version is not None:
            return texts, distinct, kept, pd.DataFrame(), pd.DataFrame()
        labelled = _df(con, f"select * from ({LABELLED_SQL}) order by source, id, text, stars")
        nps = _df(con, f"select * from ({NPS_SQL}) order by all")
    return texts, distinct, kept, labelled, nps


def _kept_scores(con: duckdb.DuckDBPyConnection, version: str | None) -> pd.DataFrame:
    """The scores of ``ml.text_sentiment`` by ``version`` of the texts still delivered, one row
    per hash, as :func:`score_texts` gives them (empty without a version or table)."""
    columns = [c.name for c in TEXT_SENTIMENT.columns if c.name not in ("text_kind", "source_id")]
    if version is None or not _table_exists(con, TEXT_SENTIMENT.name):
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    rows = con.sql(
        f"select distinct on (text_hash) {', '.join(columns)} from {TEXT_SENTIMENT.name} "
        "where model_version = ? and text_hash in (select text_hash from _texts)",
        params=[version],
    ).to_arrow_table()
    list_type = pa.list_(pa.string())
    rows = rows.cast(
        pa.schema(
            [
                pa.field(f.name, list_type if pa.types.is_list(f.type) else f.type)
                for f in rows.schema
            ]
        )
    )
    return rows.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if t == list_type else None)


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    # A relation (con.sql), not warehouse.table_spec.table_exists: its unfinished DB-API
    # result would stop the Arrow read after it, and a DB-API result's Arrow is a second copy.
    schema, name = table.split(".")
    ((count,),) = con.sql(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        params=[schema, name],
    ).fetchall()
    return count > 0


def _latest_text_day(warehouse: Warehouse) -> date | None:
    """The last delivery day of the text sources: the data the text model is trained as of
    (this asset runs before dbt builds the reference date)."""
    with warehouse.connect() as con:
        return con.execute(
            "select max(partition_date) from raw._loads "
            "where source in ('social', 'service') and files > 0"
        ).fetchone()[0]


def _df(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.execute(sql).df()


def score_texts(distinct: pd.DataFrame, model: SentimentModel | None) -> pd.DataFrame:
    """Score, label and themes per distinct text (``text_hash``, ``text``); the keyword lexicon
    scores when there is no model."""
    texts = distinct["text"].astype(str)
    score = lexicon_scores(texts) if model is None else model.score(texts)
    matrix = theme_matrix(pa.array(texts, pa.string()))
    complaint = np.array([t.kind == "complaint" for t in THEMES])
    list_type = pd.ArrowDtype(pa.list_(pa.string()))
    return pd.DataFrame(
        {
            "text_hash": distinct["text_hash"],
            "sentiment_score": score.astype(float),
            "sentiment_label": sentiment_labels(score),
            "complaint_themes": pd.Series(
                theme_lists(matrix[:, complaint], COMPLAINT_THEMES), dtype=list_type
            ),
            "praise_themes": pd.Series(
                theme_lists(matrix[:, ~complaint], PRAISE_THEMES), dtype=list_type
            ),
            "scoring_method": "lexicon" if model is None else "model",
            "model_version": LEXICON_VERSION if model is None else model.version,
        }
    )


def _candidate_figures(
    v: SentimentValidation, theme_coverage: float | None
) -> list[tuple[str, float | None, str | None, float | None]]:
    lexicon = "keyword_lexicon"
    return [
        ("review_accuracy", v.accuracy, "majority_class", v.majority_accuracy),
        ("review_macro_f1", v.macro_f1, lexicon, v.lexicon_macro_f1),
        ("review_rating_correlation", v.rating_correlation, lexicon, v.lexicon_rating_correlation),
        ("csat_comment_correlation", v.csat_correlation, lexicon, v.lexicon_csat_correlation),
        ("ticket_complaint_auc", v.ticket_complaint_auc, lexicon, v.lexicon_ticket_complaint_auc),
        ("nps_comment_correlation", v.nps_correlation, lexicon, v.lexicon_nps_correlation),
        ("held_out_reviews", v.held_out_reviews, None, None),
        ("training_texts", v.training_texts, None, None),
        ("negative_texts_with_theme", theme_coverage, None, None),
    ]


def sentiment_figures(v: SentimentValidation, theme_coverage: float | None) -> list[Figure]:
    """The validation figures of the model, each with its baseline; figures that could not be
    computed (too few held-out texts of that kind: see figures_left_out) are left out."""
    return [
        Figure(metric, float(value), baseline, baseline_value)
        for metric, value, baseline, baseline_value in _candidate_figures(v, theme_coverage)
        if value is not None
    ]


def figures_left_out(v: SentimentValidation) -> list[str]:
    """The figures of CSAT comments, tickets or NPS comments that ``v`` could not compute: fewer
    than MIN_DISTINCT_TEXTS distinct held-out texts of that kind (or, for tickets, no
    complaint or no other ticket among them)."""
    candidates = _candidate_figures(v, None)
    return [metric for metric, value, baseline, _ in candidates if value is None and baseline]


@dg.asset(
    key=["ml", "text_sentiment"],
    deps=[dg.AssetKey(["raw", "social"]), dg.AssetKey(["raw", "service"])],
    group_name="ml",
    kinds={"python", "scikit-learn", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def text_sentiment(
    context: dg.AssetExecutionContext,
    control: Warehouse,
    warehouse: EngineWarehouse,
    models: Models,
) -> dg.MaterializeResult:
    """How positive or negative every post, ticket description and survey comment is, and which
    complaint or praise themes it names: one row per text version, in ml.text_sentiment. The
    text model is refitted every ``WEIXI_RETRAIN_EVERY_DAYS`` days. It reads the raw tables and
    writes its table in the control file (on Spark, dbt reads a copy); the validation figures
    go to the warehouse, with every other model's."""
    model_notes: dict[str, object] = {}
    validation, model = None, None
    latest_text_day = _latest_text_day(control)
    cadence = models.cadence(MODEL_NAME, latest_text_day or date.min)
    if not cadence.retrain:
        model = cadence.promoted.load()
    texts, distinct, kept, labelled, nps = _read(control, model.version if model else None)
    if cadence.retrain:
        try:
            validation = validate_sentiment_model(labelled, nps)
            model = fit_sentiment_model(labelled)
        except NotEnoughHistory as reason:
            context.log.warning(f"{reason}; scoring with the keyword lexicon instead")
            model_notes["model_skipped"] = str(reason)
        else:
            # The version is a hash of the training texts: a refit on the same texts is the same.
            version = model.version
            registry.register(
                models.path, MODEL_NAME, model, {}, trained_on=latest_text_day, version=version
            )
            registry.promote(models.path, MODEL_NAME, version, f"texts up to {latest_text_day}")
    model_notes["model_run"] = cadence.description if model is not None else "keyword lexicon"

    scored = score_texts(distinct, model)
    if len(kept):
        scored = pd.concat([kept, scored], ignore_index=True) if len(scored) else kept
    table = _scored_texts(texts, scored)
    negative = scored["sentiment_label"] == "negative"
    named = scored.loc[negative, "complaint_themes"].list.len() > 0
    coverage = float(named.mean()) if negative.any() else None
    version = scored["model_version"].iloc[0] if len(scored) else LEXICON_VERSION
    checked = []
    if validation is not None:
        checked = [
            Validation(
                MODEL_NAME,
                version,
                sentiment_figures(validation, coverage),
                note=(
                    "held-out reviews: majority-class macro-F1 "
                    f"{validation.majority_macro_f1:.3f}, keyword-lexicon accuracy "
                    f"{validation.lexicon_accuracy:.3f}"
                ),
            )
        ]
        model_notes["majority_class_macro_f1"] = validation.majority_macro_f1
        left_out = figures_left_out(validation)
        if left_out:
            model_notes["figures_left_out"] = (
                f"{', '.join(left_out)}: fewer than {MIN_DISTINCT_TEXTS} distinct held-out texts "
                "of that kind (docs/sentiment.md)"
            )
        model_notes["keyword_lexicon_accuracy"] = validation.lexicon_accuracy
    metadata = {
        "distinct_texts": len(scored),
        "texts_scored": len(distinct),
        "model_version": version,
        "by_kind_and_label": dg.MetadataValue.md(_label_counts(table)),
        "complaint_themes": dg.MetadataValue.md(_theme_counts(table)),
        **model_notes,
    }
    outputs = [TableOutput(TEXT_SENTIMENT, table, metadata)]
    return publish(control, outputs, checked, validations_to=warehouse)[0]


def _scored_texts(texts: pa.Table, scored: pd.DataFrame) -> pa.Table:
    """Each text version (``texts``) with the scores of its text, in key order. Joined in
    DuckDB on Arrow: texts repeat (at 1M customers, 2M versions of 3,000 texts), and a join of
    Python objects in pandas cost more than the scoring."""
    if not len(scored):  # no text delivered yet
        return pa.Table.from_pandas(TEXT_SENTIMENT.empty_frame(), preserve_index=False)
    with duckdb.connect() as con:
        con.register("texts", texts)
        con.register("scored", pa.Table.from_pandas(scored, preserve_index=False))
        return con.sql(
            "select * from texts left join scored using (text_hash) "
            "order by text_kind, source_id, text_hash"
        ).to_arrow_table()


def _rows(table: pa.Table, sql: str) -> list[tuple]:
    """The rows of ``sql`` over ``table``, read as ``scored_texts``."""
    with duckdb.connect() as con:
        con.register("scored_texts", table)
        return con.sql(sql).fetchall()


def _label_counts(table: pa.Table) -> str:
    counts = _rows(
        table, "select text_kind, sentiment_label, count(*) from scored_texts group by all"
    )
    kinds = sorted({kind for kind, _, _ in counts})
    found = {label for _, label, _ in counts}
    labels = [c for c in ("negative", "neutral", "positive") if c in found]
    n = {(kind, label): count for kind, label, count in counts}
    return markdown_table(
        ["kind", *labels], [[kind, *(n.get((kind, c), 0) for c in labels)] for kind in kinds]
    )


def _theme_counts(table: pa.Table) -> str:
    themes = _rows(
        table,
        "select theme, count(*) as texts "
        "from (select unnest(complaint_themes) as theme from scored_texts) "
        "group by all order by texts desc, theme",
    )
    return markdown_table(["complaint theme", "texts"], [[t, n] for t, n in themes])
