"""The night's audiences delivered: files per channel, hashed ad audiences and the webhook,
each synced by difference, with consent and erasure applied again at the last step."""

import json
from datetime import date, datetime

import dagster as dg
import duckdb
import pandas as pd

from activation.builder import AUDIENCE_HISTORY, AUDIENCE_MEMBERS
from activation.destinations.delivery import NightInput, SyncOutcome, night_changes, run_syncs
from activation.destinations.erasure import ERASURES_APPLIED, files_to_check, rewrite_without
from activation.destinations.members import (
    CRM_COLUMNS,
    ERASURE,
    MARKETING,
    SERVICE,
    ExportMembers,
    export_members,
)
from activation.destinations.retention import remove_old_days
from activation.destinations.sync import ACTIVATION_SYNCS, REJECTIONS, SYNC_STATE, update_state
from activation.destinations.webhook import WebhookClient, WebhookConfig
from activation.holdout import TREATMENT
from activation.suppressions import LEDGER
from orchestration.defs.metadata import markdown_table
from orchestration.defs.resources import WAREHOUSE_POOL, Destinations, EngineWarehouse
from warehouse.table_spec import table_exists

AUDIENCES = AUDIENCE_MEMBERS.name
INPUTS = (AUDIENCES, "staging.stg_crm__customers", LEDGER)
WRITTEN = (ACTIVATION_SYNCS, SYNC_STATE, REJECTIONS, ERASURES_APPLIED)


def _create(con: duckdb.DuckDBPyConnection) -> None:
    for spec in WRITTEN:
        spec.create(con)


def _missing_inputs(con: duckdb.DuckDBPyConnection) -> list[str]:
    present = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }
    return [t for t in INPUTS if t not in present]


# Only the members that may leave tonight (treatment rows of marketing and service
# audiences) are read, and only their CRM rows: the rest never reaches the export.
SENDABLE = f"holdout_group = '{TREATMENT}' and kind in ('{MARKETING}', '{SERVICE}')"


