"""What a landing folder may hold, and which entity each delivered file belongs to.

``<landing>/<source>/<YYYY-MM-DD>/`` holds the day's files. A file belongs to the entity whose
name starts its name, compared case-insensitively, with the entity's format as extension,
optionally gzip-compressed: ``orders.csv``, ``Orders_2.CSV``, ``orders.csv.gz``,
``posts.jsonl.gz``. Hidden names (starting with ``.``) and the junk that desktop systems leave
behind (:data:`IGNORED_NAMES`) are ignored. Anything else in a source folder (a folder not
named ``YYYY-MM-DD``) or in a day folder (another name, another format, a sub-folder) is an
error naming it: an unknown file may hold the day's rows, so loading the rest as if complete
would lose them silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ingest.contract import SOURCES, Entity, Source

IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
"""Lower-cased names of files that operating systems write into folders by themselves (macOS's
``.DS_Store`` and ``._*`` files are hidden names, ignored as such)."""
GZIP_SUFFIX = ".gz"
_DAY_FOLDER = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def ignored(path: Path) -> bool:
    """True for hidden names and operating-system junk, which are neither loaded nor errors."""
    return path.name.startswith(".") or path.name.lower() in IGNORED_NAMES


def day_of_folder(name: str) -> date | None:
    """The delivery day a folder named ``YYYY-MM-DD`` stands for; None for any other name
    (``20261201`` too, which Python's ``date.fromisoformat`` would accept)."""
    if not _DAY_FOLDER.fullmatch(name):
        return None
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


def first_delivery_day(landing: Path) -> date | None:
    """The earliest day folder of any source in ``landing``; None when it holds none (or does
    not exist)."""
    days = [
        day
        for source in SOURCES
        if (landing / source.name).is_dir()
        for folder in (landing / source.name).iterdir()
        if (day := day_of_folder(folder.name)) is not None
    ]
    return min(days, default=None)


def entity_of(name: str, source: Source) -> Entity | None:
    """The entity of ``source`` that a file called ``name`` delivers, or None. The longest
    matching entity name wins, so that no entity's files are claimed by a shorter one."""
    lower = name.lower().removesuffix(GZIP_SUFFIX)
    matching = [
        e for e in source.entities if lower.startswith(e.name) and lower.endswith(f".{e.format}")
    ]
    return max(matching, key=lambda e: len(e.name), default=None)


@dataclass
class DayFolder:
    """The files of one source's day folder, by entity, and what does not belong there."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    """Entity name -> its files, sorted by name."""
    unrecognised: list[Path] = field(default_factory=list)

    @property
    def entries(self) -> list[Path]:
        """Every entry that is not ignored: the entities' files, then the unrecognised."""
        return [*(p for paths in self.files.values() for p in paths), *self.unrecognised]


def day_folder(folder: Path, source: Source) -> DayFolder:
    """Sort ``folder``'s entries into ``source``'s entities; a missing folder holds nothing."""
    result = DayFolder({e.name: [] for e in source.entities})
    if not folder.is_dir():
        return result
    for path in sorted(folder.iterdir()):
        if ignored(path):
            continue
        entity = entity_of(path.name, source) if path.is_file() else None
        if entity is None:
            result.unrecognised.append(path)
        else:
            result.files[entity.name].append(path)
    return result


def describe_unrecognised(paths: list[Path], source: Source) -> str:
    """Why ``paths`` stop a load, naming each and the names that are expected."""
    names = ", ".join(f"{p}{' (a folder)' if p.is_dir() else ''}" for p in paths)
    expected = ", ".join(f"{e.name}*.{e.format}" for e in source.entities)
    return (
        f"{len(paths)} file(s) in the {source.name} delivery are not a file of any of its "
        f"entities: {names}; expected {expected} (any case, optionally .gz). Rename or remove "
        "them and load the day again"
    )


def odd_source_entries(landing: Path, source: Source) -> list[Path]:
    """Entries of ``<landing>/<source>/`` that are not day folders ``YYYY-MM-DD`` (hidden and
    junk names aside): their deliveries would never be read."""
    folder = landing / source.name
    if not folder.is_dir():
        return []
    return [
        path
        for path in sorted(folder.iterdir())
        if not ignored(path) and not (path.is_dir() and day_of_folder(path.name) is not None)
    ]
