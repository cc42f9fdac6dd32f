"""A folder of versioned models: ``<root>/<model>/<version>/{model.joblib, metadata.json}``
and ``<root>/<model>/promoted.json``, the version that scoring uses.

Every trained candidate is registered, promoted or not, so that its figures and the reason it
was (not) promoted stay inspectable. Files are written to a temporary name and renamed, so a
crashed night never leaves a half-written model or pointer behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import joblib

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
PROMOTED_FILE = "promoted.json"
_ML_SOURCES = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RegisteredModel:
    """One version of a model in the registry."""

    name: str
    version: str
    path: Path
    metadata: dict[str, Any]

    def load(self) -> Any:
        """The fitted model object."""
        return joblib.load(self.path / MODEL_FILE)


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a candidate replaces the promoted model, and why, in one sentence."""

    promote: bool
    reason: str
    metric: str
    candidate: float
    baseline: float
    promoted: float | None = None
    promoted_version: str | None = None


def code_version() -> dict[str, str]:
    """What code trained a model: the git commit when the sources are a git checkout (with
    ``+dirty`` for uncommitted changes), the package version, and a hash of the ``ml/``
    sources (which identifies the model code even without git)."""
    digest = hashlib.sha256()
    for source in sorted(_ML_SOURCES.rglob("*.py")):
        digest.update(source.relative_to(_ML_SOURCES).as_posix().encode())
        digest.update(source.read_bytes())
    try:
        version = package_metadata.version("weixi")
    except package_metadata.PackageNotFoundError:
        version = "unknown"
    out = {"package_version": version, "ml_sources_sha256": digest.hexdigest()}
    git = _git_commit(_ML_SOURCES.parent)
    if git:
        out["git_commit"] = git
    return out


def _git_commit(repo: Path) -> str | None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _write_atomically(path: Path, write: Any) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_json(path: Path, content: dict[str, Any]) -> None:
    _write_atomically(
        path, lambda p: p.write_text(json.dumps(content, indent=2, sort_keys=True, default=str))
    )


def new_version(now: datetime | None = None) -> str:
    """A version id that sorts by creation time: ``20251231T021503-3f2a9c``."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def register(root: Path, name: str, model: Any, metadata: dict[str, Any]) -> RegisteredModel:
    """Store ``model`` and ``metadata`` as a new version of ``name`` (not promoted). The
    metadata gains ``name``, ``version``, ``created_at`` and ``code_version``."""
    created = datetime.now(UTC)
    version = new_version(created)
    folder = Path(root) / name / version
    folder.mkdir(parents=True)
    full = {
        **metadata,
        "name": name,
        "version": version,
        "created_at": created.isoformat(timespec="seconds"),
        "code_version": code_version(),
    }
    _write_atomically(folder / MODEL_FILE, lambda p: joblib.dump(model, p))
    _write_json(folder / METADATA_FILE, full)
    return RegisteredModel(name=name, version=version, path=folder, metadata=full)


def get(root: Path, name: str, version: str) -> RegisteredModel:
    """A registered version; ``FileNotFoundError`` naming the folder when it is missing."""
    folder = Path(root) / name / version
    metadata_file = folder / METADATA_FILE
    if not metadata_file.exists():
        raise FileNotFoundError(f"model {name} version {version}: no {metadata_file}")
    return RegisteredModel(
        name=name, version=version, path=folder, metadata=json.loads(metadata_file.read_text())
    )


def versions(root: Path, name: str) -> list[str]:
    """The registered versions of ``name``, oldest first."""
    folder = Path(root) / name
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / METADATA_FILE).exists())


def promoted(root: Path, name: str) -> RegisteredModel | None:
    """The promoted version of ``name``, or None when none has been promoted."""
    pointer = Path(root) / name / PROMOTED_FILE
    if not pointer.exists():
        return None
    return get(root, name, json.loads(pointer.read_text())["version"])


def promote(root: Path, name: str, version: str, reason: str) -> None:
    """Make ``version`` the one scoring uses."""
    get(root, name, version)  # fails clearly on an unknown version
    _write_json(
        Path(root) / name / PROMOTED_FILE,
        {
            "version": version,
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": reason,
        },
    )


def decide_promotion(
    metric: str,
    candidate: float,
    baseline: float,
    promoted_score: float | None = None,
    promoted_version: str | None = None,
    lower_is_better: bool = True,
) -> PromotionDecision:
    """Promote a candidate that beats the baseline and is at least as good as the promoted
    model, all measured on the same validation data. A tie with the promoted model promotes
    the candidate: it was trained on newer data."""

    def better(a: float, b: float) -> bool:
        return a < b if lower_is_better else a > b

    def figures(score: float, other: float, other_name: str) -> str:
        return f"{metric} {score:.4f} against {other:.4f} for the {other_name}"

    decision = {
        "metric": metric,
        "candidate": candidate,
        "baseline": baseline,
        "promoted": promoted_score,
        "promoted_version": promoted_version,
    }
    if not better(candidate, baseline):
        return PromotionDecision(
            promote=False,
            reason="not promoted: the candidate does not beat the baseline "
            f"({figures(candidate, baseline, 'baseline')})",
            **decision,
        )
    if promoted_score is not None and better(promoted_score, candidate):
        return PromotionDecision(
            promote=False,
            reason=f"not promoted: the promoted model {promoted_version} validates better "
            f"({figures(candidate, promoted_score, 'promoted model')})",
            **decision,
        )
    against = (
        f"the promoted model {promoted_version} ({promoted_score:.4f})"
        if promoted_score is not None
        else "no promoted model"
    )
    return PromotionDecision(
        promote=True,
        reason=f"promoted: {figures(candidate, baseline, 'baseline')}, and {against}",
        **decision,
    )
