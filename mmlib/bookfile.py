"""Read and validate ``book.yml``, the course's single source of truth.

The schema is documented at the top of ``book.yml`` itself. This module turns
the file into a :class:`Book` (parts -> chapters, profiles) and refuses bad
input with a :class:`BookError` whose message lists the valid choices.
All paths in ``book.yml`` are relative to the directory that holds it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BOOK_FILE = "book.yml"
DEFAULT_TOLERANCE = 1.25


class BookError(Exception):
    """Bad input to the book runner (unknown chapter, profile, parameter...)."""


@dataclass(frozen=True)
class Chapter:
    """One chapter as listed in book.yml (paths are absolute)."""

    id: str
    file: Path
    title: str
    budget: float
    part: str
    exercise: Path | None = None

    @property
    def slug(self) -> str:
        """``NN_slug``, the stem shared by the .py, the .ipynb and the outputs."""
        return self.file.stem

    @property
    def notebook(self) -> Path:
        """The committed, executed notebook paired with ``file``."""
        return self.file.with_suffix(".ipynb")


@dataclass
class Book:
    """The parsed book: chapters in reading order and named parameter profiles."""

    root: Path
    path: Path
    title: str
    parts: list[str]
    chapters: list[Chapter]
    profiles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    budget_tolerance: float = DEFAULT_TOLERANCE

    def chapter(self, chapter_id: str) -> Chapter:
        """The chapter with this id (``"1"`` and ``"01"`` both work)."""
        key = str(chapter_id).zfill(2)
        for ch in self.chapters:
            if ch.id == key:
                return ch
        valid = ", ".join(f"{c.id} ({c.slug})" for c in self.chapters)
        raise BookError(f"unknown chapter {chapter_id!r}; valid chapters: {valid}")

    def profile(self, name: str) -> dict[str, dict[str, Any]]:
        """Chapter id -> papermill parameters for the named profile."""
        if name not in self.profiles:
            raise BookError(f"unknown profile {name!r}; valid profiles: {', '.join(self.profiles)}")
        return self.profiles[name]


def repo_root(start: Path | None = None) -> Path:
    """The course root: ``$MMLIB_ROOT``, else the nearest folder upward holding book.yml.

    Falls back to the folder above the installed ``mmlib`` package (editable install).
    """
    if os.environ.get("MMLIB_ROOT"):
        return Path(os.environ["MMLIB_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / BOOK_FILE).is_file():
            return folder
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / BOOK_FILE).is_file():
        return package_parent
    raise BookError(f"no {BOOK_FILE} found above {here}; run from the course folder")


def _require(mapping: dict, key: str, where: str) -> Any:
    if key not in mapping:
        raise BookError(f"book.yml: {where} lacks {key!r}")
    return mapping[key]


def default_book_path() -> Path:
    """``$MMLIB_BOOK`` if set (a maintainer's alternative book file), else ``<root>/book.yml``."""
    if os.environ.get("MMLIB_BOOK"):
        return Path(os.environ["MMLIB_BOOK"]).resolve()
    return repo_root() / BOOK_FILE


def load_book(path: Path | str | None = None) -> Book:
    """Parse and validate book.yml (default: :func:`default_book_path`)."""
    path = Path(path) if path is not None else default_book_path()
    if not path.is_file():
        raise BookError(f"no book file at {path}")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    root = path.resolve().parent
    chapters: list[Chapter] = []
    parts: list[str] = []
    for i, part in enumerate(raw.get("parts") or []):
        part_title = str(_require(part, "title", f"part {i}"))
        parts.append(part_title)
        for entry in part.get("chapters") or []:
            cid = str(_require(entry, "id", f"a chapter of part {part_title!r}"))
            if not re.fullmatch(r"\d\d", cid):
                raise BookError(f"book.yml: chapter id {cid!r} must be two digits in quotes, e.g. \"01\"")
            budget = _require(entry, "budget", f"chapter {cid}")
            if not isinstance(budget, (int, float)) or budget <= 0:
                raise BookError(f"book.yml: chapter {cid} budget must be a positive number of seconds")
            exercise = entry.get("exercise")
            chapters.append(Chapter(
                id=cid,
                file=root / str(_require(entry, "file", f"chapter {cid}")),
                title=str(_require(entry, "title", f"chapter {cid}")),
                budget=float(budget),
                part=part_title,
                exercise=root / exercise if exercise else None,
            ))
    ids = [c.id for c in chapters]
    if len(set(ids)) != len(ids):
        raise BookError(f"book.yml: duplicate chapter ids in {ids}")
    profiles = {str(k): {str(c).zfill(2): dict(p or {}) for c, p in (v or {}).items()}
                for k, v in (raw.get("profiles") or {}).items()}
    profiles.setdefault("default", {})
    for name, prof in profiles.items():
        unknown = sorted(set(prof) - set(ids))
        if unknown:
            raise BookError(f"book.yml: profile {name!r} names unknown chapters {unknown}; "
                            f"valid chapters: {', '.join(ids)}")
    return Book(root=root, path=path.resolve(), title=str(raw.get("title", "")), parts=parts, chapters=chapters,
                profiles=profiles,
                budget_tolerance=float(raw.get("budget_tolerance", DEFAULT_TOLERANCE)))
