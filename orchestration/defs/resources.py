"""Resources: the warehouse, the landing folder, the serving folder and dbt.

They are kept apart from the asset logic so that tests can point every asset at a DuckDB file
and landing folder of their own, and so that a run never opens the warehouse outside the
`connect()` block (DuckDB lets only one process hold the file for writing).

The warehouse is DuckDB's file (:class:`Warehouse`) or Spark's tables (:class:`SparkWarehouse`),
as ``WEIXI_ENGINE`` says. Both offer :class:`EngineWarehouse`, what the model assets need: a
query read as Arrow, as a pandas frame or in bounded batches, a table replaced, some rows of a
table replaced, and the reference date. Their SQL is written once, in the spelling both engines
read (docs/sql_portability.md), with named parameters written ``$name``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import PrivateAttr

from ingest.parquet_raw import ParquetRawStore
from ingest.row_rules import DeliveryRules
from ml import registry
from ml.churn import MODEL_NAME as CHURN_MODEL
from orchestration.defs.dbt.resource import dbt_resource
from orchestration.defs.duckdb_settings import DuckDBSettings, lowered_memory_limit
from orchestration.settings import WeixiSettings
from orchestration.warehouse_lock import writer_lock
from warehouse.spark_sources import (
    SourcePlan,
    manifest_sources,
    plan_sources,
    spark_readable_select,
)
from warehouse.spark_views import SparkReads
from warehouse.table_spec import TableSpec

WAREHOUSE_POOL = "weixi_warehouse"
"""Every asset that writes the warehouse runs in this pool; its limit of 1 keeps writers apart."""


class WarehouseLocked(dg.Failure):
    """Another process holds the warehouse file open (DuckDB lets no writer in meanwhile).

    Not retried: the holder is usually a notebook or BI tool left open, which a retry a minute
    later does not close. The message names the file and the holder's PID."""

    def __init__(self, path: str, holder: str, waited: float) -> None:
        super().__init__(
            description=(
                f"{path} is held open by {holder} (waited {waited:.0f} s); close that "
                f"connection (readers should open {SERVING_HINT} instead) and run again"
            ),
            allow_retries=False,
        )


SERVING_HINT = "the serving copy, serving/weixi.duckdb beside the warehouse"
_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def duckdb_lock_holder(error: duckdb.Error) -> str | None:
    """The process named in DuckDB's "Could not set lock on file" error, or None for any other
    error."""
    found = _DUCKDB_HOLDER.search(str(error))
    return f"PID {found[2]} ({found[1]})" if found else None


REFERENCE_DATE_TABLE = "intermediate.int_reference_date__selected"
Params = Mapping[str, object] | None
"""Named query parameters, written ``$name`` in the SQL."""
Views = Mapping[str, pa.Table] | None
"""Arrow tables a query reads by name, registered for that query only."""


