"""The `weixi` command: generate demo data, run the pipeline, backfill a range, render the contract.

Errors meant for the user are one line (what, where, what to do); a traceback only appears with
``--debug``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, WeixiSettings, get_settings

if TYPE_CHECKING:
    import dagster as dg

    from orchestration.stages import StopSignals
    from warehouse.spark_server import SparkServer

OUTPUT_TABLES = (
    "customer_360",
    "customer_rfm",
    "customer_segments",
    "customer_value",
    "customer_personas",
    "churn_scores",
    "recommendations",
    "product_associations",
    "fct_orders",
    "kpi_daily",
    "audience_members",
    "account_manager_tasks",
    "activation_syncs",
    "campaign_lift",
)

WAIT_HELP = (
    "When another run is writing the warehouse, wait for it to finish "
    "[default: fail at once, naming it]."
)


class UserError(click.ClickException):
    """An error with a message for the user and no traceback."""


def _yesterday(settings: WeixiSettings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date() - timedelta(days=1)


def refuse_spark_without_server(settings: WeixiSettings, command: str) -> None:
    """On Spark, stop ``command`` unless a Spark Connect server is named: dbt and the Python
    assets of a run all talk to that one server (a session per process would each start a
    JVM of its own, on the same metastore)."""
    if settings.engine != "spark" or settings.spark_connect_url:
        return
    raise UserError(
        f"WEIXI_ENGINE=spark: `weixi {command}` needs a Spark Connect server, and "
        "WEIXI_SPARK_CONNECT_URL is not set. Point it at your cluster's (sc://host:15002), or "
        "start one on this machine with `weixi spark-server start` and set "
        f"WEIXI_SPARK_CONNECT_URL=sc://localhost:{settings.spark_server_port}"
    )


def _say(message: str) -> None:
    click.echo(f"[{datetime.now():%H:%M:%S}] {message}", err=True)


def landing_dates(landing: Path) -> list[date]:
    """The delivery days present in a landing folder, over the sources' folders.

    Raises UserError naming any entry of a source folder that is not a day folder
    ``YYYY-MM-DD`` (``20261201`` too): its deliveries would never be read."""
    from ingest.contract import SOURCES
    from ingest.landing import day_of_folder, odd_source_entries

    known = {source.name for source in SOURCES}
    for folder in sorted(landing.iterdir()):
        if folder.is_dir() and folder.name not in known and folder.name[0] not in "._":
            _say(
                f"warning: {folder} is not a source folder ({', '.join(sorted(known))}); "
                "it is not loaded"
            )
    odd = [path for source in SOURCES for path in odd_source_entries(landing, source)]
    if odd:
        raise UserError(
            f"{', '.join(map(str, odd))}: not a delivery day folder (expected "
            "<landing>/<source>/<YYYY-MM-DD>/); rename or remove it"
        )
    return sorted(
        {
            day
            for source in SOURCES
            if (landing / source.name).is_dir()
            for folder in (landing / source.name).iterdir()
            if (day := day_of_folder(folder.name)) is not None
        }
    )


class _Commands(click.Group):
    """Turns unexpected exceptions into one line, unless --debug asks for the traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise UserError(
                f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
            ) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--warehouse",
    type=click.Path(path_type=Path),
    help="DuckDB warehouse file [default: data/warehouse.duckdb, or WEIXI_WAREHOUSE].",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.pass_context
def main(ctx: click.Context, warehouse: Path | None, debug: bool) -> None:
    """Weixi (维系): customer-retention data platform.

    \b
    Typical use:
      weixi generate                       demo data into data/landing
      weixi run                            the whole pipeline over every landing day
      weixi backfill --start 2025-01-01 --end 2025-03-31
    Settings come from WEIXI_* environment variables (see README).
    """
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    if warehouse is not None:
        # Flags are one more way of giving settings; the settings object stays the one reader.
        os.environ["WEIXI_WAREHOUSE"] = str(warehouse.resolve())
        get_settings.cache_clear()
    ctx.obj = {"debug": debug}


@main.command()
@click.option("--customers", default=5000, show_default=True, help="Number of customers.")
@click.option("--days", default=730, show_default=True, help="Number of delivery days.")
@click.option(
    "--end-date",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last delivery day [default: yesterday in the shop's timezone].",
)
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same data).")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Landing folder to write [default: data/landing, or WEIXI_LANDING].",
)
def generate(
    customers: int, days: int, end_date: datetime | None, seed: int, out: Path | None
) -> None:
    """Generate realistic demo deliveries for the four sources."""
    from demo_data import GeneratorConfig, NotDemoData
    from demo_data import generate as generate_data

    settings = get_settings()
    if customers < 1 or days < 1:
        raise UserError("--customers and --days must be at least 1")
    config = GeneratorConfig(
        out=(out or settings.landing).resolve(),
        customers=customers,
        days=days,
        end_date=end_date.date() if end_date else _yesterday(settings),
        seed=seed,
    )
    _say(f"generating {customers:,} customers over {days} days into {config.out}")
    try:
        summary = generate_data(config, progress=_say)
    except NotDemoData as exc:
        raise UserError(str(exc)) from None
    click.echo(str(summary))


