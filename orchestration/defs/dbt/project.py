"""The dbt project beside the package, the dbt executable, and the manifest."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.settings import DBT_PROJECT_DIR

weixi_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# The dbt installed beside this Python, so that an inactive virtual environment still works.
_beside = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_beside) if _beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=weixi_dbt_project,
        profiles_dir=str(weixi_dbt_project.profiles_dir),
        dbt_executable=DBT_EXECUTABLE,
    )


def prepare_manifest(force: bool = False) -> None:
    """Run ``dbt parse`` when the manifest is missing (or always, with ``force``)."""
    if force or not weixi_dbt_project.manifest_path.exists():
        dbt_resource().cli(["--quiet", "parse"], target_path=Path("target")).wait()


weixi_dbt_project.prepare_if_dev()
prepare_manifest()
