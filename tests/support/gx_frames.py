"""Great Expectations run on a pandas frame: how the checks ran before they were measured in
DuckDB SQL. Kept only as the reference that the parity tests and ``benchmarks/bench_quality.py``
compare the SQL measures with; Weixi itself no longer validates frames."""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from itertools import count
from typing import Any

import pandas as pd

from data_quality.gx import DataContextConfig, InMemoryStoreBackendDefaults, gx, gxe
from data_quality.rules import Rule, RuleResult
from data_quality.validation import EngineError, rule_results

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
_names = count()


@cache
def _context() -> Any:
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars={"globally": False},
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    context.data_sources.add_pandas("frames")
    return context


def validate_frame(frame: pd.DataFrame, rules: list[Rule], dataset: str) -> list[RuleResult]:
    """The results of ``rules`` run by GX on ``frame``, as the checks reported them before.
    Raises EngineError naming the rules GX could not evaluate."""
    context = _context()
    name = f"{dataset}-{next(_names)}"
    expectations = []
    for number, rule in enumerate(rules):
        expectation = rule.expectation.copy(deep=True)
        expectation.meta = {"number": number}
        expectations.append(expectation)
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    batch = (
        context.data_sources.get("frames")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole frame")
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT)
    results, errors = rule_results(dataset, rules, outcome.results, len(frame))
    if errors:
        raise EngineError(f"{dataset}: Great Expectations could not evaluate: " + "; ".join(errors))
    return results


PANDAS_TYPES = {
    "VARCHAR": "str",
    "BIGINT": "int64",
    "DECIMAL(18,2)": "float64",
    "BOOLEAN": "bool",
    "DATE": "datetime64",
    "TIMESTAMP": "datetime64",
}
"""The pandas type (GX's name for it) each DuckDB type of a raw table arrives as in a frame."""


def frame_rules(rules: list[Rule]) -> list[Rule]:
    """``rules`` with their DuckDB column types named as pandas types, as the frame path
    declared them."""
    framed = []
    for rule in rules:
        kwargs = rule.expectation.configuration.kwargs
        if rule.expectation.expectation_type == "expect_column_values_to_be_of_type":
            expectation = gxe.ExpectColumnValuesToBeOfType(
                column=kwargs["column"], type_=PANDAS_TYPES[kwargs["type_"]]
            )
            rule = replace(rule, expectation=expectation)
        framed.append(rule)
    return framed