def _resolve_range(
    landing: Path, start: date | None, end: date | None, settings: WeixiSettings
) -> tuple[date, date]:
    if not landing.is_dir():
        raise UserError(
            f"{landing}: landing folder not found; run `weixi generate` or give "
            "--landing <folder with <source>/<YYYY-MM-DD>/ deliveries>"
        )
    days = landing_dates(landing)
    if not days and (start is None or end is None):
        raise UserError(f"{landing}: no delivery folders <source>/<YYYY-MM-DD>/ found")
    start = start or days[0]
    end = end or days[-1]
    if start > end:
        raise UserError(f"--start {start} is after --end {end}")
    if start < settings.partition_start:
        raise UserError(
            f"{start} is before the first partition {settings.partition_start}; set "
            f"WEIXI_PARTITION_START={start} (or earlier) and run again"
        )
    last = _yesterday(settings)
    if end > last:
        raise UserError(
            f"{end} has no partition yet: the last complete day in "
            f"{settings.timezone} is {last}; use --end {last} or earlier"
        )
    return start, end


def _print_outputs(settings: WeixiSettings, run_ids: list[str]) -> None:
    import duckdb

    from serving.snapshot import SERVING_DATABASE

    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        built = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        for table in OUTPUT_TABLES:
            if table in built:
                count = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
                click.echo(f"  marts.{table:<22} {count:>10,} rows")
        quarantined = con.execute("select count(*) from raw._quarantine").fetchone()[0]
        click.echo(f"  {'raw._quarantine':<28} {quarantined:>10,} rows")
        checked = (0, 0, 0)
        if con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'data_quality_runs'"
        ).fetchone()[0]:
            checked = con.execute(
                "select count(*), sum(checks_passed), sum(checks_failed - blocking_failures) "
                "from marts.data_quality_runs where list_contains(?, run_id)",
                [run_ids],
            ).fetchone()
    if checked[0]:
        click.echo(
            f"  data quality: {checked[0]} sources and tables checked, {checked[1]:,} rules "
            f"passed, {checked[2]:,} warnings (marts.data_quality_runs); Data Docs: "
            f"{settings.quality_docs / 'index.html'}"
        )
    serving = settings.serving_dir / SERVING_DATABASE
    if serving.exists():
        click.echo(f"BI tools read {serving} (read-only) and {serving.parent / 'parquet/current'}/")
    if settings.exports_dir.exists():
        click.echo(f"Audience files and task lists: {settings.exports_dir}/<date>/")
    from reporting.page import REPORT_NAME

    reports = sorted(settings.reports_dir.glob(REPORT_NAME.format(reference_date="*")))
    if reports:
        click.echo(f"Nightly report: {reports[-1]}")


def execute_range(
    start: date,
    end: date,
    debug: bool,
    record: bool,
    wait: bool = False,
    up_to: tuple[str, ...] = (),
) -> None:
    """Materialise every asset for the days ``start``..``end``: each asset runs once, the
    partitioned ones over the whole range (see `orchestration.stages`).

    The runs end up in the Dagster instance that the UI shows (``weixi dev``): by default they
    run on a throw-away instance, which skips Dagster's bookkeeping while they work, and are
    copied into it afterwards, failed or stopped ones too; with ``record`` they run on it, so
    the UI follows them live.

    The whole range holds the warehouse's writer lock: another run of the same warehouse makes
    this one fail at once naming it, or with ``wait`` wait for it. SIGTERM or Ctrl-C stops the
    range after rolling back the step in progress, with exit status 143 or 130."""
    from orchestration.stages import Stopped, StopSignals
    from orchestration.warehouse_lock import WarehouseBusy, writer_lock

    settings = get_settings()
    try:
        with StopSignals() as stop, writer_lock(settings.warehouse, wait=wait, on_wait=_say):
            _run_stages(settings, start, end, debug, record, stop, up_to)
    except WarehouseBusy as exc:
        raise UserError(str(exc)) from None
    except Stopped as exc:
        click.echo(
            f"weixi: stopped by {exc}: the step in progress was rolled back and no further step "
            "ran; run the same command again to finish (loads are idempotent)",
            err=True,
        )
        raise click.exceptions.Exit(exc.exit_code) from None


