"""A folder of versioned models: ``<root>/<model>/<version>/{model.joblib, metadata.json}``
and ``<root>/<model>/promoted.json``, the version that scoring uses.

Every trained candidate is registered, promoted or not, so that its figures and the reason it
was (not) promoted stay inspectable. Files are written to a temporary name and renamed, so a
crashed night never leaves a half-written model or pointer behind.

Models are refitted on a cadence (:func:`cadence`), not every night: a version records the
reference date it was trained as of (``trained_on``), and nights in between score with the
promoted version.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import joblib

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
PROMOTED_FILE = "promoted.json"
TRAINED_ON = "trained_on"
"""Metadata key: the reference date (the data's as-of date) a version was trained as of."""
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

    @property
    def trained_on(self) -> date | None:
        """The reference date the version was trained as of (None for a version registered
        without one)."""
        value = self.metadata.get(TRAINED_ON)
        return date.fromisoformat(value) if value else None

    @property
    def scored_with(self) -> str:
        """``scored with model <version> trained on <date>``, for a scoring run's metadata."""
        return f"scored with model {self.version} trained on {self.trained_on or 'an unknown day'}"


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


def register(
    root: Path,
    name: str,
    model: Any,
    metadata: dict[str, Any],
    trained_on: date | None = None,
    version: str | None = None,
) -> RegisteredModel:
    """Store ``model`` and ``metadata`` as a new version of ``name`` (not promoted). The
    metadata gains ``name``, ``version``, ``created_at``, ``code_version`` and, when given,
    ``trained_on`` (the reference date of the training data). ``version`` names the version
    (default: :func:`new_version`); registering a named version again replaces it."""
    created = datetime.now(UTC)
    version = version or new_version(created)
    folder = Path(root) / name / version
    folder.mkdir(parents=True, exist_ok=True)
    full = {
        **metadata,
        "name": name,
        "version": version,
        "created_at": created.isoformat(timespec="seconds"),
        "code_version": code_version(),
        **({TRAINED_ON: trained_on.isoformat()} if trained_on else {}),
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


def latest(root: Path, name: str) -> RegisteredModel | None:
    """The version of ``name`` registered last (promoted or not; within the same second, the
    one trained on the latest data), or None."""
    registered = sorted(
        (get(root, name, version) for version in versions(root, name)),
        key=lambda model: (
            model.metadata.get("created_at", ""),
            model.metadata.get(TRAINED_ON, ""),
        ),
    )
    return registered[-1] if registered else None


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


@dataclass(frozen=True)
class Cadence:
    """Whether tonight trains a new version of a model or scores with the promoted one, and
    why, in words fit for a materialisation's metadata."""

    retrain: bool
    reason: str
    promoted: RegisteredModel | None

    @property
    def description(self) -> str:
        """``retrained (<why>)`` or ``scored with model <version> trained on <date>``."""
        return f"retrained ({self.reason})" if self.retrain else self.promoted.scored_with


def cadence(root: Path, name: str, reference: date, every_days: int) -> Cadence:
    """Whether to train ``name`` as of ``reference``: when no version is promoted, when the
    last training (promoted or not, so a rejected candidate does not make every night train)
    is ``every_days`` or more days older than ``reference``, or when it is newer than
    ``reference`` (a backfill of an earlier day must not score with a model that saw later
    days). ``every_days`` 0 trains on every run."""
    current = promoted(root, name)
    if current is None or current.trained_on is None:
        return Cadence(True, "no promoted model with a training date", None)
    last = latest(root, name).trained_on or current.trained_on
    age = (reference - last).days
    if age < 0:
        return Cadence(True, f"the last training, as of {last}, is after {reference}", current)
    if age >= every_days:
        return Cadence(
            True,
            f"last trained as of {last}, {age} days ago; retrained every {every_days}",
            current,
        )
    return Cadence(False, f"last trained as of {last}, {age} days ago", current)