def _read(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    applied = ERASURES_APPLIED.name
    members = con.execute(
        f"select {', '.join(AUDIENCE_MEMBERS.column_names)} from {AUDIENCES} where {SENDABLE}"
    ).df()
    # The CRM rows of the members read above, not of a second scan of the audiences.
    con.register("_sendable_ids", members[["customer_id"]])
    try:
        crm = con.execute(
            f"select {', '.join(CRM_COLUMNS)} from staging.stg_crm__customers "
            "where customer_id in (select customer_id from _sendable_ids)"
        ).df()
    finally:
        con.unregister("_sendable_ids")
    erased = con.execute(
        f"""select customer_id, coalesce(list(hashed_identifiers) filter (
                where hashed_identifiers is not null), []) as hashed
            from (select distinct customer_id from {LEDGER} where reason = '{ERASURE}'
                  and customer_id not in (select customer_id from {applied}))
            left join {SYNC_STATE.name} using (customer_id)
            group by customer_id order by customer_id"""
    ).df()
    return {
        "members": members,
        "dates": con.execute(f"select distinct audience_date from {AUDIENCES}").df(),
        "crm": crm,
        "suppressions": con.execute(f"select customer_id, channel, reason from {LEDGER}").df(),
        "rejected": con.execute(f"select idempotency_key from {REJECTIONS.name}").df(),
        # Erased since the last run, with the hashes the ad destinations were sent of them.
        "erased": erased,
        **_erased_history(con, list(erased["customer_id"])),
    }


def _erased_history(con: duckdb.DuckDBPyConnection, erased: list[str]) -> dict[str, pd.DataFrame]:
    """The audience days of the erased customers and every date of the history: which export
    files may hold them (:func:`files_to_check`). Nothing without erasures or history."""
    if not erased or not table_exists(con, AUDIENCE_HISTORY.name):
        return {}
    history = AUDIENCE_HISTORY.name
    return {
        "erased_memberships": con.execute(
            f"select distinct audience_date, audience, kind from {history} "
            "where customer_id in (select unnest($erased))",
            {"erased": erased},
        ).df(),
        "history_dates": con.execute(f"select distinct audience_date from {history}").df(),
    }


def _write(con: duckdb.DuckDBPyConnection, outcome: SyncOutcome, erased: pd.DataFrame) -> None:
    con.execute("begin")
    for spec, frame in (
        (ACTIVATION_SYNCS, outcome.sync_frame()),
        (REJECTIONS, outcome.rejection_frame()),
        (ERASURES_APPLIED, erased),
    ):
        con.register("_frame", frame)
        con.execute(f"insert into {spec.name} by name select * from _frame")
        con.unregister("_frame")
    update_state(con, outcome.added_state(), outcome.removed_state())
    con.execute("commit")


def _forget(
    destinations: Destinations, inputs: dict[str, pd.DataFrame], now: datetime
) -> pd.DataFrame:
    """Rewrite earlier export files without customers erased since the last run."""
    found = inputs["erased"]
    erased = list(found["customer_id"])
    hashes = [h for texts in found["hashed"] for text in texts for h in json.loads(text).values()]
    files: list = []
    if erased:
        root, dates = destinations.exports_path, inputs.get("history_dates")
        held = files_to_check(
            root,
            inputs.get("erased_memberships"),
            None if dates is None else dates["audience_date"],
        )
        files = rewrite_without(root, sorted(erased), hashes, held)
    return ERASURES_APPLIED.conform(
        pd.DataFrame(
            {
                "customer_id": sorted(erased),
                "applied_at": [now] * len(erased),
                "files_rewritten": len(files),
            }
        )
    )


def _webhook(destinations: Destinations) -> WebhookClient | None:
    if not destinations.webhook_url:
        return None
    return WebhookClient(
        WebhookConfig(
            url=destinations.webhook_url,
            token=destinations.webhook_token,
            batch_size=destinations.webhook_batch_size,
            timeout_seconds=destinations.webhook_timeout_seconds,
            max_attempts=destinations.webhook_max_attempts,
            backoff_seconds=destinations.webhook_backoff_seconds,
        )
    )


def _suppression_table(export: ExportMembers) -> str:
    counts = export.blocked.groupby(["audience", "rule"]).size()
    rows = [[audience, rule, int(n)] for (audience, rule), n in counts.items()]
    return markdown_table(["audience", "rule", "members dropped"], rows)


@dg.asset(
    key=["marts", "activation_syncs"],
    deps=[
        dg.AssetKey(["marts", "audience_members"]),
        dg.AssetKey(["staging", "stg_crm__customers"]),
        dg.AssetKey(["governance", "suppressions"]),
    ],
    group_name="activation",
    kinds={"python", "duckdb", "parquet"},
    pool=WAREHOUSE_POOL,
)
def activation_syncs(
    context: dg.AssetExecutionContext, warehouse: EngineWarehouse, destinations: Destinations
) -> dg.MaterializeResult:
    """Every delivery of the night's audiences to marketing tools (files, ad audiences,
    webhook): who was added and removed, who failed or was refused, and who was held back
    because they opted out or asked to be forgotten."""
    now = datetime.now()
    with warehouse.connect() as con:
        _create(con)
        missing = _missing_inputs(con)
        inputs = {} if missing else _read(con)
    if AUDIENCES in missing:
        # No audiences built (yet): nothing can be sent, and nothing is.
        context.log.warning(f"{AUDIENCES} does not exist: nothing to deliver tonight")
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "skipped": "no audiences"})
    if missing:
        # Never export without the consent ledger and the CRM: fail closed, loudly.
        raise dg.Failure(
            f"cannot apply consent at export, missing: {', '.join(missing)}", allow_retries=False
        )
    erased = _forget(destinations, inputs, now)
    if len(erased):
        context.log.info(
            f"{len(erased)} newly erased customers: rewrote "
            f"{int(erased['files_rewritten'].iloc[0])} earlier export files"
        )
    members = inputs["members"]
    dates = pd.to_datetime(inputs["dates"]["audience_date"]).dt.date.unique()
    if len(dates) == 0:
        context.log.warning("marts.audience_members is empty: nothing to deliver tonight")
        with warehouse.connect() as con:
            _write(con, SyncOutcome(), erased)
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "syncs": 0})
    if len(dates) != 1:
        raise dg.Failure(f"marts.audience_members holds {len(dates)} audience dates, not one")
    audience_date: date = dates[0]

    export = export_members(members, inputs["crm"], inputs["suppressions"])
    webhook = _webhook(destinations)
    with warehouse.connect() as con:
        changes = night_changes(con, export, webhook=webhook is not None)
    night = NightInput(
        export=export,
        audience_date=audience_date,
        changes=changes,
        rejected_keys=frozenset(inputs["rejected"]["idempotency_key"]),
        exports_dir=destinations.exports_path,
    )
    outcome = run_syncs(night, webhook)
    with warehouse.connect() as con:
        _write(con, outcome, erased)
    old_days = remove_old_days(
        destinations.exports_path, audience_date, destinations.exports_kept_days
    )
    if old_days:
        context.log.info(
            f"removed {len(old_days)} export day folders older than "
            f"{destinations.exports_kept_days} days: {old_days[0].name} .. {old_days[-1].name}"
        )

    syncs = outcome.sync_frame()
    suppressed = export.blocked[export.blocked["rule"] != "no_address"]
    if len(suppressed):
        context.log.warning(
            f"{len(suppressed)} audience members dropped at export by consent or erasure "
            "rules the marts should already have applied (see metadata)"
        )
    for row in syncs[syncs["status"].isin(["failed", "partial"])].itertuples():
        log = context.log.error if row.failed else context.log.warning
        log(
            f"sync {row.destination}/{row.audience} {row.status}: {row.failed} failed, "
            f"{row.rejected} rejected ({row.message})"
        )
    totals = syncs.groupby("destination")[["added", "removed", "failed", "rejected"]].sum()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(syncs),
            "audience_date": str(audience_date),
            "exportable_members": len(export.rows),
            "dropped_at_export": dg.MetadataValue.md(_suppression_table(export)),
            "by_destination": dg.MetadataValue.md(
                markdown_table(
                    ["destination", "added", "removed", "failed", "rejected"],
                    [[d, *map(int, r)] for d, r in totals.iterrows()],
                )
            ),
            "statuses": dg.MetadataValue.json(
                {k: int(v) for k, v in syncs["status"].value_counts().items()}
            ),
            "files_written": len(outcome.files),
            "export_days_removed": len(old_days),
            "webhook_requests": outcome.requests,
            "erasures_applied": len(erased),
        }
    )