def _run_stages(
    settings: WeixiSettings,
    start: date,
    end: date,
    debug: bool,
    record: bool,
    stop: StopSignals,
    up_to: tuple[str, ...],
) -> None:
    from orchestration.defs.dbt.project import prepare_manifest

    _say("parsing the dbt project")
    prepare_manifest()

    from orchestration.definitions import defs
    from orchestration.defs.schedules import NIGHTLY_JOB
    from orchestration.instance import copy_runs, throwaway_instance, weixi_instance
    from orchestration.stages import run_range

    definitions = defs()
    targets = _asset_keys(definitions, up_to)
    if targets:
        # dbt's default (eager) would also run the tests linking a selected model to one outside
        # the selection, which may not exist yet; buildable runs those whose tables are all built.
        os.environ.setdefault("DBT_INDIRECT_SELECTION", "buildable")
    persistent = weixi_instance(settings)
    instance = persistent if record else throwaway_instance()
    days = (end - start).days + 1
    _say(f"running {start} .. {end} ({days} day{'s' * (days > 1)}) into {settings.warehouse}")
    began = time.monotonic()
    try:
        results = list(
            run_range(
                definitions,
                start,
                end,
                instance,
                job_name=NIGHTLY_JOB,
                raise_on_error=debug,
                stop=stop,
                up_to=targets,
            )
        )
    finally:
        if instance is not persistent:
            # Failed and stopped runs too: the UI shows what happened, not only successes.
            copying = time.monotonic()
            copy_runs(instance, persistent)
            recorded = time.monotonic() - copying
    if instance is not persistent:
        _say(f"runs recorded in {settings.dagster_home} for `weixi dev` in {recorded:,.1f} s")
    for result in results:
        if not result.success:
            _report_failure(result)
    _say(f"done in {time.monotonic() - began:,.0f} s")
    _print_outputs(settings, [result.run_id for result in results])


def _asset_keys(definitions: dg.Definitions, names: tuple[str, ...]) -> list[dg.AssetKey]:
    """The asset keys named ``schema/table``; an unknown name is refused with the known ones."""
    import dagster as dg

    known = definitions.resolve_asset_graph().materializable_asset_keys
    keys = [dg.AssetKey.from_user_string(name) for name in names]
    unknown = [name for name, key in zip(names, keys, strict=True) if key not in known]
    if unknown:
        listing = ", ".join(sorted(key.to_user_string() for key in known))
        raise UserError(f"no asset named {', '.join(unknown)}; the assets are: {listing}")
    return keys


def _report_failure(result: dg.ExecuteInProcessResult) -> None:
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            message = data.user_failure_data.description
        else:
            message = data.error.message.strip() if data.error else "unknown error"
        click.echo(f"weixi: step {event.step_key} failed: {message}", err=True)
    raise UserError(
        f"run {result.run_id} failed; see the messages above, fix the cause and "
        "run the same command again (loads are idempotent)"
    )


@main.command()
@click.option(
    "--landing",
    type=click.Path(path_type=Path),
    help="Landing folder [default: data/landing, or WEIXI_LANDING].",
)
@click.option(
    "--start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day [default: first day in the landing folder].",
)
@click.option(
    "--end",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last day [default: last day in the landing folder].",
)
@click.option(
    "--record",
    is_flag=True,
    help="Run on the Dagster UI's instance, so the UI follows the run live (slower for long "
    "ranges: Dagster writes to it after every step and day). Without it the runs show in "
    "the UI once they end.",
)
@click.option(
    "--up-to",
    "up_to",
    multiple=True,
    metavar="ASSET",
    help="Only this asset (e.g. marts/customer_rfm) and the assets it needs, with their checks; "
    "repeatable.",
)
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@click.pass_context
def run(
    ctx: click.Context,
    landing: Path | None,
    start: datetime | None,
    end: datetime | None,
    record: bool,
    up_to: tuple[str, ...],
    wait: bool,
) -> None:
    """Run the whole pipeline over a landing folder: every day in it, or --start/--end.

    One run writes a warehouse at a time; SIGTERM or Ctrl-C stops the run (exit status 143 or
    130) without committing the step in progress."""
    if landing is not None:
        os.environ["WEIXI_LANDING"] = str(landing.resolve())
        get_settings.cache_clear()
    settings = get_settings()
    refuse_spark_without_server(settings, "run")
    first, last = _resolve_range(
        settings.landing, start and start.date(), end and end.date(), settings
    )
    execute_range(first, last, ctx.obj["debug"], record, wait, up_to)


