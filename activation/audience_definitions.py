"""Audience definitions: the one registry of who is contacted, why, how and with what.

The registry is a YAML file (``activation/audiences.yml``, setting ``audiences_file``); one
entry per audience. Loading it checks every entry and raises :class:`DefinitionError` naming
the file, the audience and the field, so a data engineer who adds an audience learns at once
what is wrong with it. The SQL of ``where`` and ``reason`` is bound against the candidates
table (:func:`check_against_candidates`), so a misspelt column fails the night's first step,
not a destination.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml

from activation.lift import METRICS, WINDOWS

MARKETING = "marketing"
SERVICE = "service"
TASK = "task"
KINDS = (MARKETING, SERVICE, TASK)
MESSAGE_CHANNELS = ("email", "sms", "wechat", "phone")
ACCOUNT_MANAGER = "account_manager"
CHANNELS = (*MESSAGE_CHANNELS, ACCOUNT_MANAGER)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED = (
    "name",
    "purpose",
    "kind",
    "channels",
    "priority",
    "template_key",
    "where",
    "reason",
    "primary_metric",
    "primary_window_days",
)
_OPTIONAL = ("payload", "holdout_share", "dedupe_days")


class DefinitionError(ValueError):
    """An audience definition that cannot be used, with where and why."""

    def __init__(self, source: Path | str, audience: str, field: str, problem: str) -> None:
        self.source, self.audience, self.field, self.problem = str(source), audience, field, problem
        super().__init__(f"{source}: audience {audience!r}, field {field!r}: {problem}")


@dataclass(frozen=True)
class AudienceDefinition:
    """One audience: who (``where``), why (``reason``), how (``kind``, ``channels``) and what
    the message carries (``template_key``, ``payload``).

    ``where`` is a SQL boolean and ``reason`` a SQL text expression over the columns of
    ``marts.audience_candidates``; ``payload`` names candidate columns. ``priority``: the higher
    wins when the frequency cap allows fewer contacts than a customer has audiences.
    ``dedupe_days``: no second entry of a customer into this audience within that many days.
    ``primary_metric`` and ``primary_window_days``: the one lift test that decides whether the
    audience works (docs/lift.md); the other metrics and windows are secondary.
    """

    name: str
    purpose: str
    kind: str
    channels: tuple[str, ...]
    priority: int
    template_key: str
    where: str
    reason: str
    primary_metric: str
    primary_window_days: int
    payload: tuple[str, ...] = ()
    holdout_share: float | None = None
    dedupe_days: int | None = None

    @property
    def is_capped(self) -> bool:
        """Whether entries count against (and are limited by) the frequency cap."""
        return self.kind == MARKETING


def load_definitions(path: Path | str) -> tuple[AudienceDefinition, ...]:
    """The audience definitions of the YAML file ``path``, each checked (see
    :class:`DefinitionError`); their SQL is checked by :func:`check_against_candidates`."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DefinitionError(path, "-", "-", "the audience file does not exist") from None
    except yaml.YAMLError as error:
        raise DefinitionError(path, "-", "-", f"not valid YAML: {error}") from None
    entries = document.get("audiences") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise DefinitionError(path, "-", "audiences", "expected a non-empty list of audiences")
    return parse_definitions(entries, path)


def parse_definitions(
    entries: Sequence[object], source: Path | str = "<definitions>"
) -> tuple[AudienceDefinition, ...]:
    """Audience definitions from a list of mappings (the ``audiences`` list of the file)."""
    definitions: list[AudienceDefinition] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        definition = _parse_one(entry, source, position)
        if definition.name in seen:
            raise DefinitionError(source, definition.name, "name", "defined twice")
        seen.add(definition.name)
        definitions.append(definition)
    return tuple(definitions)


