"""The dbt project beside the package, the dbt executable, and the manifest.

Nothing here runs on import: the manifest is prepared when the dbt assets are made (the code
location loads) or when a command asks for it, so importing this package never starts dbt.
"""

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


def prepare_manifest(force: bool = False) -> Path:
    """The path of a current manifest: re-parsed under `dg dev` (so edits to the models show),
    parsed when missing, or always with ``force``."""
    weixi_dbt_project.prepare_if_dev()
    if force or not weixi_dbt_project.manifest_path.exists():
        # Parsing reads no var values, so the plain resource does, without the settings.
        parser = DbtCliResource(project_dir=weixi_dbt_project, dbt_executable=DBT_EXECUTABLE)
        parser.cli(["--quiet", "parse"], target_path=Path("target")).wait()
    return weixi_dbt_project.manifest_path
