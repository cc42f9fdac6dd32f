"""The dbt resource: dbt, with the business parameters every invocation passes as ``--vars``
and the partition window it passes in the environment (see ``parse_cache``).

The parameters are fields of the resource, built from the settings in ``build_resources``, so a
run (or a test) that sets them on the resource is the run dbt sees; asset bodies never read the
settings themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.defs.dbt import in_process, parse_cache, target_folders
from orchestration.defs.dbt.project import DBT_EXECUTABLE, weixi_dbt_project
from orchestration.defs.duckdb_settings import DuckDBSettings
from orchestration.settings import DBT_PROJECT_DIR, WeixiSettings

PARSE_CACHE = DBT_PROJECT_DIR / "target" / "partial_parse"
_CLI_VERSIONS: dict[str, Any] = {}
"""The version of each dbt executable, asked once per process (see ``WeixiDbt._cli_version``)."""


class BusinessRules(dg.Config):
    """The business parameters dbt models read with ``var()``; their defaults live in the
    settings, and ``dbt_project.yml`` repeats them for a plain ``dbt build``."""

    silver_tier_spend: float
    gold_tier_spend: float
    at_risk_after_days: int
    churned_after_days: int
    loyal_min_orders: int
    loyal_min_tenure_days: int
    first_response_sla_hours: float
    resolution_sla_hours: float
    decision_maker_contact_days: int
    health_weight_recency: float
    health_weight_frequency: float
    health_weight_monetary: float
    health_weight_satisfaction: float
    health_weight_service: float
    health_weight_engagement: float
    health_weight_churn_risk: float
    churn_horizon_days: int
    churn_snapshot_step_days: int
    churn_training_snapshots: int

    @classmethod
    def from_settings(cls, settings: WeixiSettings) -> BusinessRules:
        """The configured values of ``settings``."""
        return cls(**settings.model_dump(include=set(cls.model_fields)))


def failed_data_tests(run_results: Mapping[str, Any]) -> list[str]:
    """The data tests that failed in a dbt invocation's ``run_results.json``, each with its
    count of failing rows; empty when anything else went wrong too (a model or a test that
    errored may be transient: the database busy, a killed process), so only a failure of the
    data itself is named."""
    results = run_results.get("results", [])
    if any(r.get("status") == "error" for r in results):
        return []
    return [
        f"{r['unique_id'].split('.')[2]} ({r.get('failures') or 0:,} failing rows)"
        for r in results
        if r.get("status") == "fail"
    ]


def dbt_vars(warehouse_path: str, rules: Mapping[str, Any]) -> dict[str, Any]:
    """The ``--vars`` of a dbt invocation: the warehouse file and the business parameters."""
    return {"warehouse_path": warehouse_path, **rules}


class WeixiDbt(DbtCliResource):
    """dbt on the Weixi project, with the business parameters and DuckDB settings of the run."""

    rules: BusinessRules
    duckdb: DuckDBSettings = DuckDBSettings()
    spark_remote: str | None = None
    """On Spark: the Spark Connect server dbt's `session` output builds on (``SPARK_REMOTE``
    of the dbt process: pyspark's session builder then connects there)."""
    target_folders_kept: int = 30
    """Invocation target folders kept after each build (see ``target_folders``)."""
    in_process: bool = False
    """Run dbt in this process (``in_process``); DuckDB targets only."""

    @property
    def _cli_version(self) -> Any:
        """The dbt version, which dagster-dbt asks by starting `dbt --version` (~2 s of CPU)
        once per resource object: Dagster makes one per step, so each dbt step paid it. The
        dbt installed beside this Python is this environment's dbt-core: its package says."""
        if self.dbt_executable not in _CLI_VERSIONS:
            _CLI_VERSIONS[self.dbt_executable] = (
                version.parse(metadata.version("dbt-core"))
                if self.dbt_executable == DBT_EXECUTABLE and Path(DBT_EXECUTABLE).is_absolute()
                else DbtCliResource._cli_version.func(self)
            )
        return _CLI_VERSIONS[self.dbt_executable]

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        """None: dagster-dbt makes a dbt adapter in this process for each invocation (0.4-1.5 s:
        dbt's profile and project loaded again) only for the metadata Weixi does not fetch
        (row counts and column schemas of the built tables); dbt itself runs as before."""
        return None

    def vars_for(self, warehouse_path: str, train_churn: bool = True) -> dict[str, Any]:
        """The ``--vars`` of an invocation on ``warehouse_path`` (see ``dbt_vars``); the DuckDB
        settings go as ``duckdb_<setting>``, which ``profiles.yml`` reads. Without
        ``train_churn`` the churn features hold only the scoring snapshot: the training ones
        cost most of that model and only a night that retrains the churn model reads them."""
        duckdb = {f"duckdb_{k}": v for k, v in self.duckdb.config().items()}
        rules = self.rules.model_dump()
        if not train_churn:
            rules["churn_training_snapshots"] = 0
        return dbt_vars(warehouse_path, {**rules, **duckdb})

    def build(
        self,
        context: dg.AssetExecutionContext,
        warehouse_path: str,
        window: tuple[date, date] | None = None,
        train_churn: bool = True,
    ) -> Iterator[Any]:
        """``dbt build`` of the models of ``context``'s assets, streaming their events; the
        incremental models read only the deliveries of ``window`` (inclusive days), all without;
        the churn training snapshots are built only with ``train_churn`` (see ``vars_for``).

        A build that failed only because data tests found bad rows fails naming them and is not
        retried: the same data fails the same tests again (a retry only delays the night's
        alert). Any other dbt failure is raised as it is, and retried."""
        variables = json.dumps(self.vars_for(warehouse_path, train_churn))
        key = parse_cache.cache_key(variables, self.target)
        target = target_folders.invocation_folder(
            context.op_execution_context.op.name, context.run.run_id
        )
        parse_cache.restore(PARSE_CACHE, key, Path(self.project_dir) / target)
        spark = spark_environment(self.spark_remote) if self.spark_remote else {}
        in_this_process = in_process.dbt_in_this_process() if self.in_process else nullcontext()
        # The window stays in the environment until dbt ends: dbt in this process reads it there.
        with (
            parse_cache.window_environment(window),
            parse_cache.process_environment(spark),
            in_this_process,
        ):
            invocation = self.cli(
                # Unit tests check the SQL, not the data: `make test` runs them
                # (tests/assets/test_dbt_resource.py), a run does not (dbt's advice).
                ["build", "--exclude-resource-type", "unit_test", "--vars", variables],
                context=context,
                raise_on_error=False,
                target_path=target,
            )
            yield from invocation.stream()
        parse_cache.keep(PARSE_CACHE, key, invocation.target_path)
        target_folders.prune(Path(self.project_dir) / "target", self.target_folders_kept)
        error = invocation.get_error()
        if error is None:
            return
        try:
            failed = failed_data_tests(invocation.get_artifact("run_results.json"))
        except (OSError, ValueError):
            failed = []
        if failed:
            raise dg.Failure(
                description=f"dbt data tests failed, not retried (fix the data, then re-run): "
                f"{'; '.join(failed)}",
                allow_retries=False,
            )
        raise error


def spark_environment(spark_remote: str) -> dict[str, str]:
    """The environment of a dbt process on the Spark Connect server ``spark_remote``.

    dbt-spark's session asks for Hive support, a static setting a Connect client cannot change:
    the server already has it, but pyspark warns about it at every statement, so that warning
    (only it) is silenced."""
    quiet = "ignore:Failed to set spark.sql.catalogImplementation"
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    return {"SPARK_REMOTE": spark_remote, "PYTHONWARNINGS": warnings}


def dbt_resource(settings: WeixiSettings) -> WeixiDbt:
    """The dbt resource of a run with ``settings``, building with its engine's dbt target."""
    return WeixiDbt(
        project_dir=weixi_dbt_project,
        dbt_executable=DBT_EXECUTABLE,
        target=settings.dbt_target,
        rules=BusinessRules.from_settings(settings),
        duckdb=DuckDBSettings.from_settings(settings),
        spark_remote=settings.spark_connect_url if settings.engine == "spark" else None,
        target_folders_kept=settings.dbt_target_folders_kept,
        in_process=settings.dbt_in_process and settings.engine == "duckdb",
    )
