"""Read and validate ``book.yml``, the course's single source of truth.

The schema is documented at the top of ``book.yml`` itself. This module turns
the file into a :class:`Book` (parts -> chapters, profiles) and refuses bad
input with a :class:`BookError` whose message names the file and line and lists
the valid choices. All paths in ``book.yml`` are relative to the directory that holds it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BOOK_FILE = "book.yml"
DEFAULT_TOLERANCE = 1.25
DEFAULT_CALIBRATION_S = 1.0

TOP_KEYS = ("title", "budget_tolerance", "calibrated_reference_s", "parts", "profiles")
PART_KEYS = ("title", "chapters")
CHAPTER_KEYS = ("id", "file", "title", "relative_budget", "cores", "exercise")


class BookError(Exception):
    """Bad input to the book runner (unknown chapter, profile, parameter, malformed book.yml...)."""


@dataclass(frozen=True)
class Chapter:
    """One chapter as listed in book.yml (paths are absolute).

    ``relative_budget`` is in units of ``reference_s`` (see :mod:`mmlib.course.reference`);
    ``cores`` is how many CPU cores the chapter keeps busy (``book build --jobs``).
    """

    id: str
    file: Path
    title: str
    relative_budget: float
    part: str
    exercise: Path | None = None
    cores: int = 1
    calibrated_reference_s: float = DEFAULT_CALIBRATION_S

    @property
    def slug(self) -> str:
        """``NN_slug``, the stem shared by the .py, the .ipynb and the outputs."""
        return self.file.stem

    @property
    def notebook(self) -> Path:
        """The committed, executed notebook paired with ``file``."""
        return self.file.with_suffix(".ipynb")

    @property
    def budget(self) -> float:
        """The budget in whole seconds on the machine the budgets were calibrated on (for display)."""
        return float(round(self.relative_budget * self.calibrated_reference_s))


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
    calibrated_reference_s: float = DEFAULT_CALIBRATION_S

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
    package_parent = Path(__file__).resolve().parents[2]
    if (package_parent / BOOK_FILE).is_file():
        return package_parent
    raise BookError(f"no {BOOK_FILE} found above {here}; run from the course folder")


def default_book_path() -> Path:
    """``$MMLIB_BOOK`` if set (a maintainer's alternative book file), else ``<root>/book.yml``."""
    if os.environ.get("MMLIB_BOOK"):
        return Path(os.environ["MMLIB_BOOK"]).resolve()
    return repo_root() / BOOK_FILE


# --------------------------------------------------------------------------- line-aware YAML
class _Map(dict):
    """A YAML mapping that remembers its line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class _Seq(list):
    """A YAML sequence that remembers its line and each item's line (1-based)."""

    line: int = 0
    item_lines: list


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry their line numbers."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    out = _Map()
    out.line, out.key_lines = node.start_mark.line + 1, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise BookError(f"line {key_node.start_mark.line + 1}: a mapping key must be a plain value") from None
        if key in out:
            raise BookError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                            f"(first at line {out.key_lines[key]})")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.item_lines = node.start_mark.line + 1, [c.start_mark.line + 1 for c in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _plain(value: Any) -> Any:
    """Plain dicts and lists (parameter values must not carry line bookkeeping)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _type_name(value: Any) -> str:
    """How a YAML value reads to a person: 'a mapping', 'a list', 'a string'..."""
    for kind, name in ((bool, "a boolean"), (dict, "a mapping"), (list, "a list"), (str, "a string"),
                       (int, "an integer"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return "nothing (null)" if value is None else type(value).__name__


# --------------------------------------------------------------------------- validation
class _Checker:
    """Schema checks that raise BookError with ``<file>, line N: ...``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, line: int, message: str) -> BookError:
        return BookError(f"{self.path}, line {line}: {message}")

    def mapping(self, value: Any, line: int, what: str) -> _Map:
        if isinstance(value, dict):
            return value
        raise self.fail(line, f"{what} must be a mapping (key: value lines), got {_type_name(value)}")

    def sequence(self, value: Any, line: int, what: str) -> _Seq:
        if isinstance(value, list):
            return value
        raise self.fail(line, f"{what} must be a list ('- ' items), got {_type_name(value)}")

    def keys(self, mapping: _Map, allowed: tuple[str, ...], required: tuple[str, ...], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                hint = ("; 'budget' (seconds) is now 'relative_budget' (units of reference_s)"
                        if key == "budget" else "")
                raise self.fail(mapping.line_of(key), f"{what} has unknown key {key!r}; valid keys: "
                                f"{', '.join(allowed)}{hint}")
        for key in required:
            if key not in mapping:
                raise self.fail(mapping.line, f"{what} lacks {key!r} (required keys: {', '.join(required)})")

    def string(self, mapping: _Map, key: str, what: str) -> str:
        value = mapping[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(mapping.line_of(key), f"{what}: {key} must be a non-empty string, got {value!r}")
        return value

    def positive(self, mapping: _Map, key: str, what: str, unit: str) -> float:
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise self.fail(mapping.line_of(key), f"{what}: {key} must be a positive number ({unit}), got {value!r}")
        return float(value)


def load_book(path: Path | str | None = None) -> Book:
    """Parse and validate book.yml (default: :func:`default_book_path`)."""
    path = Path(path) if path is not None else default_book_path()
    if not path.is_file():
        raise BookError(f"no book file at {path}")
    check = _Checker(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = (f" ({exc.context} at line {exc.context_mark.line + 1})"
                   if exc.context and exc.context_mark and exc.problem else "")
        raise BookError(f"{path}{line}: not valid YAML: {exc.problem or exc.context}{context}") from None
    except yaml.YAMLError as exc:
        raise BookError(f"{path}: not valid YAML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise BookError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except BookError as exc:
        raise BookError(f"{path}, {exc}") from None
    if raw is None:
        raise BookError(f"{path}: the file is empty; it needs at least 'parts'")
    top = check.mapping(raw, 1, "the top level")
    check.keys(top, TOP_KEYS, ("parts",), "the top level")
    title = check.string(top, "title", "the top level") if "title" in top else ""
    tolerance = (check.positive(top, "budget_tolerance", "the top level", "a factor, e.g. 1.25")
                 if "budget_tolerance" in top else DEFAULT_TOLERANCE)
    if tolerance < 1:
        raise check.fail(top.line_of("budget_tolerance"), f"budget_tolerance must be >= 1, got {tolerance:g}")
    calibration = (check.positive(top, "calibrated_reference_s", "the top level", "seconds")
                   if "calibrated_reference_s" in top else DEFAULT_CALIBRATION_S)
    root = path.resolve().parent
    chapters: list[Chapter] = []
    parts: list[str] = []
    seen: dict[str, int] = {}
    raw_parts = check.sequence(top["parts"], top.line_of("parts"), "parts")
    if not raw_parts:
        raise check.fail(top.line_of("parts"), "parts is empty; the book needs at least one part")
    for i, part in enumerate(raw_parts):
        part = check.mapping(part, raw_parts.item_lines[i], f"part {i + 1}")
        check.keys(part, PART_KEYS, PART_KEYS, f"part {i + 1}")
        part_title = check.string(part, "title", f"part {i + 1}")
        parts.append(part_title)
        entries = check.sequence(part["chapters"], part.line_of("chapters"), f"part {part_title!r}: chapters")
        for j, entry in enumerate(entries):
            entry = check.mapping(entry, entries.item_lines[j], f"chapter {j + 1} of part {part_title!r}")
            cid = entry.get("id")
            if not isinstance(cid, str) or not re.fullmatch(r"\d\d", cid):
                raise check.fail(entry.line_of("id"), f"chapter id {cid!r} of part {part_title!r} must be two "
                                 'digits in quotes, e.g. id: "01"')
            what = f"chapter {cid}"
            if cid in seen:
                raise check.fail(entry.line_of("id"), f"duplicate chapter id {cid!r} (first at line {seen[cid]})")
            seen[cid] = entry.line_of("id")
            check.keys(entry, CHAPTER_KEYS, ("id", "file", "title", "relative_budget"), what)
            cores = entry.get("cores", 1)
            if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
                raise check.fail(entry.line_of("cores"), f"{what}: cores must be an integer >= 1, got {cores!r}")
            exercise = entry.get("exercise")
            if exercise is not None:
                exercise = check.string(entry, "exercise", what)
            chapters.append(Chapter(
                id=cid,
                file=root / check.string(entry, "file", what),
                title=check.string(entry, "title", what),
                relative_budget=check.positive(entry, "relative_budget", what, "units of reference_s"),
                part=part_title,
                exercise=root / exercise if exercise else None,
                cores=cores,
                calibrated_reference_s=calibration,
            ))
    profiles = _profiles(check, top, [c.id for c in chapters])
    return Book(root=root, path=path.resolve(), title=title, parts=parts, chapters=chapters,
                profiles=profiles, budget_tolerance=tolerance, calibrated_reference_s=calibration)


def _profiles(check: _Checker, top: _Map, ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """profile name -> chapter id -> parameters, each level checked to be a mapping."""
    raw = top.get("profiles")
    profiles: dict[str, dict[str, dict[str, Any]]] = {}
    if raw is not None:
        raw = check.mapping(raw, top.line_of("profiles"), "profiles")
        for name, prof in raw.items():
            line = raw.line_of(name)
            if not isinstance(name, str):
                raise check.fail(line, f"profile name {name!r} must be a string")
            if prof is None:
                prof = _Map()
                prof.line, prof.key_lines = line, {}
            prof = check.mapping(prof, line, f"profile {name!r}")
            chapters: dict[str, dict[str, Any]] = {}
            for cid, params in prof.items():
                key = str(cid).zfill(2)
                if key not in ids:
                    raise check.fail(prof.line_of(cid), f"profile {name!r} names unknown chapter {cid!r}; "
                                     f"valid chapters: {', '.join(ids)}")
                params = {} if params is None else check.mapping(
                    params, prof.line_of(cid), f"profile {name!r}, chapter {key}")
                bad = [p for p in params if not isinstance(p, str) or not p.isidentifier()]
                if bad:
                    raise check.fail(prof.line_of(cid), f"profile {name!r}, chapter {key}: parameter names must "
                                     f"be Python names, got {bad[0]!r}")
                chapters[key] = _plain(params)
            profiles[name] = chapters
    profiles.setdefault("default", {})
    return profiles