class EngineWarehouse(dg.ConfigurableResource):
    """What the model assets need of the warehouse, on either engine. A read returns Arrow; a
    frame is the Arrow read converted as DuckDB's ``.df()`` converts (dates and timestamps as
    ``datetime64``, decimals as floats), so an asset sees the same frame on both engines."""

    batch_rows: int = 200_000
    """Rows per batch of :meth:`read_batches` and :meth:`read_frames` (DuckDB's frames come in
    whole vectors of 2,048 rows: ``batch_rows`` rounded down to them, at least one)."""
    materialized_cte: ClassVar[str] = ""
    """The keyword after ``name as`` that makes the engine compute a CTE once (DuckDB's
    ``materialized``; Spark plans CTEs itself)."""

    def read_arrow(self, sql: str, params: Params = None, views: Views = None) -> pa.Table:
        """The rows of ``sql``."""
        raise NotImplementedError

    def read_batches(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        """The rows of ``sql`` in batches of at most ``batch_rows``, never all in memory."""
        raise NotImplementedError

    def read_frame(self, sql: str, params: Params = None, views: Views = None) -> pd.DataFrame:
        """The rows of ``sql`` as a pandas frame (see the class)."""
        return frame_of(self.read_arrow(sql, params, views))

    def read_frames(self, sql: str, params: Params = None) -> Iterator[pd.DataFrame]:
        """The rows of ``sql`` as frames of at most ``batch_rows`` rows (see ``batch_rows``)."""
        for batch in self.read_batches(sql, params):
            yield frame_of(pa.Table.from_batches([batch]))

    def table_exists(self, table: str) -> bool:
        """Whether ``schema.table`` exists."""
        raise NotImplementedError

    def write_table(self, table: str, frame: pd.DataFrame | pa.Table) -> int:
        """Replace ``schema.table`` with ``frame``; a reader sees the old table or the new one.
        Returns the number of rows written."""
        raise NotImplementedError

    def write(self, spec: TableSpec, frame: pd.DataFrame) -> int:
        """Replace the table of ``spec`` with ``frame`` conformed to it (its columns, in order,
        with their types; a frame without rows gives the empty table). Returns the rows."""
        return self.write_table(spec.name, spec.conform(frame))

    def replace_rows(
        self, spec: TableSpec, frame: pd.DataFrame, where: str, params: Params = None
    ) -> None:
        """Delete the rows of ``spec``'s table that ``where`` selects and insert ``frame``'s,
        at once (the table is created from the spec when missing)."""
        raise NotImplementedError

    def reference_date(self) -> date:
        """The date the marts are computed as of (``int_reference_date__selected``): the
        as-of date of every model and the audience date."""
        table = self.read_arrow(f"select reference_date from {REFERENCE_DATE_TABLE}")
        return table.column(0)[0].as_py()

    def known_reference_date(self) -> date | None:
        """The reference date (see ``reference_date``), or None before dbt first built it."""
        return self.reference_date() if self.table_exists(REFERENCE_DATE_TABLE) else None

    def days_between(self, start: str, end: str) -> str:
        """SQL of the days from the date ``start`` to the date ``end`` (as the dbt macro)."""
        raise NotImplementedError

    @contextmanager
    def connect(
        self, read_only: bool = False, memory_limit: str | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection where the warehouse's tables read by ``schema.table``, closed on
        exit (DuckDB's file itself, or on Spark the control file with Spark's tables as views:
        ``warehouse.spark_views``). What it writes lands in that DuckDB file."""
        raise NotImplementedError
        yield

    def prepare_dbt_sources(self, control: Warehouse, manifest: Path) -> SourcePlan | None:
        """Make every source of the dbt ``manifest`` readable by dbt's target, from the control
        file ``control`` where the Python side writes them. On DuckDB nothing: the control file
        is the warehouse. Returns what was done, or None."""
        return None


def frame_of(table: pa.Table) -> pd.DataFrame:
    """``table`` as DuckDB's ``.df()`` gives a query's rows (see :class:`EngineWarehouse`)."""
    with duckdb.connect() as con:
        return con.from_arrow(table).df()


class Warehouse(EngineWarehouse):
    """The DuckDB warehouse file; a run holds its writer lock (see
    ``orchestration.warehouse_lock``) from start to end."""

    materialized_cte: ClassVar[str] = "materialized"

    path: str
    lock_wait_seconds: float = 30
    """How long ``connect()`` waits for another process to close the file before failing; long
    enough for the late-data sensor's quick look, short of a reader left open."""
    duckdb: DuckDBSettings = DuckDBSettings()
    """Memory limit, threads and spill folder of every connection (DuckDB refuses a second
    connection to the same file with other settings, so all connections share these)."""

    _run_lock: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Runs write; sensors and schedules only read, and must not queue behind a run.
        if context.dagster_run is None:
            return
        stack = ExitStack()
        stack.enter_context(
            writer_lock(
                Path(self.path),
                command=f"Dagster run {context.run_id} of {context.dagster_run.job_name}",
            )
        )
        self._run_lock = stack

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._run_lock is not None:
            self._run_lock.close()
            self._run_lock = None

    @contextmanager
    def connect(
        self, read_only: bool = False, memory_limit: str | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse, closed on exit. While another process holds the file
        (a reader left open blocks writers), wait up to ``lock_wait_seconds``, then raise
        WarehouseLocked naming the file and the holder's PID. A read-only connection does not
        wait (only a writer can block it, and the caller, the late-data sensor, looks again at
        its next tick).

        ``memory_limit`` (a size) lowers DuckDB's memory limit while the connection is open,
        never raises it (see ``duckdb_settings.lowered_memory_limit``)."""
        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        config = self.duckdb.config()
        patience = 0 if read_only else self.lock_wait_seconds
        began = time.monotonic()
        told = False
        while True:
            try:
                con = duckdb.connect(self.path, read_only=read_only, config=config)
                break
            except duckdb.IOException as exc:
                holder = duckdb_lock_holder(exc)
                if holder is None:
                    raise
                waited = time.monotonic() - began
                if waited >= patience:
                    raise WarehouseLocked(self.path, holder, waited) from None
                if not told:
                    dg.get_dagster_logger().warning(
                        f"{self.path} is held open by {holder}; waiting up to "
                        f"{self.lock_wait_seconds:.0f} s for it to close"
                    )
                    told = True
                time.sleep(0.25)
        try:
            with lowered_memory_limit(con, memory_limit, self.duckdb.memory_limit):
                yield con
        finally:
            con.close()

    def read_arrow(self, sql: str, params: Params = None, views: Views = None) -> pa.Table:
        with self.connect() as con:
            # A relation (con.sql): a DB-API result's Arrow is a second copy of the rows.
            return _registered(con, views).sql(sql, params=params or {}).to_arrow_table()

    def read_frame(self, sql: str, params: Params = None, views: Views = None) -> pd.DataFrame:
        with self.connect() as con:
            return _registered(con, views).execute(sql, params or {}).df()

    def read_batches(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        with self.connect() as con:
            yield from con.sql(sql, params=params or {}).to_arrow_reader(self.batch_rows)

    def read_frames(self, sql: str, params: Params = None) -> Iterator[pd.DataFrame]:
        # DuckDB's own chunks of its vectors (2,048 rows), converted as .df() converts.
        vectors = max(1, self.batch_rows // 2048)
        with self.connect() as con:
            result = con.execute(sql, params or {})
            while len(frame := result.fetch_df_chunk(vectors)):
                yield frame

    def table_exists(self, table: str) -> bool:
        schema, name = table.split(".")
        return bool(
            self.read_arrow(
                "select 1 from information_schema.tables "
                "where table_schema = $schema and table_name = $name",
                {"schema": schema, "name": name},
            ).num_rows
        )

    def days_between(self, start: str, end: str) -> str:
        return f"({end} - {start})"

    def replace_rows(
        self, spec: TableSpec, frame: pd.DataFrame, where: str, params: Params = None
    ) -> None:
        with self.connect() as con:
            spec.create(con)
            con.execute("begin")
            con.execute(f"delete from {spec.name} where {where}", params or {})
            con.register("_rows", frame)
            con.execute(f"insert into {spec.name} by name select * from _rows")
            con.unregister("_rows")
            con.execute("commit")

    def write_table(self, table: str, frame: pd.DataFrame | pa.Table) -> int:
        """Replace ``schema.table`` with ``frame`` in one transaction, so a reader sees either
        the old table or the new one. Returns the number of rows written."""
        schema = table.split(".")[0]
        with self.connect() as con:
            con.execute(f"create schema if not exists {schema}")
            con.execute("begin")
            con.register("_frame", frame)
            con.execute(f"create or replace table {table} as select * from _frame")
            con.unregister("_frame")
            con.execute("commit")
        return len(frame)

    def reference_date(self) -> date:
        with self.connect() as con:
            return reference_date_of(con)

    def known_reference_date(self) -> date | None:
        try:
            return self.reference_date()
        except duckdb.CatalogException:
            return None


def _registered(con: duckdb.DuckDBPyConnection, views: Views) -> duckdb.DuckDBPyConnection:
    for name, table in (views or {}).items():
        con.register(name, table)
    return con


def reference_date_of(con: duckdb.DuckDBPyConnection) -> date:
    """The reference date of the warehouse ``con`` is connected to (see
    ``Warehouse.reference_date``)."""
    return con.execute(f"select reference_date from {REFERENCE_DATE_TABLE}").fetchone()[0]


class SparkWarehouse(EngineWarehouse):
    """The warehouse as Spark tables (``WEIXI_ENGINE=spark``), through one SparkSession: the
    process's active one when it has one (the Spark lane's), else a session of its own on
    ``master`` (``local[N]`` or a cluster) or, with ``connect_url``, a Spark Connect session.
    Tables are replaced whole (``saveAsTable`` in overwrite mode); pyspark is imported only
    here (``warehouse.spark``), so the DuckDB engine runs without it."""

    master: str = "local[2]"
    connect_url: str | None = None
    warehouse_dir: str
    driver_memory: str = "2g"
    control_path: str
    """The control file: the local DuckDB file the loader, the consent ledger, the checks and
    activation write (the ``control`` resource's), which :meth:`connect` opens and whose dbt
    sources are copied to Spark before each dbt invocation."""
    duckdb: DuckDBSettings = DuckDBSettings()
    """The settings of :meth:`connect`'s DuckDB connections (see ``Warehouse.duckdb``)."""
    raw_root: str | None = None
    """The loader's Parquet copy of the raw tables (``spark_raw_root``), registered in Spark."""
    reads: SparkReads = "auto"
    """How :meth:`connect` reads Spark's tables (``spark_reads``): ``auto``, a local Parquet
    table from its files and any other through Spark; ``through_spark``, every table."""

    _control_run: Warehouse | None = PrivateAttr(default=None)

    def _control(self) -> Warehouse:
        return Warehouse(path=self.control_path, duckdb=self.duckdb)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # A run writes the control file through connect(): it holds the file's writer lock
        # from start to end, as a run on DuckDB holds the warehouse's.
        self._control_run = self._control()
        self._control_run.setup_for_execution(context)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._control_run is not None:
            self._control_run.teardown_after_execution(context)
            self._control_run = None

    def _spark(self):
        from warehouse import spark

        return spark.SparkTables(
            spark.session(self.master, self.connect_url, self.warehouse_dir, self.driver_memory)
        )

    @contextmanager
    def connect(
        self, read_only: bool = False, memory_limit: str | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the control file (as ``Warehouse.connect``: the same wait for another
        holder and settings) in which Spark's tables read by ``schema.table``, but those the
        control file holds itself: as views over their Parquet files, or streamed through Spark
        when a query reads them (``reads``; ``warehouse.spark_views``). What it writes lands in
        the control file."""
        log = dg.get_dagster_logger()
        # Told from DuckDB's threads, logged from this one: Dagster's event log is written by
        # the thread that opened it (SQLite refuses any other).
        scans: list[tuple[str, int, float]] = []

        def on_read(table: str, rows: int, seconds: float) -> None:
            scans.append((table, rows, seconds))

        with self._control().connect(read_only, memory_limit) as con:
            with self._spark().exposed_to(con, self.reads, self.batch_rows, on_read) as reads:
                log.info(
                    f"connect() (spark_reads={self.reads}): {len(reads.streams)} Spark tables "
                    f"through Spark, {len(reads.unreadable)} unreadable"
                    + "".join(f"; {table}: {why}" for table, why in reads.unreadable.items())
                )
                try:
                    yield con
                finally:
                    if scans:
                        log.info(streams_read(scans))

    def read_arrow(self, sql: str, params: Params = None, views: Views = None) -> pa.Table:
        return self._spark().read_arrow(sql, params, views)

    def read_batches(self, sql: str, params: Params = None) -> Iterator[pa.RecordBatch]:
        return self._spark().read_batches(sql, params, self.batch_rows)

    def table_exists(self, table: str) -> bool:
        return self._spark().table_exists(table)

    def write_table(self, table: str, frame: pd.DataFrame | pa.Table) -> int:
        return self._spark().write_table(table, frame)

    def replace_rows(
        self, spec: TableSpec, frame: pd.DataFrame, where: str, params: Params = None
    ) -> None:
        self._spark().replace_rows(spec, frame, where, params)

    def days_between(self, start: str, end: str) -> str:
        return f"datediff({end}, {start})"

    def prepare_dbt_sources(self, control: Warehouse, manifest: Path) -> SourcePlan:
        """Bridge 1 (``warehouse.spark_sources``): the raw Parquet day folders registered as
        tables, every other source the control file holds copied whole, the model assets'
        tables left as they are on Spark."""
        sources = manifest_sources(manifest)
        plan = plan_sources(sources, Path(self.raw_root) if self.raw_root else None)
        tables = self._spark()
        for table, folder in plan.registered.items():
            tables.register_parquet(table, folder)
        for table in plan.copied:
            rows = control_rows(control, table)
            if rows is not None:
                tables.write_table(table, rows)
        return plan


def streams_read(scans: list[tuple[str, int, float]]) -> str:
    """What a ``connect()`` read through Spark: each ``(table, rows, seconds)`` scan read to its
    end, summed, then by table."""
    tables: dict[str, list[tuple[int, float]]] = {}
    for table, rows, seconds in scans:
        tables.setdefault(table, []).append((rows, seconds))
    by_table = "; ".join(
        f"{table} {len(read)}x {sum(r for r, _ in read):,} rows {sum(s for _, s in read):.2f} s"
        for table, read in sorted(tables.items())
    )
    rows = sum(rows for _, rows, _ in scans)
    seconds = sum(seconds for _, _, seconds in scans)
    return (
        f"connect(): {len(scans)} reads through Spark, {rows:,} rows in {seconds:.2f} s: {by_table}"
    )


def control_rows(control: Warehouse, table: str) -> pa.Table | None:
    """The rows of ``schema.table`` in the control file, in types Spark reads, or None when the
    file has no such table."""
    schema, name = table.split(".")
    with control.connect() as con:
        columns = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
        )
        if not columns:
            return None
        return con.sql(f"select {spark_readable_select(columns)} from {table}").to_arrow_table()


class Models(dg.ConfigurableResource):
    """The model registry folder (see ``ml.registry``) and the models' business parameters (the
    "Prediction" block of the settings), so a model asset reads every value from here."""

    root: str
    retrain_every_days: int = 7
    churn_horizon_days: int = 90
    churn_medium_risk_probability: float = 0.4
    churn_high_risk_probability: float = 0.7
    ltv_horizon_months: int = 12
    ltv_annual_discount_rate: float = 0.10
    value_matrix_high_quantile: float = 0.5
    recommendations_per_customer: int = 10

    @property
    def path(self) -> Path:
        return Path(self.root)

    def cadence(self, model: str, reference: date) -> registry.Cadence:
        """Whether ``model`` is retrained as of ``reference`` or scored with its promoted
        version (see ``ml.registry.cadence``)."""
        return registry.cadence(self.path, model, reference, self.retrain_every_days)

    def churn_cadence(self, reference: date | None) -> registry.Cadence:
        """Whether the churn model retrains as of ``reference``. The churn model asset and the
        dbt build (which builds the churn training snapshots only when this says so) both ask
        here, so the feature table holds training snapshots exactly on the nights the model
        trains. ``None``: the warehouse has no reference date yet (first build), so train."""
        if reference is None:
            return registry.Cadence(True, "the warehouse has no reference date yet", None)
        return self.cadence(CHURN_MODEL, reference)


class Quality(dg.ConfigurableResource):
    """Where the data checks put Data Docs, how old a source's last delivery may get, the shop's
    timezone (timestamps are shop time) and where failed runs are reported."""

    docs: str
    source_freshness_hours: float
    timezone: str
    alert_log: str
    alert_webhook_url: str | None = None

    @property
    def docs_path(self) -> Path:
        return Path(self.docs)


class Landing(dg.ConfigurableResource):
    """The landing folder: ``<root>/<source>/<YYYY-MM-DD>/<files>``, the shop's limits on
    what a delivered row may hold, and DuckDB's memory limit while loading."""

    root: str
    max_amount: float = 1_000_000
    max_quantity: int = 10_000
    future_tolerance_hours: float = 1
    timezone: str = "Asia/Shanghai"
    memory_limit: str | None = None
    """DuckDB's memory limit while loading (see ``Warehouse.connect``); None keeps the
    warehouse's."""
    parquet_raw_root: str | None = None
    """On Spark: where the loader also writes the raw tables as Parquet day folders (see
    ``ingest.parquet_raw``); None (DuckDB) writes nothing more."""

    @property
    def path(self) -> Path:
        return Path(self.root)

    def parquet_store(self) -> ParquetRawStore | None:
        """The Parquet copy of the raw tables the loader and the erasures keep, if any."""
        return (
            None if self.parquet_raw_root is None else ParquetRawStore(Path(self.parquet_raw_root))
        )

    def rules(self) -> DeliveryRules:
        return DeliveryRules(
            max_amount=self.max_amount,
            max_quantity=self.max_quantity,
            future_tolerance_hours=self.future_tolerance_hours,
            timezone=self.timezone,
        )


class Serving(dg.ConfigurableResource):
    """The serving folder BI tools read: ``weixi.duckdb`` and ``parquet/current/``."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


class Reports(dg.ConfigurableResource):
    """The folder of the nightly HTML reports (``weixi_report_<reference date>.html``) and the
    shop's timezone, in which a report says when it was made."""

    root: str
    timezone: str = "Asia/Shanghai"

    @property
    def path(self) -> Path:
        return Path(self.root)


class ErasureRequests(dg.ConfigurableResource):
    """The folder of right-to-be-forgotten request files (``weixi forget`` writes there)."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)


class Destinations(dg.ConfigurableResource):
    """Where audience exports go: the exports folder and the webhook (URL, bearer token and
    retry policy; all from settings, so the URL and token stay in the environment)."""

    exports_dir: str
    exports_kept_days: int = 30
    webhook_url: str | None = None
    webhook_token: str | None = None
    webhook_batch_size: int = 500
    webhook_timeout_seconds: float = 10
    webhook_max_attempts: int = 5
    webhook_backoff_seconds: float = 1

    @property
    def exports_path(self) -> Path:
        return Path(self.exports_dir)


class Audiences(dg.ConfigurableResource):
    """The audience registry file, the frequency cap, the control-group share, where the
    account-manager task lists go (settings of the "Activation" block), and the days without a
    purchase after which the lift counts a customer as churned."""

    definitions_file: str
    frequency_cap_contacts: int = 2
    frequency_cap_days: int = 7
    holdout_share: float = 0.10
    exports_dir: str
    churned_after_days: int = 365

    @property
    def exports_path(self) -> Path:
        return Path(self.exports_dir)


def _webhook_token(settings: WeixiSettings) -> str | dg.EnvVar | None:
    # From the environment it stays an EnvVar, so the Dagster UI never shows the secret.
    variable = settings.webhook_token_variable()
    if variable:
        return dg.EnvVar(variable)
    return settings.webhook_token.get_secret_value() if settings.webhook_token else None


def warehouse_resource(settings: WeixiSettings) -> EngineWarehouse:
    """The warehouse of ``settings.engine``: DuckDB's file or Spark's tables."""
    if settings.engine == "spark":
        return SparkWarehouse(
            master=settings.spark_master,
            connect_url=settings.spark_connect_url,
            warehouse_dir=str(settings.spark_warehouse_dir),
            driver_memory=settings.spark_driver_memory,
            batch_rows=settings.score_batch_rows,
            control_path=str(settings.warehouse),
            duckdb=DuckDBSettings.from_settings(settings),
            raw_root=str(settings.spark_raw_root),
            reads=settings.spark_reads,
        )
    return duckdb_warehouse(settings)


def duckdb_warehouse(settings: WeixiSettings) -> Warehouse:
    """The DuckDB file of ``settings``: the warehouse on DuckDB; on Spark, the control file
    (the resource ``control``): the loader's working copy of the raw tables and its log, the
    consent ledger, text sentiment, check results and activation logs (docs/scale_out.md)."""
    return Warehouse(
        path=str(settings.warehouse),
        duckdb=DuckDBSettings.from_settings(settings),
        batch_rows=settings.score_batch_rows,
    )


def build_resources(settings: WeixiSettings) -> dict[str, dg.ConfigurableResource]:
    """The resources of a Weixi run for ``settings``."""
    return {
        "warehouse": warehouse_resource(settings),
        # The same file as `warehouse` on DuckDB (its writer lock is re-entrant per process).
        "control": duckdb_warehouse(settings),
        "landing": Landing(
            root=str(settings.landing),
            max_amount=settings.max_amount,
            max_quantity=settings.max_quantity,
            future_tolerance_hours=settings.future_tolerance_hours,
            timezone=settings.timezone,
            memory_limit=settings.load_memory_limit,
            parquet_raw_root=str(settings.spark_raw_root) if settings.engine == "spark" else None,
        ),
        "serving": Serving(root=str(settings.serving_dir)),
        "reports": Reports(root=str(settings.reports_dir), timezone=settings.timezone),
        "models": Models(
            root=str(settings.model_registry),
            retrain_every_days=settings.retrain_every_days,
            churn_horizon_days=settings.churn_horizon_days,
            churn_medium_risk_probability=settings.churn_medium_risk_probability,
            churn_high_risk_probability=settings.churn_high_risk_probability,
            ltv_horizon_months=settings.ltv_horizon_months,
            ltv_annual_discount_rate=settings.ltv_annual_discount_rate,
            value_matrix_high_quantile=settings.value_matrix_high_quantile,
            recommendations_per_customer=settings.recommendations_per_customer,
        ),
        "quality": Quality(
            docs=str(settings.quality_docs),
            source_freshness_hours=settings.source_freshness_hours,
            timezone=settings.timezone,
            alert_log=str(settings.alert_log),
            alert_webhook_url=settings.alert_webhook_url,
        ),
        "erasure_requests": ErasureRequests(root=str(settings.erasure_requests_dir)),
        "destinations": Destinations(
            exports_dir=str(settings.exports_dir),
            exports_kept_days=settings.exports_kept_days,
            webhook_url=settings.webhook_url,
            webhook_token=_webhook_token(settings),
            webhook_batch_size=settings.webhook_batch_size,
            webhook_timeout_seconds=settings.webhook_timeout_seconds,
            webhook_max_attempts=settings.webhook_max_attempts,
            webhook_backoff_seconds=settings.webhook_backoff_seconds,
        ),
        "audiences": Audiences(
            definitions_file=str(settings.audiences_file),
            frequency_cap_contacts=settings.frequency_cap_contacts,
            frequency_cap_days=settings.frequency_cap_days,
            holdout_share=settings.holdout_share,
            exports_dir=str(settings.exports_dir),
            churned_after_days=settings.churned_after_days,
        ),
        "dbt": dbt_resource(settings),
    }
