"""A lint of the dbt project's SQL for spellings only DuckDB understands.

The models run on DuckDB and on Spark (issue 15): what the two engines spell differently lives
in the dispatched macros of ``dbt_project/macros/cross_db.sql``; everywhere else the SQL must
be spelled the same on both. Each rule names a DuckDB-only spelling and the portable one to
write instead. The lint reads the SQL outside Jinja tags, comments and string literals (a
macro's arguments are checked where the macro writes them), and the contract types of the
models' YAML. ``python -m warehouse.sql_portability`` prints every finding, one per line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    """A DuckDB-only spelling: a regular expression over SQL with Jinja, comments and string
    literals blanked out, and the portable spelling that replaces it. With ``min_arguments``
    the pattern must end at a call's opening parenthesis and matches only calls with at least
    that many arguments (``max(x)`` is portable, ``max(x, 2)`` is not)."""

    name: str
    pattern: re.Pattern[str]
    replacement: str
    min_arguments: int = 0


def _rule(name: str, pattern: str, replacement: str, min_arguments: int = 0) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE), replacement, min_arguments)


SQL_RULES: tuple[Rule, ...] = (
    _rule("varchar", r"\bvarchar\b", "string"),
    _rule("* exclude", r"\*\s*exclude\b", "* except (...)"),
    _rule("::", r"::", "cast(... as ...)"),
    _rule("list literal or index", r"\[", "list_of([...]) or list_element(list, n)"),
    _rule("list_ function", r"\blist_\w+\s*\(", "list_concat, list_top_distinct, list_element"),
    _rule("unnest", r"\bunnest\s*\(", "unnest_list, unnest_split, unnest_range"),
    _rule("range", r"\brange\s*\(", "unnest_range(start, stop)"),
    _rule("generate_series", r"\bgenerate_series\s*\(", "unnest_date_series(start, stop, step)"),
    _rule("string_split", r"\b(string_split|str_split)\s*\(", "unnest_split(text, separator)"),
    _rule("regexp_replace", r"\bregexp_replace\s*\(", "regexp_replace_all(text, pattern, new)"),
    _rule("regexp_matches", r"\bregexp_(matches|full_match)\s*\(", "regexp_contains"),
    _rule("ltrim/rtrim with characters", r"\b[lr]trim\s*\(", "trim(leading 'c' from text)", 2),
    _rule("strpos", r"\bstrpos\s*\(", "instr(text, substring)"),
    _rule("arg_max/arg_min", r"\barg_(max|min)\s*\(", "max_by / min_by"),
    _rule("max/min of n", r"\b(max|min)\s*\(", "max_n(value, n)", 2),
    _rule("string_agg", r"\b(string_agg|group_concat|listagg)\s*\(", "ordered_string_agg"),
    _rule("epoch", r"\bepoch(_ms|_us)?\s*\(", "seconds_between(start, end)"),
    _rule(
        "date_diff",
        r"\b(date_diff|datediff|date_sub)\s*\(",
        "days_between, whole_seconds_between, months_between_starts",
    ),
    _rule(
        "to_days/to_months",
        r"\bto_(days|months|years|hours|minutes|seconds)\s*\(",
        ("days_interval(n), months_interval(n)"),
    ),
    _rule("union by name", r"\bunion\s+(all\s+)?by\s+name\b", "union all of listed columns"),
    _rule("asof join", r"\basof\b", "asof_join(...)"),
    _rule("integer division //", r"//", "cast(floor(a / b) as bigint)"),
    _rule("rowid", r"\browid\b", "a key column (Spark tables have no rowid)"),
)
"""DuckDB-only spellings of SQL, each with the portable spelling or cross_db.sql macro."""

JINJA_RULES: tuple[Rule, ...] = (
    _rule(
        "incremental_strategy",
        r"\bincremental_strategy\s*=",
        "incremental_by_key(unique_key) (delete+insert on DuckDB, a table on Spark)",
    ),
)
"""DuckDB-only model configs, read in the Jinja the other rules skip."""

YAML_RULES: tuple[Rule, ...] = (
    _rule("varchar", r"^\s*data_type:\s*varchar\b", "data_type: string"),
    _rule("list type", r"^\s*data_type:\s*\w+\[\]", "array<...> (not portable to DuckDB)"),
)
"""DuckDB-only contract types in the models' YAML."""

DISPATCH_MACROS = Path("macros/cross_db.sql")
"""Relative to the dbt project: the one file where DuckDB's spellings belong."""

