"""The consent ledger: every opt-out and erasure Weixi has ever seen, so none can be undone.

``governance.suppressions`` is append-only. Its rows come from every version of every CRM
customer row ever loaded (a marketing opt-out, or a channel consent that went from true to
false) and from right-to-be-forgotten request files. A stale CRM re-import that says "consents
true" again changes the latest CRM row, but not the ledger, and the marts read both.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from warehouse.table_spec import SpecColumn, TableSpec

SUPPRESSIONS = TableSpec(
    name="governance.suppressions",
    description="The append-only consent and erasure ledger: every marketing opt-out and "
    "channel opt-out ever seen in any version of a CRM row, and every right-to-be-forgotten "
    "request. It never shrinks, so a later CRM delivery cannot undo an opt-out (see "
    "docs/consent_and_erasure.md).",
    grain="One row per customer, channel and reason",
    key=("customer_id", "channel", "reason"),
    columns=(
        SpecColumn("customer_id", "string", "The customer."),
        SpecColumn(
            "channel",
            "string",
            "`email`, `sms`, `wechat`, `phone`, or `all` (every marketing channel).",
        ),
        SpecColumn("reason", "string", "`marketing_opt_out`, `channel_opt_out` or `erasure`."),
        SpecColumn("effective_at", "timestamp", "When the customer asked (shop time)."),
        SpecColumn("recorded_at", "timestamp", "When Weixi first saw it (shop time)."),
        SpecColumn(
            "evidence",
            "string",
            "Where it was seen, e.g. `raw.crm__customers 2025-03-02 "
            "crm/2025-03-02/customers.csv row 17`, or the request file and row.",
        ),
    ),
)
LEDGER = SUPPRESSIONS.name
CHANNELS = ("email", "sms", "wechat", "phone")
ALL_CHANNELS = "all"
MARKETING_OPT_OUT = "marketing_opt_out"
CHANNEL_OPT_OUT = "channel_opt_out"
ERASURE = "erasure"
REASONS = (MARKETING_OPT_OUT, CHANNEL_OPT_OUT, ERASURE)
REQUEST_COLUMNS = ("customer_id", "requested_at")
"""Required columns of an erasure request file; an optional ``reason`` column is kept as
evidence."""
_KEY = ["customer_id", "channel", "reason"]
# A candidate row is a ledger row before Weixi records it.
_CANDIDATE_COLUMNS = [c for c in SUPPRESSIONS.column_names if c != "recorded_at"]

# Every version of every CRM row, ordered the way staging orders them (latest updated_at wins,
# then the later delivery, load, file and row), so "went from true to false" means the same
# thing here as in the marts.
_VERSIONS_SQL = """
select
    trim(customer_id) as customer_id,
    marketing_opt_out,
    opted_out_at,
    updated_at,
    {consents},
    'raw.crm__customers ' || strftime(_partition_date, '%Y-%m-%d')
        || ' ' || _file || ' row ' || _row_number as evidence,
    row_number() over (
        partition by trim(customer_id)
        order by updated_at nulls first, _partition_date, _loaded_at nulls first, _file,
            _row_number
    ) as version
from raw.crm__customers
where trim(customer_id) in ({suppressible})
"""
# Only a customer with an opt-out in some version, or a channel's consent true in one version and
# false in another, can have a suppression: the versions of every other customer (nearly all)
# need no numbering (at 1M customers 8 of the ledger update's 10 CPU-s; the same rows).
_SUPPRESSIBLE_SQL = """
select trim(customer_id) from raw.crm__customers
where nullif(trim(customer_id), '') is not null
group by 1
having bool_or(marketing_opt_out) or {flips}
"""
_CRM_SUPPRESSIONS_SQL = """
with versions as ({versions}),
marketing as (
    select
        customer_id,
        'all' as channel,
        'marketing_opt_out' as reason,
        coalesce(opted_out_at, updated_at) as effective_at,
        evidence
    from versions
    where marketing_opt_out
    qualify row_number() over (partition by customer_id order by version) = 1
),
consents as (
    unpivot versions on {channels} into name channel value consent
),
changes as (
    select
        *,
        lag(consent) over (partition by customer_id, channel order by version) as before
    from consents
),
withdrawn as (
    select
        customer_id,
        replace(channel, '_consent', '') as channel,
        'channel_opt_out' as reason,
        updated_at as effective_at,
        evidence
    from changes
    -- Consents withdrawn by a marketing opt-out are covered by its `all` row.
    where before and not consent and not coalesce(marketing_opt_out, false)
    qualify row_number() over (partition by customer_id, channel order by version) = 1
)
select * from marketing
union all
select * from withdrawn
"""


class ErasureRequestError(ValueError):
    """An erasure request file breaks a rule; the message names the file, row and rule."""


@dataclass(frozen=True)
class LedgerUpdate:
    """What one ledger update did."""

    appended: pd.DataFrame
    """The rows appended (only those not in the ledger before)."""
    totals: dict[str, int]
    """Ledger rows per reason after the update."""
    erased_customers: int
    scrubbed_rows: dict[str, int]
    """Raw CRM rows of erased customers deleted, per table."""
    request_files: int


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``governance.suppressions`` (empty) if it does not exist yet."""
    SUPPRESSIONS.create(con)


