"""`weixi run` starts dbt to parse the project only when the manifest is older than a file of
the project, or was written by another dbt version (``manifest_is_current``)."""

import os
from importlib.metadata import version
from pathlib import Path

from orchestration.defs.dbt.project import manifest_is_current


def _project(root: Path, dbt_version: str = version("dbt-core")) -> tuple[Path, Path]:
    (root / "models").mkdir(parents=True)
    (root / "models" / "a.sql").write_text("select 1")
    (root / "dbt_project.yml").write_text("name: x")
    (root / "target").mkdir()
    manifest = root / "target" / "manifest.json"
    manifest.write_text(f'{{"metadata": {{"dbt_version": "{dbt_version}"}}}}')
    # One second after every file of the project, as a parse that follows the last edit.
    later = (root / "models" / "a.sql").stat().st_mtime + 1
    os.utime(manifest, (later, later))
    return root, manifest


def test_a_manifest_newer_than_the_project_is_current(tmp_path):
    project, manifest = _project(tmp_path)
    assert manifest_is_current(manifest, project)
    (project / "target" / "run_results.json").write_text("{}")
    (project / ".user.yml").write_text("id: 1")
    assert manifest_is_current(manifest, project), "dbt's own files change nothing"


def test_an_edited_added_or_removed_model_needs_a_parse(tmp_path):
    for change in (
        lambda p: (p / "models" / "a.sql").write_text("select 2"),
        lambda p: (p / "models" / "b.sql").write_text("select 3"),
        lambda p: (p / "models" / "a.sql").unlink(),
    ):
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        project, manifest = _project(folder)
        later = manifest.stat().st_mtime + 1
        change(project)
        for path in (project / "models", *(project / "models").iterdir()):
            os.utime(path, (later, later))
        assert not manifest_is_current(manifest, project)


def test_a_manifest_of_another_dbt_version_or_none_needs_a_parse(tmp_path):
    project, manifest = _project(tmp_path, dbt_version="0.0.1")
    assert not manifest_is_current(manifest, project)
    manifest.unlink()
    assert not manifest_is_current(manifest, project)