PENDING: dict[Path, frozenset[str]] = {
    # The incremental branch of the base_ models unions the stored rows by name (columns a
    # delivery added are appended to the stored table); on Spark the models are full tables
    # (incremental_by_key), so the branch never runs there.
    Path("macros/latest_deliveries.sql"): frozenset({"union by name"}),
}
"""Known DuckDB-only spellings not yet made portable: (file, rule names) the lint lets pass,
so that anything new fails. The test checks each entry still matches something."""

SKIPPED_YAML_SUFFIXES = ("__sources.yml", "_unit_tests.yml")
"""Sources are documented in DuckDB's types by `weixi contract`, and dbt unit tests run on
DuckDB only: neither is SQL the Spark lane runs."""


@dataclass(frozen=True)
class Finding:
    """A DuckDB-only spelling at a line of a file of the dbt project."""

    path: Path
    line: int
    rule: Rule

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: `{self.rule.name}` is DuckDB-only; "
            f"write {self.rule.replacement} (dbt_project/macros/cross_db.sql)"
        )


def blank_non_sql(text: str) -> str:
    """``text`` with Jinja tags and comments, SQL comments and string literals replaced by
    spaces (newlines kept, so line numbers stay), leaving the SQL the models write."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int) -> None:
        for j in range(start, min(end, n)):
            if out[j] != "\n":
                out[j] = " "

    closers = {"{{": "}}", "{%": "%}", "{#": "#}", "--": "\n", "/*": "*/"}
    while i < n:
        opener = text[i : i + 2]
        if opener in closers:
            end = text.find(closers[opener], i + 2)
            end = n if end < 0 else end + len(closers[opener])
            blank(i, end)
            i = end
        elif text[i] == "'":
            end = i + 1
            while end < n and (text[end] != "'" or text[end : end + 2] == "''"):
                end += 2 if text[end : end + 2] == "''" else 1
            blank(i, end + 1)
            i = end + 1
        else:
            i += 1
    return "".join(out)


def _argument_count(sql: str, open_paren: int) -> int:
    """The number of top-level arguments of the call whose ``(`` is at ``open_paren``."""
    depth, commas = 0, 0
    for position in range(open_paren, len(sql)):
        char = sql[position]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                empty = not sql[open_paren + 1 : position].strip()
                return 0 if empty else commas + 1
        elif char == "," and depth == 1:
            commas += 1
    return commas + 1


def _findings(text: str, rules: tuple[Rule, ...], path: Path) -> Iterator[Finding]:
    for rule in rules:
        for match in rule.pattern.finditer(text):
            if rule.min_arguments and _argument_count(text, match.end() - 1) < rule.min_arguments:
                continue
            yield Finding(path, text.count("\n", 0, match.start()) + 1, rule)


def check_sql(text: str, path: Path) -> list[Finding]:
    """The DuckDB-only spellings in the SQL file ``text`` (a model, macro or test)."""
    findings = [
        *_findings(blank_non_sql(text), SQL_RULES, path),
        *_findings(text, JINJA_RULES, path),
    ]
    return sorted(findings, key=lambda finding: finding.line)


def check_yaml(text: str, path: Path) -> list[Finding]:
    """The DuckDB-only contract types in the YAML file ``text``."""
    lines = text.splitlines()
    return [
        Finding(path, number, rule)
        for number, line in enumerate(lines, start=1)
        for rule in YAML_RULES
        if rule.pattern.search(line)
    ]


def check_project(project_dir: Path) -> list[Finding]:
    """Every DuckDB-only spelling in the dbt project at ``project_dir`` outside the dispatch
    macros, PENDING ones included (paths relative to the project)."""
    findings: list[Finding] = []
    for folder in ("models", "macros", "tests"):
        for path in sorted((project_dir / folder).rglob("*")):
            relative = path.relative_to(project_dir)
            if path.suffix == ".sql" and relative != DISPATCH_MACROS:
                findings += check_sql(path.read_text(encoding="utf-8"), relative)
            elif path.suffix == ".yml" and not path.name.endswith(SKIPPED_YAML_SUFFIXES):
                findings += check_yaml(path.read_text(encoding="utf-8"), relative)
    return findings


def is_pending(finding: Finding) -> bool:
    """True for a known DuckDB-only spelling listed in PENDING."""
    return finding.rule.name in PENDING.get(finding.path, frozenset())


def main(project_dir: Path) -> int:
    """Print the findings not PENDING; exit status 1 when there is one."""
    failures = [finding for finding in check_project(project_dir) if not is_pending(finding)]
    for finding in failures:
        print(f"{project_dir.name}/{finding}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parents[1] / "dbt_project"))
