"""The night's audiences from the definitions in ``activation/audiences.yml``, and the
account managers' task lists. Thin wrappers: the rules live in ``activation/builder.py``."""

import shutil
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from activation.audience_definitions import AudienceDefinition, load_definitions
from activation.builder import (
    ACCOUNT_MANAGER_TASKS,
    AUDIENCE_HISTORY,
    AUDIENCE_MEMBERS,
    EXCLUSION_RULES,
    HISTORY_COLUMNS,
    REACH_COLUMNS,
    TASKS_SQL,
    AudienceBuild,
    Rules,
    build_audiences,
    select_members,
)
from activation.destinations.formats import spreadsheet_safe, write_safe_csv
from activation.holdout import CONTROL, TREATMENT
from activation.suppressions import LEDGER
from orchestration.defs.metadata import markdown_table
from orchestration.defs.resources import WAREHOUSE_POOL, Audiences, EngineWarehouse
from warehouse.table_spec import table_exists

CANDIDATES = dg.AssetKey(["marts", "audience_candidates"])
CANDIDATES_TABLE = ".".join(CANDIDATES.path)


def _read_inputs(
    con: duckdb.DuckDBPyConnection,
    definitions: Sequence[AudienceDefinition],
    audience_date: date,
    lookback_days: int,
    source: Path,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """The selected members (the definitions run in the warehouse), the candidates' columns
    the rules need, the history the rules look back on and the ledger: the 60-column
    candidates and the history's texts never reach pandas."""
    selected = select_members(definitions, con, CANDIDATES_TABLE, source)
    candidates = con.execute(f"select {', '.join(REACH_COLUMNS)} from {CANDIDATES_TABLE}").df()
    history, table = None, AUDIENCE_HISTORY.name
    if table_exists(con, table):
        # The rules' windows, and the previous audience date however long ago it was.
        history = con.execute(
            f"""select {", ".join(HISTORY_COLUMNS)} from {table}
            where audience_date < $today and audience_date >= least(
                $start,
                (select max(audience_date) from {table} where audience_date < $today)
            )""",
            {"today": audience_date, "start": audience_date - timedelta(days=lookback_days)},
        ).df()
    suppressions = None
    if table_exists(con, LEDGER):
        suppressions = con.execute(f"select customer_id, channel, reason from {LEDGER}").df()
    return selected, candidates, history, suppressions


def _write_members(warehouse: EngineWarehouse, build: AudienceBuild, audience_date: date) -> None:
    """Replace the date in the history and the mart with tonight's members, in one transaction."""
    with warehouse.connect() as con:
        con.execute(f"create schema if not exists {AUDIENCE_MEMBERS.schema}")
        con.execute("begin")
        AUDIENCE_HISTORY.create(con)
        history = AUDIENCE_HISTORY.name
        con.execute(f"delete from {history} where audience_date = ?", [audience_date])
        con.register("_members", build.members)
        # The mart from the frame, the history from the mart: neither the frame is read twice
        # nor the history scanned and sorted for tonight's date.
        con.execute(
            f"create or replace table {AUDIENCE_MEMBERS.name} as "
            f"{AUDIENCE_MEMBERS.cast_select('_members')} order by audience, customer_id"
        )
        con.unregister("_members")
        con.execute(f"insert into {history} by name select * from {AUDIENCE_MEMBERS.name}")
        con.execute("commit")


def _members_metadata(build: AudienceBuild, audience_date: date, names: list[str]) -> dict:
    members = build.members
    groups = members.groupby(["audience", "holdout_group"]).size()
    new = members[members["is_new_entry"]].groupby("audience").size()
    counts = build.exclusion_counts().pivot_table(
        index="audience", columns="rule", values="customers", fill_value=0
    )
    rows = [
        [
            name,
            int(groups.get((name, TREATMENT), 0)),
            int(groups.get((name, CONTROL), 0)),
            int(new.get(name, 0)),
            *(
                int(counts.loc[name, rule]) if name in counts.index and rule in counts else 0
                for rule in EXCLUSION_RULES
            ),
        ]
        for name in names
    ]
    preview = members.head(10)
    return {
        "dagster/row_count": len(members),
        "audience_date": audience_date.isoformat(),
        "audiences": len(names),
        "empty_audiences": ", ".join(r[0] for r in rows if r[1] + r[2] == 0) or "none",
        "members per audience and exclusions per rule": dg.MetadataValue.md(
            markdown_table(
                ["audience", "treatment", "control", "new_entries", *EXCLUSION_RULES], rows
            )
        ),
        "channels": dg.MetadataValue.md(
            markdown_table(
                ["channel", "members"],
                [[c, int(n)] for c, n in members["channel"].value_counts().sort_index().items()],
            )
        ),
        "preview (no PII)": dg.MetadataValue.md(
            markdown_table(
                ["audience", "customer_id", "channel", "holdout_group", "is_new_entry", "reason"],
                preview[
                    [
                        "audience",
                        "customer_id",
                        "channel",
                        "holdout_group",
                        "is_new_entry",
                        "reason",
                    ]
                ].values.tolist(),
            )
        ),
    }


@dg.asset(
    key=["marts", "audience_members"],
    # governance.suppressions is read when it exists; it is upstream of dbt (customer_360), so
    # of the candidates, and needs no edge of its own.
    deps=[CANDIDATES],
    group_name="activation",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
)
def audience_members(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, audiences: Audiences
) -> dg.MaterializeResult:
    """Tonight's members of every audience in the registry, each with its channel, control
    group and reason, after consent, suppressions, deduplication and the frequency cap; the
    history of every night is kept in activation.audience_history."""
    definitions = load_definitions(audiences.definitions_file)
    lookback = max([audiences.frequency_cap_days, 1, *(d.dedupe_days or 0 for d in definitions)])
    audience_date = warehouse.reference_date()
    with warehouse.connect(read_only=True) as con:
        selected, candidates, history, suppressions = _read_inputs(
            con, definitions, audience_date, lookback, audiences.definitions_file
        )
    build = build_audiences(
        definitions,
        candidates,
        audience_date,
        history=history,
        suppressions=suppressions,
        rules=Rules(
            audiences.frequency_cap_contacts,
            audiences.frequency_cap_days,
            audiences.holdout_share,
        ),
        source=audiences.definitions_file,
        selected=selected,
    )
    _write_members(warehouse, build, audience_date)
    metadata = _members_metadata(build, audience_date, [d.name for d in definitions])
    if metadata["empty_audiences"] != "none":
        context.log.warning(f"empty audiences on {audience_date}: {metadata['empty_audiences']}")
    return dg.MaterializeResult(metadata=metadata)


def _write_task_lists(tasks: pd.DataFrame, folder: Path) -> dict[str, int]:
    """One CSV per account manager in ``folder``, replacing the folder whole."""
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    counts = {}
    # Made safe once, then split; the file names keep the managers' ids as they are.
    safe = spreadsheet_safe(tasks)
    for manager, rows in safe.groupby(tasks["account_manager_id"], sort=True):
        write_safe_csv(rows, staging / f"{manager}.csv")
        counts[str(manager)] = len(rows)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return counts


@dg.asset(
    key=["marts", "account_manager_tasks"],
    deps=[dg.AssetKey(["marts", "audience_members"])],
    group_name="activation",
    kinds={"python", "duckdb", "csv"},
    pool=WAREHOUSE_POOL,
)
def account_manager_tasks(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, audiences: Audiences
) -> dg.MaterializeResult:
    """Who each account manager should call today and why, with the context of the call (last
    order, open complaints, churn risk and reasons, recommended products), as a table and one
    CSV per manager."""
    audience_date = warehouse.reference_date()
    with warehouse.connect() as con:
        con.execute("begin")
        ACCOUNT_MANAGER_TASKS.create(con, replace=True)
        con.execute(f"insert into {ACCOUNT_MANAGER_TASKS.name} {TASKS_SQL}")
        con.execute("commit")
        tasks = con.execute(f"select * from {ACCOUNT_MANAGER_TASKS.name}").df()
    folder = audiences.exports_path / audience_date.isoformat() / "account_managers"
    per_manager = _write_task_lists(tasks, folder)
    context.log.info(f"{len(tasks)} tasks for {len(per_manager)} account managers in {folder}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(tasks),
            "task_date": audience_date.isoformat(),
            "managers": len(per_manager),
            "folder": dg.MetadataValue.path(str(folder)),
            "tasks per manager": dg.MetadataValue.md(
                markdown_table(
                    ["account_manager_id", "tasks"], [[m, n] for m, n in per_manager.items()]
                )
            ),
            "tasks per kind": dg.MetadataValue.md(
                markdown_table(
                    ["task", "tasks"],
                    [[t, int(n)] for t, n in tasks["task"].value_counts().sort_index().items()],
                )
            ),
        }
    )