def crm_suppressions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Opt-outs found in every version of every row of ``raw.crm__customers``: one row per
    customer with ``marketing_opt_out`` true in any version (channel ``all``, effective at its
    first ``opted_out_at``), and one per customer and channel whose consent went from true to
    false between two versions (null consents are skipped, not read as a change)."""
    consents = ", ".join(f"{c}_consent" for c in CHANNELS)
    flips = " or ".join(f"(bool_or({c}_consent) and not bool_and({c}_consent))" for c in CHANNELS)
    suppressible = _SUPPRESSIBLE_SQL.format(flips=flips)
    versions = _VERSIONS_SQL.format(consents=consents, suppressible=suppressible)
    sql = _CRM_SUPPRESSIONS_SQL.format(versions=versions, channels=consents)
    return con.execute(f"select * from ({sql}) order by all").df()


def read_erasure_requests(
    folder: Path, now: datetime, tolerance: timedelta = timedelta(0)
) -> tuple[pd.DataFrame, int]:
    """The erasure requests of every ``*.csv`` file in ``folder`` (none if it does not exist),
    as ledger candidates, and the number of files read.

    A file needs the columns ``customer_id`` and ``requested_at`` (``YYYY-MM-DD`` or
    ``YYYY-MM-DD HH:MM:SS``); an optional ``reason`` column goes into the evidence. Rows are
    numbered from 1 after the header. A missing column, an empty customer id or a time that
    is not a time or lies after ``now`` + ``tolerance`` raises ErasureRequestError naming the
    file, row and rule.
    """
    rows: list[dict[str, object]] = []
    files = sorted(folder.glob("*.csv")) if folder.exists() else []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ErasureRequestError(
                f"{path}: not UTF-8 at byte {exc.start} (rule: request files are UTF-8)"
            ) from None
        reader = csv.DictReader(text.splitlines())
        header = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in REQUEST_COLUMNS if c not in header]
        if missing:
            raise ErasureRequestError(
                f"{path}: missing required column(s) {', '.join(missing)} "
                f"(an erasure request file needs {', '.join(REQUEST_COLUMNS)})"
            )
        for number, raw in enumerate(reader, start=1):
            if None in raw:
                raise ErasureRequestError(
                    f"{path} row {number}: more values than the {len(header)} columns of the "
                    "header (rule: one value per column; quote values that hold a comma)"
                )
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            rows.append(_request_row(path, number, row, now + tolerance))
    return pd.DataFrame(rows, columns=_CANDIDATE_COLUMNS), len(files)


def _request_row(path: Path, number: int, row: dict[str, str], latest: datetime) -> dict:
    where = f"{path} row {number}"
    if not row.get("customer_id"):
        raise ErasureRequestError(f"{where}: customer_id is empty (rule: required)")
    try:
        requested = datetime.fromisoformat(row.get("requested_at", ""))
    except ValueError:
        raise ErasureRequestError(
            f"{where}: requested_at {row.get('requested_at')!r} is not a date or time "
            "(rule: YYYY-MM-DD or YYYY-MM-DD HH:MM:SS)"
        ) from None
    requested = requested.replace(tzinfo=None)
    if requested > latest:
        raise ErasureRequestError(
            f"{where}: requested_at {requested} is in the future (rule: not after the run)"
        )
    note = f" ({row['reason']})" if row.get("reason") else ""
    return {
        "customer_id": row["customer_id"],
        "channel": ALL_CHANNELS,
        "reason": ERASURE,
        "effective_at": requested,
        "evidence": f"{path.name} row {number}{note}",
    }


def write_erasure_request(
    folder: Path, customer_ids: list[str], requested_at: datetime, reason: str = ""
) -> Path:
    """Write a new request file for ``customer_ids`` in ``folder`` (the next ledger update
    reads it) and return its path; an existing file is never changed."""
    ids = [c.strip() for c in customer_ids]
    if not ids or not all(ids):
        raise ErasureRequestError("give at least one customer id, none of them empty")
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"erasure_{requested_at:%Y%m%dT%H%M%S}"
    path = folder / f"{stem}.csv"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{stem}_{counter}.csv"
    with path.open("x", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*REQUEST_COLUMNS, "reason"])
        writer.writerows([c, f"{requested_at:%Y-%m-%d %H:%M:%S}", reason] for c in ids)
    return path


def new_suppressions(candidates: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """The candidates whose (customer, channel, reason) is not in ``ledger`` yet, one row per
    key: the earliest ``effective_at`` (evidence of that row)."""
    if candidates.empty:
        return candidates.reindex(
            columns=[c for c in SUPPRESSIONS.column_names if c != "recorded_at"]
        )
    earliest = (
        candidates.sort_values([*_KEY, "effective_at", "evidence"], na_position="last")
        .drop_duplicates(_KEY)
        .merge(ledger[_KEY].drop_duplicates(), on=_KEY, how="left", indicator=True)
    )
    fresh = earliest[earliest["_merge"] == "left_only"].drop(columns="_merge")
    return fresh.sort_values(_KEY, ignore_index=True)


OnScrubbed = Callable[[duckdb.DuckDBPyConnection, list[date]], None]
"""Called by ``update_ledger`` inside its transaction with the days of the raw rows it
deleted or changed."""


def update_ledger(
    con: duckdb.DuckDBPyConnection,
    requests_folder: Path,
    now: datetime,
    tolerance: timedelta = timedelta(0),
    on_scrubbed: OnScrubbed | None = None,
) -> LedgerUpdate:
    """Append to ``governance.suppressions`` what the raw CRM rows and the erasure requests
    say that the ledger does not hold yet, then delete erased customers' rows from the raw CRM
    tables, in one transaction. ``on_scrubbed`` is called within it with the delivery days of
    the rows deleted or changed (on Spark: to write those days of the Parquet copy again, so
    that a failed write rolls the deletion back). Re-running changes nothing."""
    requests, files = read_erasure_requests(requests_folder, now, tolerance)
    ensure_ledger(con)
    con.execute("begin")
    try:
        candidates = pd.concat([crm_suppressions(con), requests], ignore_index=True)
        ledger = con.execute(f"select customer_id, channel, reason from {LEDGER}").df()
        fresh = new_suppressions(candidates, ledger)
        fresh = fresh.assign(recorded_at=now)[list(SUPPRESSIONS.column_names)]
        if len(fresh):
            con.register("_fresh", fresh)
            con.execute(f"insert into {LEDGER} select * from _fresh")
            con.unregister("_fresh")
        scrubbed, days = scrub_erased(con)
        if on_scrubbed is not None and days:
            on_scrubbed(con, days)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    totals = dict(con.execute(f"select reason, count(*) from {LEDGER} group by all").fetchall())
    erased = con.execute(
        f"select count(distinct customer_id) from {LEDGER} where reason = '{ERASURE}'"
    ).fetchone()[0]
    return LedgerUpdate(fresh, totals, erased, scrubbed, files)


_QUARANTINED_ERASED = """list_has_any(
    if(
        json_valid(record),
        [trim(json_extract_string(if(json_valid(record), record, '{{}}'), '$.customer_id'))],
        list_transform(string_split(record, ','), lambda f: trim(f))
    ),
    (select coalesce(list(customer_id), []::varchar[]) from ({erased}))
)"""
"""A quarantined CRM row of an erased customer (``erased``: a query of their ids): the row as
delivered, names and e-mails included, is a JSON object once read, the raw CSV line when it
could not be split into the right fields."""


def scrub_erased(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], list[date]]:
    """Delete the rows of erased customers from the raw CRM tables (customers, contacts and
    their quarantined rows) and null ``referred_by`` where it names one; the ledger keeps the
    fact that they were erased. Returns the rows deleted (or, for referrers, changed) per
    table, and the delivery days of those rows."""
    erased = f"select customer_id from {LEDGER} where reason = '{ERASURE}'"
    statements = {
        f"raw.{table}": f"delete from raw.{table} where trim(customer_id) in ({erased})"
        for table in ("crm__customers", "crm__contacts")
    }
    # Another customer's rows may name them as referrer: the link goes, the rows stay.
    statements["raw.crm__customers.referred_by"] = (
        f"update raw.crm__customers set referred_by = null where trim(referred_by) in ({erased})"
    )
    statements["raw._quarantine"] = (
        "delete from raw._quarantine where source = 'crm' and "
        + _QUARANTINED_ERASED.format(erased=erased)
    )
    deleted, days = {}, set()
    for table, statement in statements.items():
        changed = con.execute(f"{statement} returning _partition_date").fetchall()
        deleted[table] = len(changed)
        days.update(day for (day,) in changed if day is not None)
    return deleted, sorted(days)
