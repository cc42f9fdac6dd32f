"""Each dbt invocation's target folder is named after its step and run, and only the newest
are kept: the partial-parse cache, the docs and any other folder stay."""

from __future__ import annotations

import os
from pathlib import Path

from orchestration.defs.dbt import target_folders


def _folder(target: Path, name: str, age_seconds: int) -> Path:
    folder = target / name
    (folder / "compiled").mkdir(parents=True)
    (folder / "run_results.json").write_text("{}")
    stamp = 1_800_000_000 - age_seconds
    os.utime(folder, (stamp, stamp))
    return folder


def test_an_invocation_folder_names_its_step_and_run():
    first = target_folders.invocation_folder("dbt_models", "5ecb4dec-1234")
    second = target_folders.invocation_folder("dbt_models", "5ecb4dec-1234")
    assert first.parent == Path("target") and first.name.startswith("dbt_models-5ecb4de-")
    assert first != second


def test_only_the_newest_invocation_folders_are_kept(tmp_path: Path):
    invocations = [
        _folder(tmp_path, f"dbt_models-5ecb4de-{n:07x}", age_seconds=60 * n) for n in range(5)
    ]
    others = [
        _folder(tmp_path, name, age_seconds=10_000)
        for name in ("partial_parse", "docs", "60cef99", "my-notes-here")
    ]
    removed = target_folders.prune(tmp_path, kept=2)
    assert sorted(removed) == sorted(invocations[2:])
    assert [f.exists() for f in invocations] == [True, True, False, False, False]
    assert all(f.exists() for f in others)
    assert target_folders.prune(tmp_path, kept=2) == []
