"""What a rule is: a Great Expectations expectation, the Dagster check it reports under, and a
name a person on call can read.

Every rule belongs to one *check*. A check is what Dagster shows on an asset: it passes when all
its rules pass, and its severity says whether a failure stops the run (blocking) or only warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_quality.gx import gxe


BLANK_PATTERN = r"^\s*$"
"""A value of only whitespace (or empty): text that should have been loaded as no value."""


@dataclass(frozen=True)
class Check:
    """A group of rules reported as one Dagster asset check."""

    name: str
    blocking: bool
    description: str


CONTRACT = Check(
    "contract",
    True,
    "The day's delivery keeps the data contract: columns and types, required values, keys "
    "unique within a delivery, allowed values, amounts and scores in range, no timestamp after "
    "the delivery day. Blocking: models never read a delivery that breaks it.",
)
PLAUSIBILITY = Check(
    "plausibility",
    False,
    "Soft rules on the delivery: e-mail and phone formats, events in order (a ticket resolved "
    "after it was opened, a refund not above the amount paid). Warns.",
)
VOLUME = Check(
    "volume",
    False,
    "Rows delivered per day against the median of the previous days: warns on an empty "
    "delivery and on a day far below or above the usual volume.",
)
INTEGRITY = Check(
    "integrity",
    True,
    "The table is sound: one row per key, required values present, values in their sets and "
    "ranges, probabilities in [0, 1], every customer it must cover present. Blocking.",
)
FRESHNESS = Check(
    "freshness",
    False,
    "The table has rows and is computed as of the current reference date. Warns.",
)


@dataclass(frozen=True)
class Rule:
    """One expectation and the check it reports under."""

    expectation: gxe.Expectation
    check: Check
    label: str = ""

    @property
    def name(self) -> str:
        """A short readable name: the label, or the expectation and its columns."""
        return self.label or describe(self.expectation)


def describe(expectation: gxe.Expectation) -> str:
    """``values_to_not_be_null(customer_id)``: the expectation type without ``expect_column_``
    and the column(s) it looks at."""
    kwargs = expectation.configuration.kwargs
    columns = (
        kwargs.get("column")
        or ", ".join(kwargs.get("column_list") or ())
        or ", ".join(c for c in (kwargs.get("column_A"), kwargs.get("column_B")) if c)
    )
    kind = expectation.expectation_type.removeprefix("expect_").removeprefix("column_")
    return f"{kind}({columns})" if columns else kind


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule on one frame: counts and a safe detail, never row values."""

    dataset: str
    check: Check
    rule: str
    expectation: str
    column: str | None
    passed: bool
    rows: int
    unexpected: int | None = None
    detail: str = ""

    def summary(self) -> str:
        """``values_to_not_be_null(email): 3 of 1,200 rows`` for metadata and logs, with the
        detail when there is one (``... rows (e.g. 1.5)``)."""
        if self.unexpected is not None:
            counts = f"{self.rule}: {self.unexpected:,} of {self.rows:,} rows"
            return f"{counts} ({self.detail})" if self.detail else counts
        return f"{self.rule}: {self.detail}" if self.detail else self.rule
