"""The Dagster instance that `weixi` commands and `make dev` share, so that runs started from the
command line show in the UI. Its configuration keeps one run, and one warehouse writer, at a
time within the instance; the writer lock (`orchestration.warehouse_lock`) keeps one writer per
warehouse across instances and processes, throw-away command-line instances included."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import WeixiSettings

INSTANCE_YAML = """\
# Written by weixi; edits are overwritten.
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
  pools:
    default_limit: 1
"""


def prepare_dagster_home(settings: WeixiSettings) -> str:
    """Create the Dagster home folder with Weixi's instance configuration; return its path."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() != INSTANCE_YAML:
        config.write_text(INSTANCE_YAML)
    return str(home)


def weixi_instance(settings: WeixiSettings) -> dg.DagsterInstance:
    """The persistent Dagster instance in ``settings.dagster_home``."""
    return dg.DagsterInstance.from_config(prepare_dagster_home(settings))
