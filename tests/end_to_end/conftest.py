"""Fixtures of the end-to-end tests only: the messy landing folder through the whole pipeline."""

import pytest


@pytest.fixture(scope="session")
def messy_pipeline(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: None):
    """Every kind of bad delivery through ingestion, dbt and the publish step: a backfill, then
    a nightly run read by a BI reader in another process (see tests/support/messy_pipeline.py)."""
    from tests.support.messy_pipeline import build_messy_pipeline

    return build_messy_pipeline(tmp_path_factory.mktemp("messy"))
