"""Record rules measured in DuckDB SQL as Great Expectations results, and build Data Docs.

Every rule is measured in SQL (``data_quality.measure``); GX only stores the results
(:func:`record_measured`) in the suites, validation results and Data Docs pages it has always
had. GX's own SQL datasource is not used: on DuckDB it reports every expectation as failed and
hides the real error in ``exception_info``. A rule that could not be evaluated raises
:class:`EngineError`: an engine error is never counted as a data failure or a pass.

Personal data: raw results keep counts only, so no value of a delivered column (PII or free
text) reaches the results, the Data Docs or Dagster's metadata. Output-table results show a few
example values of the broken rule's column, which is never a PII column (see
``data_quality/table_rules.py``).

One GX context per process and Data Docs folder (building one is cheap; importing GX is not).
The context is ephemeral, but its expectation suites and validation results live as JSON under
``<docs>/.gx/`` so that the one Data Docs site lists the runs of every process; the latest
:data:`KEEP_RESULTS_PER_SUITE` results of each suite are kept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from data_quality.gx import (
    DataContextConfig,
    DataContextError,
    ExpectationSuiteIdentifier,
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
    InMemoryStoreBackendDefaults,
    RunIdentifier,
    ValidationResultIdentifier,
    gx,
)
from data_quality.offline_docs import make_offline
from data_quality.rules import Rule, RuleResult

KEEP_RESULTS_PER_SUITE = 30
SITE = "weixi"


class EngineError(RuntimeError):
    """Great Expectations or DuckDB could not evaluate a rule (a missing column, a bad regex, a
    type it cannot compare): the rule says nothing about the data, so the check must error."""


@dataclass(frozen=True)
class Measured:
    """One rule measured outside GX: whether it held, and GX's result dictionary for it (counts
    and example values for a column rule, the observed value for a table rule)."""

    rule: Rule
    success: bool
    result: dict[str, Any]


@dataclass
class Validation:
    """All rule results of one dataset (a table, its coverage, a source's volume), and the
    GX validation result they are stored as."""

    dataset: str
    rows: int
    results: list[RuleResult] = field(default_factory=list)
    result_id: Any = None

    def failed(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]


def _safe_detail(result: Any) -> str:
    """What a table-level expectation observed, for the few whose observation holds no row
    values (column names, a type name, a row count); for a column rule, the example values
    its result holds (only output-table results hold any)."""
    kind = result.expectation_config.type
    observed = result.result or {}
    examples = observed.get("partial_unexpected_list")
    if examples:
        return "e.g. " + ", ".join(str(value) for value in examples)
    if kind == "expect_table_columns_to_match_set":
        missing = observed.get("details", {}).get("mismatched", {}).get("missing") or []
        return f"missing columns: {', '.join(missing)}" if missing else ""
    if kind in ("expect_column_values_to_be_of_type", "expect_table_row_count_to_be_between"):
        return f"observed {observed.get('observed_value')}"
    return ""


def _raised(exception_info: dict) -> list[str]:
    """Messages of the exceptions GX caught while evaluating one expectation. ``exception_info``
    is flat for some failures and keyed by metric for others."""
    if not exception_info:
        return []
    if "raised_exception" in exception_info:
        infos = [exception_info]
    else:
        infos = [v for v in exception_info.values() if isinstance(v, dict)]
    return [
        str(i.get("exception_message") or "unknown error")
        for i in infos
        if i.get("raised_exception")
    ]


@cache
def quality_context(docs_root: Path) -> Any:
    """The GX context of this process for the Data Docs site in ``docs_root``."""
    store_root = docs_root / ".gx"
    defaults = InMemoryStoreBackendDefaults()

    def on_disk(store_class: str, folder: str) -> dict:
        backend = {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(store_root / folder),
        }
        return {"class_name": store_class, "store_backend": backend}

    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores={
            **defaults.stores,
            defaults.expectations_store_name: on_disk("ExpectationsStore", "expectations"),
            defaults.validation_results_store_name: on_disk(
                "ValidationResultsStore", "validations"
            ),
        },
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_root),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars={"globally": False},
    )
    return gx.get_context(project_config=config, mode="ephemeral")


_suites: dict[tuple[int, str], tuple[str, Any]] = {}
"""Expectation suites of this process by context and dataset, with their rules' signature:
saving a suite serialises all of it, so a suite is saved once per process unless it changed."""

_suites_to_render: set[tuple[int, str]] = set()
"""Suites saved since their Data Docs page was last rendered."""


def _signature(expectations: list[Any]) -> str:
    """The expectations of a suite, without the ids the store gives them."""
    configs = []
    for expectation in expectations:
        config = expectation.configuration.to_json_dict()
        config.pop("id", None)
        config.pop("rendered_content", None)
        configs.append(config)
    return repr(configs)


def _suite(context: Any, dataset: str, rules: list[Rule]) -> Any:
    """The saved suite ``dataset`` holding ``rules``, each expectation numbered in its meta."""
    expectations = []
    for number, rule in enumerate(rules):
        expectation = rule.expectation.copy(deep=True)
        expectation.meta = {"check": rule.check.name, "rule": rule.name, "number": number}
        expectations.append(expectation)
    signature = _signature(expectations)
    cached = _suites.get((id(context), dataset))
    if cached and cached[0] == signature:
        return cached[1]
    try:
        suite = context.suites.get(dataset)
    except DataContextError:
        suite = None
    if suite is None or _signature(suite.expectations) != signature:
        # delete + add: add_or_update compares every expectation with every other one.
        if suite is not None:
            context.suites.delete(dataset)
        suite = context.suites.add(gx.ExpectationSuite(name=dataset, expectations=expectations))
        _suites_to_render.add((id(context), dataset))
    _suites[(id(context), dataset)] = (signature, suite)
    return suite


def rule_results(
    dataset: str, rules: list[Rule], results: list[Any], rows: int
) -> tuple[list[RuleResult], list[str]]:
    """GX's expectation results (of expectations numbered in their meta, as :func:`_suite`
    numbers them) as rule results, and the errors GX raised evaluating them."""
    converted, errors = [], []
    for result in results:
        config = result.expectation_config
        rule = rules[config.meta["number"]] if "number" in (config.meta or {}) else None
        name = rule.name if rule else config.type
        for message in _raised(result.exception_info):
            errors.append(f"{name}: {message}")
        if rule is None or errors:
            continue
        counts = result.result or {}
        converted.append(
            RuleResult(
                dataset=dataset,
                check=rule.check,
                rule=rule.name,
                expectation=config.type,
                column=config.kwargs.get("column"),
                passed=bool(result.success),
                rows=int(counts.get("element_count", rows)),
                unexpected=counts.get("unexpected_count"),
                detail=_safe_detail(result),
            )
        )
    return converted, errors


def _by_number(suite: Any) -> list[Any]:
    """The expectations of a suite made by :func:`_suite`, in the order of their rules."""
    return sorted(suite.expectations, key=lambda e: e.meta["number"])


def record_measured(
    docs_root: Path, dataset: str, rows: int, measured: list[Measured], run_name: str
) -> Validation:
    """Store rules measured outside GX (``rows`` rows checked) as the result of the suite
    ``dataset`` in run ``run_name``, for Data Docs, and return their rule results."""
    context = quality_context(docs_root)
    rules = [m.rule for m in measured]
    suite = _suite(context, dataset, rules)
    results = [
        ExpectationValidationResult(
            success=m.success,
            expectation_config=expectation.configuration,
            result=m.result,
            exception_info={
                "raised_exception": False,
                "exception_message": None,
                "exception_traceback": None,
            },
        )
        for m, expectation in zip(measured, _by_number(suite), strict=True)
    ]
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    batch_id = f"{dataset}-duckdb"
    evaluated, succeeded = len(results), sum(m.success for m in measured)
    suite_result = ExpectationSuiteValidationResult(
        results=results,
        success=evaluated == succeeded,
        suite_name=dataset,
        statistics={
            "evaluated_expectations": evaluated,
            "successful_expectations": succeeded,
            "unsuccessful_expectations": evaluated - succeeded,
            "success_percent": 100 * succeeded / evaluated if evaluated else None,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": run_id,
            "validation_time": run_id.run_time,
            "batch_spec": {"table": dataset, "engine": "duckdb"},
            "batch_parameters": None,
        },
        batch_id=batch_id,
    )
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=dataset),
        run_id=run_id,
        batch_identifier=batch_id,
    )
    context.validation_results_store.set(key, suite_result)
    validation = Validation(dataset, rows, result_id=key)
    validation.results, _ = rule_results(dataset, rules, results, rows)
    return validation


def build_docs(
    docs_root: Path, validations: list[Validation], keep: int = KEEP_RESULTS_PER_SUITE
) -> str:
    """Render the pages of ``validations`` and their suites, keep the newest ``keep`` results of
    each suite, rebuild the index, and make the pages built open offline
    (:mod:`data_quality.offline_docs`). Returns the file URL of the index page."""
    context = quality_context(docs_root)
    _prune(context, keep)
    identifiers = [v.result_id for v in validations if v.result_id is not None]
    # A suite's page changes only with the suite (rendering a page costs about 0.15 s).
    identifiers += [
        suite
        for suite in dict.fromkeys(ExpectationSuiteIdentifier(name=v.dataset) for v in validations)
        if (id(context), suite.name) in _suites_to_render or not _page_exists(context, suite)
    ]
    urls = context.build_data_docs(site_names=[SITE], resource_identifiers=identifiers)
    _suites_to_render.difference_update((id(context), v.dataset) for v in validations)
    built = [urls[SITE]] + [
        site["site_url"]
        for identifier in identifiers
        for site in context.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE)
    ]
    make_offline([_file(url) for url in dict.fromkeys(built)])
    return urls[SITE]


def _page_exists(context: Any, identifier: Any) -> bool:
    sites = context.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE)
    return bool(sites) and _file(sites[0]["site_url"]).is_file()


def _file(url: str) -> Path:
    """The path of a ``file://`` URL of a Data Docs page."""
    return Path(unquote(urlparse(url).path))


def page_url(docs_root: Path, validation: Validation) -> str | None:
    """File URL of the Data Docs page of ``validation``."""
    if validation.result_id is None:
        return None
    sites = quality_context(docs_root).get_docs_sites_urls(
        resource_identifier=validation.result_id, site_name=SITE
    )
    return sites[0]["site_url"] if sites else None


def _prune(context: Any, keep: int) -> None:
    """Keep the newest ``keep`` results of each suite; drop older ones with their pages."""
    store = context.validation_results_store
    by_suite: dict[str, list] = defaultdict(list)
    for key in store.list_keys():
        by_suite[key.expectation_suite_identifier.name].append(key)
    for keys in by_suite.values():
        keys.sort(key=lambda k: str(k.run_id.run_time), reverse=True)
        for key in keys[keep:]:
            for site in context.get_docs_sites_urls(resource_identifier=key, site_name=SITE):
                page = _file(site["site_url"] or "")
                # A result recorded but never rendered (its run failed before Data Docs) has
                # no page: GX gives it a URL without a path.
                if page.is_file():
                    page.unlink()
            store.remove_key(key)