@main.command()
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True, help="First day.")
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Last day.")
@click.option(
    "--landing",
    type=click.Path(path_type=Path),
    help="Landing folder [default: data/landing, or WEIXI_LANDING].",
)
@click.option(
    "--record", is_flag=True, help="Run on the Dagster UI's instance (see `weixi run --help`)."
)
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@click.pass_context
def backfill(
    ctx: click.Context,
    start: datetime,
    end: datetime,
    landing: Path | None,
    record: bool,
    wait: bool,
) -> None:
    """Materialise a date range: each asset runs once over the whole range (a single-run
    backfill); days are replaced, so re-running a range is safe."""
    ctx.invoke(run, landing=landing, start=start, end=end, record=record, wait=wait)


@main.command()
@click.argument("customer_ids", nargs=-1, required=True)
@click.option("--reason", default="", help="Why (kept as evidence; no personal data).")
def forget(customer_ids: tuple[str, ...], reason: str) -> None:
    """Right to be forgotten: request the erasure of CUSTOMER_IDS (takes effect in the next
    run, which removes them from every output and export and deletes their CRM rows)."""
    from zoneinfo import ZoneInfo

    from activation.suppressions import write_erasure_request

    settings = get_settings()
    now = datetime.now(ZoneInfo(settings.timezone)).replace(tzinfo=None, microsecond=0)
    path = write_erasure_request(settings.erasure_requests_dir, list(customer_ids), now, reason)
    click.echo(
        f"erasure requested for {len(customer_ids):,} customer(s) in {path}; it takes effect "
        "in the next run (weixi run, or the nightly job): they leave every mart and export, "
        "their CRM rows are deleted, and destinations that support removal get one"
    )


DOCS_TARGET = Path("target") / "docs"
"""Where `weixi docs` lets dbt write, apart from the manifest the code location reads."""


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder dbt writes the page and its catalog.json to [default: dbt_project/target/docs].",
)
def docs(out: Path | None) -> None:
    """Build the dbt docs as one self-contained page (dbt_project/target/docs/static_index.html):
    every model and source with its columns and descriptions, the lineage, and the catalogue of
    the warehouse's tables. Opens offline; `make docs` runs it. On Spark, the catalogue is the
    Spark Connect server's (WEIXI_SPARK_CONNECT_URL)."""
    import json

    from orchestration.defs.dbt.parse_cache import process_environment
    from orchestration.defs.dbt.resource import dbt_resource, spark_environment

    settings = get_settings()
    refuse_spark_without_server(settings, "docs")
    if settings.engine == "duckdb" and not settings.warehouse.exists():
        raise UserError(f"{settings.warehouse}: no warehouse yet; run `weixi run` first")
    dbt = dbt_resource(settings)
    variables = json.dumps(dbt.vars_for(str(settings.warehouse)))
    target = out.resolve() if out else DOCS_TARGET
    spark = spark_environment(dbt.spark_remote) if dbt.spark_remote else {}
    with process_environment(spark):
        invocation = dbt.cli(
            ["docs", "generate", "--static", "--vars", variables],
            target_path=target,
            raise_on_error=False,
        )
    invocation.wait()
    if not invocation.is_successful():
        raise UserError(f"dbt docs generate failed: {invocation.get_error()}")
    click.echo(f"wrote {DBT_PROJECT_DIR / target / 'static_index.html'}")


@main.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder to write the report to [default: data/reports, or WEIXI_REPORTS_DIR].",
)
def report(out: Path | None) -> None:
    """Write the nightly report: one self-contained HTML page of charts drawn from the marts
    (weixi_report_<reference date>.html; the nightly run writes it too). Reads the warehouse
    only; fails at once, naming the process, while another process (a run) holds it."""
    import dagster as dg
    import duckdb

    from orchestration.defs.report import write_nightly_report
    from orchestration.defs.resources import build_resources

    settings = get_settings()
    if not settings.warehouse.exists():
        raise UserError(f"{settings.warehouse}: no warehouse yet; run `weixi run` first")
    resources = build_resources(settings)
    reports = resources["reports"]
    if out is not None:
        reports = reports.model_copy(update={"root": str(out.resolve())})
    try:
        written = write_nightly_report(resources["warehouse"], reports, read_only=True)
    except dg.Failure as exc:
        raise UserError(exc.description or str(exc)) from None
    except duckdb.CatalogException:
        raise UserError(
            f"{settings.warehouse}: no marts yet (no reference date); run `weixi run` first"
        ) from None
    for section in written.sections:
        for note in section.notes:
            _say(f"{section.title}: {note}")
    click.echo(f"wrote {written.path} ({written.bytes:,} bytes)")


