"""Weixi's one typed settings object: paths and business parameters.

Every value can be set by an environment variable named ``WEIXI_<FIELD>`` (for example
``WEIXI_WAREHOUSE=/srv/weixi/warehouse.duckdb``) or in a ``.env`` file in the working folder.
Nothing else in Weixi reads the environment.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.landing import first_delivery_day
from warehouse.spark_views import SparkReads

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


DEFAULT_PARTITION_START = date(2024, 1, 1)
"""The first partition when neither the setting nor a landing folder says."""

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = get_args(Engine)
DBT_TARGETS: dict[str, str] = {"duckdb": "dev", "spark": "spark"}
"""The output of ``dbt_project/profiles.yml`` each engine builds with."""


class WeixiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIXI_", env_file=".env", extra="ignore")

    warehouse: Path = Field(
        PROJECT_ROOT / "data" / "warehouse.duckdb", description="DuckDB warehouse file"
    )
    landing: Path = Field(
        PROJECT_ROOT / "data" / "landing",
        description="landing folder: <landing>/<source>/<YYYY-MM-DD>/<files>",
    )
    partition_start: date | None = Field(
        None,
        description=(
            "first day of the daily partitions; unset: the landing folder's first delivery day "
            f"({DEFAULT_PARTITION_START} when it holds none)"
        ),
    )
    engine: Engine = Field(
        "duckdb",
        description="where the warehouse is built: duckdb (one machine, the default) or spark "
        "(dbt's `spark` target; see docs/scale_out.md for what runs there yet)",
    )
    spark_raw_root: Path | None = Field(
        None,
        description="on spark: where the loader also writes the raw tables as Parquet, one "
        "folder per day (<root>/raw/<table>/_partition_date=YYYY-MM-DD/; a local or mounted "
        "path; default: the folder `spark_raw` beside the warehouse)",
    )
    # Spark (WEIXI_ENGINE=spark): the session the Python assets read and write the warehouse
    # through (dbt's own session comes from the `spark` output of dbt_project/profiles.yml).
    spark_master: str = Field(
        "local[2]",
        description="Spark master of the assets' session when no Spark Connect URL is set: "
        "local[N] (N cores of this machine) or a cluster's master URL",
    )
    spark_connect_url: str | None = Field(
        None,
        pattern=r"^sc://",
        description="Spark Connect server the assets use instead of a session of their own "
        "(sc://host:15002)",
    )
    spark_warehouse_dir: Path = Field(
        PROJECT_ROOT / "data" / "spark_warehouse",
        description="spark.sql.warehouse.dir of the assets' own session: where its tables live",
    )
    spark_driver_memory: str = Field("2g", description="driver memory of the assets' own session")
    spark_reads: SparkReads = Field(
        "auto",
        description="how DuckDB SQL (activation, publish, report, checks) reads Spark's tables: "
        "auto (a local Parquet table from its files, any other through Spark as Arrow) or "
        "through_spark (every table through Spark)",
    )
    # The local Spark Connect server (`weixi spark-server start`), as a cluster would offer one.
    spark_server_port: int = Field(
        15002,
        ge=1,
        le=65535,
        description="port of the local Spark Connect server (`weixi spark-server start`); point "
        "WEIXI_SPARK_CONNECT_URL at sc://localhost:<port>",
    )
    spark_server_dir: Path | None = Field(
        None,
        description="the local Spark Connect server's folder: its Derby metastore, log and pid "
        "file (default: the folder `spark_server` beside the warehouse; its tables go to "
        "WEIXI_SPARK_WAREHOUSE_DIR)",
    )
    score_batch_rows: int = Field(
        200_000,
        ge=1,
        description="rows of features a model scores at a time (churn), so a large warehouse's "
        "features never sit in memory whole",
    )
    timezone: str = Field("Asia/Shanghai", description="timezone of the nightly schedule")
    nightly_hour: int = Field(2, ge=0, le=23, description="hour the nightly run starts")
    nightly_minute: int = Field(0, ge=0, le=59, description="minute the nightly run starts")
    dagster_home: Path = Field(
        PROJECT_ROOT / "data" / "dagster_home",
        description="Dagster instance folder: run history of `weixi` commands and `make dev`",
    )
    dbt_target_folders_kept: int = Field(
        30,
        ge=1,
        description="dbt target folders (manifest, compiled SQL, run_results.json) kept in "
        "dbt_project/target, one per dbt invocation of a run; older ones are removed",
    )
    dbt_in_process: bool = Field(
        True,
        description="Run dbt's commands in the run's own process (DuckDB engine), not a dbt "
        "process each: ~3 CPU-s less per command; false starts a dbt process as dagster-dbt does",
    )

    # DuckDB, in every connection of a run (Python steps and dbt). A third of the memory keeps
    # the whole run under half the machine: one DuckDB works at a time (writers take turns),
    # beside the Python run process and DuckDB's memory outside its limit.
    duckdb_memory_limit: str = Field(
        "33%",
        pattern=r"^\s*\d+(\.\d+)?\s*(%|[KMGT]i?B)\s*$",
        description="DuckDB memory limit: a share of the machine's memory (33%) or a size (8GB); "
        "beyond it DuckDB spills to the temp directory",
    )
    duckdb_threads: int | None = Field(
        None, ge=1, description="DuckDB threads (default: one per CPU core of the machine)"
    )
    duckdb_temp_directory: Path | None = Field(
        None,
        description="where DuckDB spills what does not fit its memory limit "
        "(default: the folder `duckdb_tmp` beside the warehouse)",
    )
    # About 1 GB keeps a 2 GB delivery file's load under 2 GiB of memory; at a third of the
    # machine DuckDB would keep more in memory than the load gains from.
    load_memory_limit: str = Field(
        "1GB",
        pattern=r"^\s*\d+(\.\d+)?\s*[KMGT]i?B\s*$",
        description="DuckDB memory limit while loading deliveries (a size; never above the "
        "DuckDB memory limit); the load's peak stays about a gigabyte above it",
    )

    silver_tier_spend: float = Field(10_000, description="trailing-12-month spend for silver")
    gold_tier_spend: float = Field(20_000, description="trailing-12-month spend for gold")
    at_risk_after_days: int = Field(120, description="days without a purchase: at risk")
    churned_after_days: int = Field(365, description="days without a purchase: churned")
    loyal_min_orders: int = Field(5, description="orders that make a long-term buyer loyal")
    loyal_min_tenure_days: int = Field(365, description="tenure that makes a buyer loyal")
    first_response_sla_hours: float = Field(24, description="complaint first-reply SLA")
    resolution_sla_hours: float = Field(72, gt=0, description="complaint resolution SLA")
    decision_maker_contact_days: int = Field(
        90, ge=1, description="B2B: a decision maker contacted within this many days is recent"
    )
    # Health score (marts.customer_health): the weight of each 0-100 component
    health_weight_recency: float = Field(0.2, ge=0, description="health: RFM recency weight")
    health_weight_frequency: float = Field(0.15, ge=0, description="health: RFM frequency weight")
    health_weight_monetary: float = Field(0.15, ge=0, description="health: RFM monetary weight")
    health_weight_satisfaction: float = Field(
        0.15, ge=0, description="health: NPS, CSAT and sentiment weight"
    )
    health_weight_service: float = Field(
        0.1, ge=0, description="health: complaints and their SLA weight"
    )
    health_weight_engagement: float = Field(
        0.05, ge=0, description="health: social engagement weight"
    )
    health_weight_churn_risk: float = Field(
        0.2, ge=0, description="health: weight of 1 - churn probability"
    )

    # Deliveries: what a row may hold before it is quarantined, and how failed steps retry
    max_amount: float = Field(
        1_000_000, gt=0, description="largest amount (price, total, refund...) a row may carry"
    )
    max_quantity: int = Field(10_000, gt=0, description="largest quantity an order line may carry")
    future_tolerance_hours: float = Field(
        1,
        ge=0,
        description="how far past the end of its delivery day a timestamp may lie (clock skew)",
    )
    step_retries: int = Field(
        2, ge=0, description="retries of a failed step (not of a bad delivery) in the nightly job"
    )
    retry_delay_seconds: float = Field(
        30, ge=0, description="wait before the first retry; doubles with each further retry"
    )

    # Prediction
    model_registry: Path = Field(
        PROJECT_ROOT / "data" / "models",
        description="model registry: one folder per model version, plus the promoted pointer",
    )
    retrain_every_days: int = Field(
        7,
        ge=0,
        description="models are retrained when their last training is this many days old (or "
        "no model is promoted yet); nights in between score with the promoted model; 0: every run",
    )
    churn_horizon_days: int = Field(
        90, ge=7, description="churn: no purchase in this many days after the as-of date"
    )
    churn_snapshot_step_days: int = Field(
        30, ge=1, description="churn: days between two training snapshots (as-of dates)"
    )
    churn_training_snapshots: int = Field(
        12,
        ge=2,
        description="churn: labelled snapshots, the latest ends its horizon on the reference date",
    )
    churn_high_risk_probability: float = Field(
        0.7, gt=0, lt=1, description="churn: probability from which a customer is high risk"
    )
    churn_medium_risk_probability: float = Field(
        0.4, gt=0, lt=1, description="churn: probability from which a customer is medium risk"
    )
    ltv_horizon_months: int = Field(12, ge=1, description="lifetime value horizon")
    ltv_annual_discount_rate: float = Field(
        0.10, ge=0, description="yearly discount rate of predicted future value"
    )
    value_matrix_high_quantile: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="value matrix: current and predicted value count as high from this quantile "
        "of all buyers (0.5: the median, 0.8: the top 20%)",
    )
    recommendations_per_customer: int = Field(10, ge=1, description="products per customer")

    # Data quality, serving and alerts
    quality_docs: Path = Field(
        PROJECT_ROOT / "data" / "quality" / "docs", description="Great Expectations Data Docs"
    )
    serving_dir: Path | None = Field(
        None,
        description="what BI tools read: the published serving database and Parquet files "
        "(default: the folder `serving` beside the warehouse)",
    )
    reports_dir: Path | None = Field(
        None,
        description="the nightly HTML report, one file per reference date (default: the folder "
        "`reports` beside the warehouse)",
    )
    source_freshness_hours: float = Field(
        36, description="warn when a source has not delivered for this many hours"
    )
    alert_log: Path = Field(
        PROJECT_ROOT / "data" / "alerts.log", description="failed runs are written here"
    )
    alert_webhook_url: str | None = Field(
        None, description="failed runs are also posted here when set (keep it out of the repo)"
    )

    # Activation: audiences, safety rules, destinations
    audiences_file: Path = Field(
        PROJECT_ROOT / "activation" / "audiences.yml",
        description="the audience definitions (one YAML file; see docs/activation.md)",
    )
    frequency_cap_contacts: int = Field(
        2, ge=1, description="marketing contacts a customer may get within the cap window"
    )
    frequency_cap_days: int = Field(7, ge=1, description="days of the frequency-cap window")
    holdout_share: float = Field(
        0.10, ge=0, lt=1, description="share of each audience held out as its control group"
    )
    exports_dir: Path = Field(
        PROJECT_ROOT / "data" / "exports",
        description="audience files, ad audiences and account-manager task lists, per day",
    )
    exports_kept_days: int = Field(
        30,
        ge=1,
        description="days of export folders kept (the night's and the days before it); older "
        "day folders are removed after each night's syncs",
    )
    erasure_requests_dir: Path | None = Field(
        None,
        description="right-to-be-forgotten requests: CSV files with customer_id, requested_at "
        "(default: `_erasure_requests` in the landing folder)",
    )
    webhook_url: str | None = Field(
        None, description="audience pushes go here when set (keep it out of the repo)"
    )
    webhook_token: SecretStr | None = Field(
        None, description="bearer token of the audience webhook (environment only, never the repo)"
    )
    webhook_batch_size: int = Field(500, ge=1, description="members per webhook request")
    webhook_timeout_seconds: float = Field(10, gt=0, description="webhook request timeout")
    webhook_max_attempts: int = Field(5, ge=1, description="tries per webhook batch")
    webhook_backoff_seconds: float = Field(
        1, ge=0, description="wait before the first webhook retry; doubles with each retry"
    )

    @field_validator("engine", mode="before")
    @classmethod
    def _known_engine(cls, value: object) -> object:
        # Pydantic's own message names neither the variable nor where to read about it.
        if value not in ENGINES:
            raise ValueError(
                f"WEIXI_ENGINE={value!r} is not an engine Weixi builds on; allowed: "
                f"{' | '.join(ENGINES)} (default duckdb)"
            )
        return value

    @property
    def dbt_target(self) -> str:
        """The ``profiles.yml`` output dbt builds with on this engine."""
        return DBT_TARGETS[self.engine]

    @model_validator(mode="after")
    def _serving_beside_warehouse(self) -> WeixiSettings:
        # Beside the warehouse, so that pointing WEIXI_WAREHOUSE elsewhere (a test, a second
        # shop) never publishes over another warehouse's serving files. Never None after this.
        if self.serving_dir is None:
            self.serving_dir = self.warehouse.parent / "serving"
        if self.reports_dir is None:
            self.reports_dir = self.warehouse.parent / "reports"
        if self.spark_raw_root is None:
            self.spark_raw_root = self.warehouse.parent / "spark_raw"
        if self.spark_server_dir is None:
            self.spark_server_dir = self.warehouse.parent / "spark_server"
        if self.erasure_requests_dir is None:
            self.erasure_requests_dir = self.landing / "_erasure_requests"
        # Where the data starts, so the UI shows no partitions before it as missing; a shop
        # that prunes old landing folders sets it, so that the partitions never move.
        if self.partition_start is None:
            self.partition_start = first_delivery_day(self.landing) or DEFAULT_PARTITION_START
        if self.duckdb_threads is None:
            self.duckdb_threads = os.cpu_count() or 1
        if self.duckdb_temp_directory is None:
            self.duckdb_temp_directory = self.warehouse.parent / "duckdb_tmp"
        return self

    def resolved(self) -> WeixiSettings:
        """A copy with absolute paths, so that subprocesses (dbt) see the same files."""
        return self.model_copy(
            update={
                "warehouse": self.warehouse.resolve(),
                "landing": self.landing.resolve(),
                "dagster_home": self.dagster_home.resolve(),
                "model_registry": self.model_registry.resolve(),
                "quality_docs": self.quality_docs.resolve(),
                "serving_dir": self.serving_dir.resolve(),
                "reports_dir": self.reports_dir.resolve(),
                "spark_raw_root": self.spark_raw_root.resolve(),
                "spark_server_dir": self.spark_server_dir.resolve(),
                "spark_warehouse_dir": self.spark_warehouse_dir.resolve(),
                "alert_log": self.alert_log.resolve(),
                "audiences_file": self.audiences_file.resolve(),
                "exports_dir": self.exports_dir.resolve(),
                "erasure_requests_dir": self.erasure_requests_dir.resolve(),
                "duckdb_temp_directory": self.duckdb_temp_directory.resolve(),
            }
        )

    def webhook_token_variable(self) -> str | None:
        """``WEIXI_WEBHOOK_TOKEN`` when the webhook token came from that environment variable,
        so resources can pass it as ``dg.EnvVar`` and Dagster's UI shows the name, not the
        secret."""
        name = "WEIXI_WEBHOOK_TOKEN"
        token = self.webhook_token.get_secret_value() if self.webhook_token else None
        return name if token is not None and os.environ.get(name) == token else None


@lru_cache(maxsize=1)
def get_settings() -> WeixiSettings:
    """The settings of this process, read once."""
    return WeixiSettings().resolved()


SHOP_FILES = {
    "WEIXI_WAREHOUSE": "warehouse.duckdb",
    "WEIXI_DAGSTER_HOME": "dagster_home",
    "WEIXI_QUALITY_DOCS": "quality_docs",
    "WEIXI_MODEL_REGISTRY": "models",
    "WEIXI_ALERT_LOG": "alerts.log",
    "WEIXI_EXPORTS_DIR": "exports",
}
"""Every setting naming a file a run writes, and its name in a shop's own folder; the serving
folder, the reports and DuckDB's spill folder follow the warehouse."""


def shop_environment(folder: Path) -> dict[str, str]:
    """The ``WEIXI_*`` variables that make a `weixi` process write only under ``folder``, as a
    second shop, a test or a benchmark keeps its files apart."""
    return {variable: str(folder / name) for variable, name in SHOP_FILES.items()}
