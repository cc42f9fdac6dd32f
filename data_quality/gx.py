"""Great Expectations, imported once with its usage statistics off.

Import GX from here (``from data_quality.gx import gx, gxe``) so that the setting is in place
before GX reads it, whoever imports first.
"""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.core.expectation_validation_result import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import (  # noqa: E402
    DataContextConfig,
    InMemoryStoreBackendDefaults,
)
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.exceptions import DataContextError  # noqa: E402
from great_expectations.expectations.row_conditions import Column as Col  # noqa: E402

__all__ = [
    "Col",
    "DataContextConfig",
    "DataContextError",
    "ExpectationSuiteIdentifier",
    "ExpectationSuiteValidationResult",
    "ExpectationValidationResult",
    "InMemoryStoreBackendDefaults",
    "RunIdentifier",
    "ValidationResultIdentifier",
    "gx",
    "gxe",
]