def generated_files() -> list[tuple[Path, Callable[[], str]]]:
    """Every file rendered from code (path, render function), written by `weixi contract`."""
    from ingest.contract import SOURCES, render_markdown
    from ingest.dbt_sources import render_dbt_sources, sources_path
    from orchestration.table_catalog import (
        PYTHON_SOURCES,
        python_sources_path,
        render_python_sources,
        render_python_tables_markdown,
    )

    return [
        (PROJECT_ROOT / "docs" / "data_contract.md", render_markdown),
        (PROJECT_ROOT / "docs" / "python_tables.md", render_python_tables_markdown),
        *(
            (DBT_PROJECT_DIR / sources_path(source), partial(render_dbt_sources, source))
            for source in SOURCES
        ),
        *(
            (
                DBT_PROJECT_DIR / python_sources_path(source, schema),
                partial(render_python_sources, source, schema),
            )
            for source in PYTHON_SOURCES
            for schema in source.schemas
        ),
    ]


@main.command()
@click.option("--check", is_flag=True, help="Fail if a generated file is out of date.")
def contract(check: bool) -> None:
    """Write the files rendered from code: docs/data_contract.md and the dbt source file of
    every landing source (from the data contract), docs/python_tables.md and the dbt source
    files of the tables Python writes (from the table specs)."""
    stale = []
    for target, render in generated_files():
        text = render()
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if check:
            if current != text:
                stale.append(target.relative_to(PROJECT_ROOT))
        elif current != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            click.echo(f"wrote {target}")
    if stale:
        raise UserError(f"out of date: {', '.join(map(str, stale))}; run `weixi contract`")


def local_spark_server(settings: WeixiSettings) -> SparkServer:
    """The local Spark Connect server of ``settings`` (see ``warehouse.spark_server``)."""
    from warehouse.spark_server import SparkServer

    return SparkServer(
        port=settings.spark_server_port,
        folder=settings.spark_server_dir,
        warehouse_dir=settings.spark_warehouse_dir,
        master=settings.spark_master,
        driver_memory=settings.spark_driver_memory,
    )


@main.command("spark-server")
@click.argument("action", type=click.Choice(["start", "status", "stop"]))
def spark_server(action: str) -> None:
    """Start, check or stop the local Spark Connect server WEIXI_ENGINE=spark runs on (one JVM,
    a Hive catalog with a Derby metastore; docs/scale_out.md). It keeps running after `start`
    until `stop`."""
    from warehouse.spark_server import SparkServerError

    server = local_spark_server(get_settings())
    try:
        if action == "start":
            pid = server.start()
            click.echo(
                f"Spark Connect server running (pid {pid}, log {server.log_path}); run with "
                f"WEIXI_ENGINE=spark WEIXI_SPARK_CONNECT_URL={server.url}"
            )
        elif action == "stop":
            stopped = server.stop()
            click.echo("stopped the Spark Connect server" if stopped else "no server was running")
        else:
            pid = server.running_pid()
            if pid is None:
                raise UserError(f"no Spark Connect server of {server.folder} is running")
            click.echo(f"running: pid {pid}, {server.url}, log {server.log_path}")
    except SparkServerError as exc:
        raise UserError(str(exc)) from None


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address the UI listens on; 0.0.0.0 for every interface (there is no login).",
)
@click.option(
    "--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Port of the UI."
)
@click.argument("dg_args", nargs=-1, type=click.UNPROCESSED)
def dev(host: str, port: int, dg_args: tuple[str, ...]) -> None:
    """Start the Dagster UI (`dg dev`) on Weixi's instance, so `weixi` runs show in it.

    Stops on SIGINT (Ctrl-C) or SIGTERM. Other `dg dev` options pass through."""
    from orchestration.instance import prepare_dagster_home

    # The UI's runs (and the nightly schedule's) are `weixi run`'s: on Spark, on its server.
    refuse_spark_without_server(get_settings(), "dev")
    dg = Path(sys.executable).with_name("dg")
    env = {
        **os.environ,
        "DAGSTER_HOME": prepare_dagster_home(get_settings()),
        "VIRTUAL_ENV": sys.prefix,
        "PATH": f"{dg.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # A command started in the background by a non-interactive shell (`make dev &`, a service
    # script) inherits SIGINT ignored, and an ignored signal stays ignored across exec. `dg dev`
    # handles SIGTERM with whatever SIGINT's handler is, so it would ignore SIGTERM as well.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.execve(dg, [str(dg), "dev", "--host", host, "--port", str(port), *dg_args], env)


if __name__ == "__main__":
    main()
