"""Run rules on an in-memory pandas frame with Great Expectations, and build Data Docs.

Frames, not GX's SQL datasource: on DuckDB that path reports every expectation as failed and
hides the real error in ``exception_info``. Whatever the path, an expectation that GX could not
evaluate raises :class:`EngineError`: an engine error is never counted as a data failure or a
pass.

Personal data: results keep counts only. Every validation runs with the ``SUMMARY`` result format
and no partial unexpected values, so no value of any column (PII or free text) reaches the
results, the Data Docs or Dagster's metadata.

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

import pandas as pd

from data_quality.gx import (
    DataContextConfig,
    DataContextError,
    ExpectationSuiteIdentifier,
    InMemoryStoreBackendDefaults,
    RunIdentifier,
    gx,
)
from data_quality.offline_docs import make_offline
from data_quality.rules import Rule, RuleResult

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
"""Counts of unexpected rows, never their values."""

KEEP_RESULTS_PER_SUITE = 30
SITE = "weixi"


class EngineError(RuntimeError):
    """Great Expectations could not evaluate a rule (a missing column, a bad regex, a type it
    cannot compare): the rule says nothing about the data, so the check must error."""


@dataclass
class FrameValidation:
    """All rule results of one frame, and the GX result they came from."""

    dataset: str
    rows: int
    results: list[RuleResult] = field(default_factory=list)
    result_id: Any = None

    def failed(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]


def _safe_detail(result: Any) -> str:
    """What a table-level expectation observed, for the few whose observation holds no row
    values (column names, a type name, a row count)."""
    kind = result.expectation_config.type
    observed = result.result or {}
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
    context = gx.get_context(project_config=config, mode="ephemeral")
    context.data_sources.add_pandas("weixi")
    return context


def _batch_definition(context: Any, dataset: str) -> Any:
    source = context.data_sources.get("weixi")
    try:
        asset = source.get_asset(dataset)
    except LookupError:
        asset = source.add_dataframe_asset(dataset)
    try:
        return asset.get_batch_definition("whole frame")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole frame")


_definitions: dict[tuple[int, str], tuple[str, Any]] = {}
"""Validation definitions of this process by context and dataset, with their suite's rules:
saving a suite serialises all of it, so a suite is saved once per process unless it changed."""


def _signature(expectations: list[Any]) -> str:
    """The expectations of a suite, without the ids the store gives them."""
    configs = []
    for expectation in expectations:
        config = expectation.configuration.to_json_dict()
        config.pop("id", None)
        config.pop("rendered_content", None)
        configs.append(config)
    return repr(configs)


def _validation_definition(context: Any, dataset: str, rules: list[Rule]) -> Any:
    expectations = []
    for number, rule in enumerate(rules):
        expectation = rule.expectation.copy(deep=True)
        expectation.meta = {"check": rule.check.name, "rule": rule.name, "number": number}
        expectations.append(expectation)
    signature = _signature(expectations)
    cached = _definitions.get((id(context), dataset))
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
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=dataset, data=_batch_definition(context, dataset), suite=suite)
    )
    _definitions[(id(context), dataset)] = (signature, definition)
    return definition


def validate_frame(
    docs_root: Path, dataset: str, frame: pd.DataFrame, rules: list[Rule], run_name: str
) -> FrameValidation:
    """Run ``rules`` on ``frame`` as the suite ``dataset`` and store the result for Data Docs.

    Raises EngineError naming the dataset and the rule when GX could not evaluate a rule."""
    context = quality_context(docs_root)
    try:
        definition = _validation_definition(context, dataset, rules)
        run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
        outcome = definition.run(
            batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT, run_id=run_id
        )
    except Exception as exc:
        raise EngineError(f"{dataset}: Great Expectations failed: {exc}") from exc
    validation = FrameValidation(
        dataset, len(frame), result_id=_result_id(context, dataset, run_id)
    )
    errors = []
    for result in outcome.results:
        config = result.expectation_config
        rule = rules[config.meta["number"]] if "number" in (config.meta or {}) else None
        name = rule.name if rule else config.type
        for message in _raised(result.exception_info):
            errors.append(f"{name}: {message}")
        if rule is None or errors:
            continue
        counts = result.result or {}
        validation.results.append(
            RuleResult(
                dataset=dataset,
                check=rule.check,
                rule=rule.name,
                expectation=config.type,
                column=config.kwargs.get("column"),
                passed=bool(result.success),
                rows=int(counts.get("element_count", len(frame))),
                unexpected=counts.get("unexpected_count"),
                detail=_safe_detail(result),
            )
        )
    if errors:
        raise EngineError(
            f"{dataset}: Great Expectations could not evaluate "
            f"{len(errors)} rule{'s' * (len(errors) > 1)}: " + "; ".join(errors)
        )
    return validation


def _result_id(context: Any, dataset: str, run_id: Any) -> Any:
    """The store key of the result of suite ``dataset`` in run ``run_id``."""
    for key in context.validation_results_store.list_keys():
        if key.expectation_suite_identifier.name == dataset and key.run_id == run_id:
            return key
    return None


def build_docs(
    docs_root: Path, validations: list[FrameValidation], keep: int = KEEP_RESULTS_PER_SUITE
) -> str:
    """Render the pages of ``validations`` and their suites, keep the newest ``keep`` results of
    each suite, rebuild the index, and make the pages built open offline
    (:mod:`data_quality.offline_docs`). Returns the file URL of the index page."""
    context = quality_context(docs_root)
    _prune(context, keep)
    identifiers = [v.result_id for v in validations if v.result_id is not None]
    identifiers += [ExpectationSuiteIdentifier(name=v.dataset) for v in validations]
    urls = context.build_data_docs(site_names=[SITE], resource_identifiers=identifiers)
    built = [urls[SITE]] + [
        site["site_url"]
        for identifier in identifiers
        for site in context.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE)
    ]
    make_offline([_file(url) for url in dict.fromkeys(built)])
    return urls[SITE]


def _file(url: str) -> Path:
    """The path of a ``file://`` URL of a Data Docs page."""
    return Path(unquote(urlparse(url).path))


def page_url(docs_root: Path, validation: FrameValidation) -> str | None:
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
                _file(site["site_url"]).unlink(missing_ok=True)
            store.remove_key(key)
