"""The churn model assets: a candidate trained, validated and maybe promoted every night, and
the scores of every active customer from the promoted model."""

import dagster as dg
import pandas as pd

from ml import registry
from ml.churn import (
    MODEL_NAME,
    RECENCY_BASELINE,
    SELECTION_METRIC,
    ChurnCandidate,
    ChurnModel,
    decide,
    score,
    train_candidate,
)
from ml.history import NotEnoughHistory
from orchestration.defs.metadata import markdown_table
from orchestration.defs.ml.model_asset import TableOutput, publish
from orchestration.defs.ml.model_validation import Figure, record_validation, validation_metadata
from orchestration.defs.resources import WAREHOUSE_POOL, EngineWarehouse, Models
from warehouse.model_outputs import CALIBRATION_PARTS, CHURN_SCORES, calibration_metric

FEATURES = dg.AssetKey(["features", "churn_feature_snapshots"])
MODEL = dg.AssetKey(["ml", "churn_model"])
SCORES = dg.AssetKey(["marts", "churn_scores"])
CUSTOMERS = dg.AssetKey(["marts", "customer_360"])
PROMOTION_CHECK = "churn_model_promotion"
COVERAGE_CHECK = "churn_scores_cover_active_customers"


def _features_sql(where: str) -> str:
    # A fixed row order: the sampling and the validation split depend on it.
    return (
        f"select * from {FEATURES.path[0]}.{FEATURES.path[1]} where {where} "
        "order by as_of, customer_id"
    )


def _read(warehouse: EngineWarehouse, where: str) -> pd.DataFrame:
    return warehouse.read_frame(_features_sql(where))


def _scored(warehouse: EngineWarehouse, model: ChurnModel, models: Models) -> pd.DataFrame:
    """Every scoring snapshot scored, ``warehouse.batch_rows`` snapshots at a time (a
    snapshot's score depends on its row alone), so only one batch of features is in memory."""
    batches = [
        score(
            model,
            features,
            models.churn_medium_risk_probability,
            models.churn_high_risk_probability,
        )
        for features in warehouse.read_frames(_features_sql("is_scoring_snapshot"))
    ]
    return pd.concat(batches, ignore_index=True) if batches else CHURN_SCORES.empty_frame()


def _figures(candidate: ChurnCandidate) -> list[Figure]:
    model, baseline = candidate.metrics, candidate.baseline_metrics
    return [
        Figure(metric, getattr(model, metric), RECENCY_BASELINE, getattr(baseline, metric))
        for metric in ("roc_auc", "pr_auc", "brier", "top_decile_lift")
    ] + [
        Figure("validation_rows", model.rows),
        Figure("validation_churn_rate", model.positive_rate),
    ]


def _calibration_figures(candidate: ChurnCandidate) -> list[Figure]:
    # Kept in the validation table (the nightly report draws it), not as thirty metadata plots.
    return [
        Figure(calibration_metric(round(b.high * 10), part), getattr(b, part))
        for b in candidate.calibration
        for part in CALIBRATION_PARTS
    ]


@dg.asset(
    key=MODEL,
    deps=[FEATURES],
    group_name="ml",
    kinds={"python", "scikitlearn"},
    pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            PROMOTION_CHECK,
            asset=MODEL,
            description="Tonight's churn candidate beat the recency baseline and the promoted "
            "model out of time, and scoring now uses it (warns with the reason when not; passes "
            "on nights between two trainings, naming the model in use).",
        )
    ],
)
def churn_model(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, models: Models
) -> dg.MaterializeResult:
    """The churn model: trained on past snapshots every ``WEIXI_RETRAIN_EVERY_DAYS`` days,
    validated on a later one, registered, and promoted for scoring only when it predicts better
    than the rule of thumb (recency) and the model in use."""
    reference = warehouse.reference_date()
    cadence = models.churn_cadence(reference)
    if not cadence.retrain:
        context.log.info(f"churn model not retrained as of {reference}: {cadence.reason}")
        return dg.MaterializeResult(
            metadata={
                "trained": False,
                "model_run": cadence.description,
                "model_version": cadence.promoted.version,
                "reason": cadence.reason,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=PROMOTION_CHECK,
                    passed=True,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"no candidate tonight ({cadence.reason}; retrained every "
                    f"{models.retrain_every_days} days): {cadence.description}",
                    metadata={"promoted_version": cadence.promoted.version},
                )
            ],
        )
    try:
        candidate = train_candidate(_read(warehouse, "churned is not null"))
    except NotEnoughHistory as short:
        context.log.warning(f"no churn model trained tonight: {short}")
        return dg.MaterializeResult(
            metadata={"trained": False, "reason": str(short)},
            check_results=[
                dg.AssetCheckResult(
                    check_name=PROMOTION_CHECK,
                    passed=False,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"no candidate: {short}",
                    metadata={"reason": str(short)},
                )
            ],
        )
    current = registry.promoted(models.path, MODEL_NAME)
    decision = decide(
        candidate,
        current.load() if current else None,
        current.version if current else None,
    )
    figures = _figures(candidate)
    version = registry.register(
        models.path,
        MODEL_NAME,
        candidate.model,
        {
            **candidate.summary(),
            "horizon_days": models.churn_horizon_days,
            "promotion": {"promoted": decision.promote, "reason": decision.reason},
        },
        trained_on=reference,
    ).version
    if decision.promote:
        registry.promote(models.path, MODEL_NAME, version, decision.reason)
    record_validation(
        warehouse,
        MODEL_NAME,
        version,
        figures + _calibration_figures(candidate),
        note=decision.reason,
    )
    (context.log.info if decision.promote else context.log.warning)(
        f"churn model {version}: {decision.reason}"
    )
    promotion = {
        "reason": decision.reason,
        "metric": SELECTION_METRIC,
        "candidate": decision.candidate,
        "baseline": decision.baseline,
        "promoted_version": decision.promoted_version,
        "promoted": decision.promoted,
    }
    return dg.MaterializeResult(
        metadata={
            **validation_metadata(figures),
            "trained": True,
            "model_run": cadence.description,
            "model_version": version,
            "model_kind": candidate.model.kind,
            "promoted": decision.promote,
            "reason": decision.reason,
            "training_snapshots": ", ".join(d.isoformat() for d in candidate.split.train_as_of),
            "validation_snapshot": candidate.split.validation_as_of.isoformat(),
            "training_rows": candidate.training_rows,
            "competitors": dg.MetadataValue.md(
                markdown_table(
                    ["model", "roc_auc", "pr_auc", "brier", "top_decile_lift"],
                    [
                        [kind, *(f"{getattr(m, f):.4f}" for f in ("roc_auc", "pr_auc", "brier"))]
                        + [f"{m.top_decile_lift:.2f}"]
                        for kind, m in {
                            **candidate.competitors,
                            RECENCY_BASELINE: candidate.baseline_metrics,
                        }.items()
                    ],
                )
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=PROMOTION_CHECK,
                passed=decision.promote,
                severity=dg.AssetCheckSeverity.WARN,
                description=decision.reason,
                metadata={k: v for k, v in promotion.items() if v is not None},
            )
        ],
    )


