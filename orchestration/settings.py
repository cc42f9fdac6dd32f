"""Weixi's one typed settings object: paths and business parameters.

Every value can be set by an environment variable named ``WEIXI_<FIELD>`` (for example
``WEIXI_WAREHOUSE=/srv/weixi/warehouse.duckdb``) or in a ``.env`` file in the working folder.
Nothing else in Weixi reads the environment.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class WeixiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEIXI_", env_file=".env", extra="ignore")

    warehouse: Path = Field(
        PROJECT_ROOT / "data" / "warehouse.duckdb", description="DuckDB warehouse file"
    )
    landing: Path = Field(
        PROJECT_ROOT / "data" / "landing",
        description="landing folder: <landing>/<source>/<YYYY-MM-DD>/<files>",
    )
    partition_start: date = Field(date(2024, 1, 1), description="first day of the daily partitions")
    timezone: str = Field("Asia/Shanghai", description="timezone of the nightly schedule")
    nightly_hour: int = Field(2, ge=0, le=23, description="hour the nightly run starts")
    nightly_minute: int = Field(0, ge=0, le=59, description="minute the nightly run starts")
    dagster_home: Path = Field(
        PROJECT_ROOT / "data" / "dagster_home",
        description="Dagster instance folder: run history of `weixi` commands and `make dev`",
    )

    silver_tier_spend: float = Field(10_000, description="trailing-12-month spend for silver")
    gold_tier_spend: float = Field(20_000, description="trailing-12-month spend for gold")
    at_risk_after_days: int = Field(120, description="days without a purchase: at risk")
    churned_after_days: int = Field(365, description="days without a purchase: churned")
    loyal_min_orders: int = Field(5, description="orders that make a long-term buyer loyal")
    loyal_min_tenure_days: int = Field(365, description="tenure that makes a buyer loyal")
    first_response_sla_hours: float = Field(24, description="complaint first-reply SLA")
    received_sla_hours: float = Field(1, description="complaint acknowledgement SLA")

    def resolved(self) -> WeixiSettings:
        """A copy with absolute paths, so that subprocesses (dbt) see the same files."""
        return self.model_copy(
            update={
                "warehouse": self.warehouse.resolve(),
                "landing": self.landing.resolve(),
                "dagster_home": self.dagster_home.resolve(),
            }
        )

    def dbt_business_vars(self) -> dict[str, object]:
        """The business parameters dbt models read with ``var()``."""
        return {
            "silver_tier_spend": self.silver_tier_spend,
            "gold_tier_spend": self.gold_tier_spend,
            "at_risk_after_days": self.at_risk_after_days,
            "churned_after_days": self.churned_after_days,
            "loyal_min_orders": self.loyal_min_orders,
            "loyal_min_tenure_days": self.loyal_min_tenure_days,
            "first_response_sla_hours": self.first_response_sla_hours,
            "received_sla_hours": self.received_sla_hours,
        }


@lru_cache(maxsize=1)
def get_settings() -> WeixiSettings:
    """The settings of this process, read once."""
    return WeixiSettings().resolved()
