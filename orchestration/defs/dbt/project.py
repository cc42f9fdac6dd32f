"""The dbt project beside the package, the dbt executable, and the manifest.

Nothing here runs on import: the manifest is prepared when the dbt assets are made (the code
location loads) or when a command asks for it, so importing this package never starts dbt.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from importlib.metadata import version
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from orchestration.settings import DBT_PROJECT_DIR

weixi_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# The dbt installed beside this Python, so that an inactive virtual environment still works.
_beside = Path(sys.executable).with_name("dbt")
DBT_EXECUTABLE = str(_beside) if _beside.exists() else (shutil.which("dbt") or "dbt")


NOT_SOURCES = frozenset({"target", "dbt_packages", "logs"})
"""Folders of the dbt project that dbt writes, not the project's own files."""
_MANIFEST_VERSION = re.compile(r'"dbt_version":\s*"([^"]+)"')


def manifest_is_current(
    manifest: Path = weixi_dbt_project.manifest_path, project_dir: Path = DBT_PROJECT_DIR
) -> bool:
    """Whether ``manifest`` was parsed by the installed dbt after the last change to the
    project: no file or folder of it (a folder's time moves when a file is added or removed)
    is newer. Starting dbt only to find nothing changed costs ~10 s of CPU per run."""
    if not manifest.exists():
        return False
    with manifest.open() as handle:
        parsed_by = _MANIFEST_VERSION.search(handle.read(4096))
    if parsed_by is None or parsed_by[1] != version("dbt-core"):
        return False
    parsed_at = manifest.stat().st_mtime
    for folder, folders, files in os.walk(project_dir):
        names = [".", *files]
        if folder == str(project_dir):
            # The top folder's time moves when dbt makes target/ or .user.yml there.
            folders[:] = [f for f in folders if f not in NOT_SOURCES]
            names = [f for f in files if f != ".user.yml"]
        if any(Path(folder, name).stat().st_mtime >= parsed_at for name in names):
            return False
    return True


def prepare_manifest(force: bool = False) -> Path:
    """The path of a current manifest: re-parsed under `dg dev` (so edits to the models show),
    parsed when missing or older than the project (see ``manifest_is_current``), or always
    with ``force``."""
    weixi_dbt_project.prepare_if_dev()
    if force or not manifest_is_current():
        # Parsing reads no var values, so the plain resource does, without the settings.
        parser = DbtCliResource(project_dir=weixi_dbt_project, dbt_executable=DBT_EXECUTABLE)
        parser.cli(["--quiet", "parse"], target_path=Path("target")).wait()
    return weixi_dbt_project.manifest_path
