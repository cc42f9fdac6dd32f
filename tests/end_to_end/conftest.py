"""Fixtures of the end-to-end tests only: the messy landing folder through the whole pipeline,
and a first `weixi backfill` of a tiny landing folder."""

import subprocess
from pathlib import Path

import pytest

from demo_data import GeneratorConfig, generate
from tests.support import TINY_CUSTOMERS, TINY_DAYS, TINY_END, TINY_RANGE, parse_lock
from tests.support.weixi_process import run_weixi


@pytest.fixture(scope="session")
def messy_pipeline(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: None):
    """Every kind of bad delivery through ingestion, dbt and the publish step: a backfill, then
    a nightly run read by a BI reader in another process (see tests/support/messy_pipeline.py)."""
    from tests.support.messy_pipeline import build_messy_pipeline

    return build_messy_pipeline(tmp_path_factory.mktemp("messy"))


@pytest.fixture(scope="session")
def tiny_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of deliveries of every source from a few customers: enough for the whole
    nightly job (models, audiences, reports) to run, for tests of the command around it."""
    out = tmp_path_factory.mktemp("tiny_landing")
    generate(
        GeneratorConfig(
            out=out, customers=TINY_CUSTOMERS, days=TINY_DAYS, end_date=TINY_END, seed=5
        )
    )
    return out


@pytest.fixture(scope="session")
def tiny_backfill(
    tmp_path_factory: pytest.TempPathFactory, tiny_landing: Path, dbt_manifest: None
) -> tuple[Path, subprocess.CompletedProcess]:
    """`weixi backfill` of the last days of ``tiny_landing`` into a folder of its own (warehouse,
    Dagster home, Data Docs, models, exports), run once: the CLI test asserts on what it says
    and leaves, the SIGTERM test compares a stopped-and-rerun warehouse with its tables."""
    folder = tmp_path_factory.mktemp("tiny_backfill")
    # A session fixture is set up before the test's own parse lock is taken: take it here.
    with parse_lock(exclusive=False):
        result = run_weixi(folder, "backfill", "--landing", str(tiny_landing), *TINY_RANGE)
    return folder, result