def _parse_one(entry: object, source: Path | str, position: int) -> AudienceDefinition:
    if not isinstance(entry, Mapping):
        raise DefinitionError(source, f"#{position}", "-", "expected a mapping of fields")
    name = entry.get("name")
    label = name if isinstance(name, str) and name else f"#{position}"

    def fail(field: str, problem: str) -> DefinitionError:
        return DefinitionError(source, label, field, problem)

    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise fail(unknown[0], f"unknown field (known: {', '.join(_REQUIRED + _OPTIONAL)})")
    for field in _REQUIRED:
        value = entry.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise fail(field, "missing")
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail("name", "must be lower-case letters, digits and underscores")
    for field in ("purpose", "template_key", "where", "reason"):
        if not isinstance(entry[field], str):
            raise fail(field, "must be text")
    kind = entry["kind"]
    if kind not in KINDS:
        raise fail("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
    channels = _channels(entry["channels"], kind, fail)
    priority = entry["priority"]
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise fail("priority", "must be a whole number, 0 or more (higher wins)")
    payload = entry.get("payload") or []
    if not isinstance(payload, list) or not all(isinstance(c, str) for c in payload):
        raise fail("payload", "must be a list of candidate column names")
    if len(set(payload)) != len(payload):
        raise fail("payload", "names a column twice")
    share = entry.get("holdout_share")
    if share is not None and (
        isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1
    ):
        raise fail("holdout_share", "must be a number from 0 up to (not including) 1")
    dedupe = entry.get("dedupe_days")
    if dedupe is not None and (
        isinstance(dedupe, bool) or not isinstance(dedupe, int) or dedupe < 1
    ):
        raise fail("dedupe_days", "must be a whole number of days, 1 or more")
    metric = entry["primary_metric"]
    if metric not in METRICS:
        raise fail("primary_metric", f"{metric!r} is not one of {', '.join(METRICS)}")
    window = entry["primary_window_days"]
    if window not in WINDOWS or isinstance(window, bool):
        raise fail(
            "primary_window_days", f"{window!r} is not one of {', '.join(map(str, WINDOWS))}"
        )
    return AudienceDefinition(
        name=name,
        purpose=entry["purpose"].strip(),
        kind=kind,
        channels=channels,
        priority=priority,
        template_key=entry["template_key"].strip(),
        where=entry["where"].strip(),
        reason=entry["reason"].strip(),
        primary_metric=metric,
        primary_window_days=window,
        payload=tuple(payload),
        holdout_share=None if share is None else float(share),
        dedupe_days=dedupe,
    )


def _channels(value: object, kind: str, fail) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise fail("channels", "must be a non-empty list, in order of preference")
    for channel in value:
        if channel not in CHANNELS:
            raise fail("channels", f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
    if len(set(value)) != len(value):
        raise fail("channels", "names a channel twice")
    if kind == TASK and value != [ACCOUNT_MANAGER]:
        raise fail("channels", f"a task goes to [{ACCOUNT_MANAGER}] only")
    if kind != TASK and ACCOUNT_MANAGER in value:
        raise fail("channels", f"{ACCOUNT_MANAGER} is for tasks only")
    return tuple(value)


def check_against_candidates(
    definitions: Sequence[AudienceDefinition],
    con: duckdb.DuckDBPyConnection,
    candidates: str,
    source: Path | str = "<definitions>",
) -> None:
    """Bind every definition's ``where``, ``reason`` and ``payload`` against the table or view
    ``candidates`` of ``con`` (nothing is read: the queries are only described), and
    raise :class:`DefinitionError` on the first that DuckDB rejects."""
    columns = {
        row[0] for row in con.execute(f"select column_name from (describe {candidates})").fetchall()
    }
    for definition in definitions:
        for column in definition.payload:
            if column not in columns:
                raise DefinitionError(
                    source, definition.name, "payload", f"no candidate column {column!r}"
                )
        for field, sql in (("where", definition.where), ("reason", definition.reason)):
            try:
                ((_, kind, *_),) = con.execute(
                    f"describe select ({sql}) as value from {candidates}"
                ).fetchall()
            except duckdb.Error as error:
                problem = str(error).splitlines()[0]
                raise DefinitionError(source, definition.name, field, problem) from None
            if field == "where" and kind != "BOOLEAN":
                raise DefinitionError(
                    source, definition.name, field, f"must be true or false, not {kind}"
                )