def _scores_metadata(frame: pd.DataFrame, models: Models) -> dict[str, object]:
    bands = frame["risk_band"].value_counts()
    top = frame.sort_values(["churn_probability", "customer_id"], ascending=[False, True])
    return {
        "risk_bands": dg.MetadataValue.md(
            markdown_table(
                ["risk_band", "customers"],
                [[b, int(bands.get(b, 0))] for b in ("high", "medium", "low")],
            )
        ),
        "cut-offs": f"high from {models.churn_high_risk_probability}, medium from "
        f"{models.churn_medium_risk_probability}",
        "mean_churn_probability": float(frame["churn_probability"].mean()) if len(frame) else 0.0,
        "preview (highest risk, no PII)": dg.MetadataValue.md(
            markdown_table(
                ["customer_id", "churn_probability", "risk_band", "reason_1", "reason_2"],
                [
                    [
                        r.customer_id,
                        f"{r.churn_probability:.3f}",
                        r.risk_band,
                        r.reason_1,
                        None if pd.isna(r.reason_2) else r.reason_2,
                    ]
                    for r in top.head(10).itertuples()
                ],
            )
        ),
    }


def _unscored_active_customers(warehouse: EngineWarehouse) -> int:
    counted = warehouse.read_arrow(
        f"""select count(*) as customers from {CUSTOMERS.path[0]}.{CUSTOMERS.path[1]} c
            anti join {CHURN_SCORES.name} s using (customer_id)
            where c.lifecycle_stage not in ('prospect', 'churned')"""
    )
    return counted.column(0)[0].as_py()


@dg.asset(
    key=SCORES,
    deps=[MODEL, FEATURES, CUSTOMERS],
    group_name="ml",
    kinds={"python", "scikitlearn", "duckdb"},
    pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset=SCORES,
            description="Every active customer of customer_360 (not prospect, not churned) has "
            "a churn score (warns with the count of those without).",
        )
    ],
)
def churn_scores(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, models: Models
) -> dg.MaterializeResult:
    """Every active customer's probability of buying nothing in the churn horizon, a risk band
    and the top reasons, from the promoted churn model."""
    current = registry.promoted(models.path, MODEL_NAME)
    if current is None:
        reason = "no churn model has been promoted yet: churn_scores is empty"
        context.log.warning(reason)
        frame, metadata = CHURN_SCORES.empty_frame(), {"reason": reason}
    else:
        scored = _scored(warehouse, current.load(), models)
        scored["model_version"] = current.version
        frame = CHURN_SCORES.conform(scored)
        metadata = {"model_version": current.version, "model_run": current.scored_with}
    (result,) = publish(
        warehouse, [TableOutput(CHURN_SCORES, frame, metadata | _scores_metadata(frame, models))]
    )
    unscored = _unscored_active_customers(warehouse)
    coverage = dg.AssetCheckResult(
        check_name=COVERAGE_CHECK,
        passed=unscored == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description="every active customer has a score"
        if unscored == 0
        else f"{unscored:,} active customers have no score"
        + (f" ({metadata['reason']})" if "reason" in metadata else ""),
        metadata={"active_customers_without_score": unscored},
    )
    return dg.MaterializeResult(metadata=result.metadata, check_results=[coverage])
