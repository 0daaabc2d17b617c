"""Where each method comes from, what it was checked against, and how it differs: the ledger.

Every registered :class:`~mmlib.methods.Method` carries three class attributes:

* ``paper``: a :class:`Paper` (authors, title, venue, year, link);
* ``sources``: the public code its core math was compared with, one :class:`Source` each
  (repository, commit, file, function); a method whose authors published no code names
  the implementation used instead (BalanceBenchmark's), or :data:`THIS_COURSE`;
* ``differences``: every place where the course's rule differs from that code, one
  :class:`Difference` each, with the reason and, where the authors' rule and the variant
  are both offered, the option that switches between them.

:func:`~mmlib.methods.register` appends the differences to the class docstring (so
``help(mmlib.methods.get("ogm_ge"))`` shows them), and :func:`ledger` gathers every
method into one table: the course's promise that each difference from the authors'
code is written down where a reader can check it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .base import Method

THIS_COURSE = "this course"
"""``Source.repository`` (or ``Paper.authors``) of what the course wrote itself, from the paper."""

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Paper:
    """The publication a method implements (authors as printed on the paper, in order)."""

    authors: str
    title: str
    venue: str = ""
    year: int | None = None
    url: str = ""

    def __str__(self) -> str:
        where = " ".join(str(x) for x in (self.venue, self.year) if x)
        return ". ".join(x for x in (self.authors, self.title, where) if x)

    def problems(self) -> list[str]:
        """What is missing from this entry (empty when complete)."""
        missing = [f"paper.{f}" for f in ("authors", "title") if not getattr(self, f)]
        if self.authors != THIS_COURSE:
            missing += [f"paper.{f}" for f in ("venue", "year", "url") if not getattr(self, f)]
        return missing


@dataclass(frozen=True)
class Source:
    """One piece of public code a method's core math was compared with.

    ``repository`` is ``owner/name`` on GitHub (or :data:`THIS_COURSE`); ``commit`` the
    40-hex commit that was read; ``file`` and ``function`` where the rule lives;
    ``note`` says what the source is when it is not the authors' own code.
    """

    repository: str
    commit: str = ""
    file: str = ""
    function: str = ""
    note: str = ""

    def __str__(self) -> str:
        if self.repository == THIS_COURSE:
            return f"{THIS_COURSE}" + (f" ({self.note})" if self.note else "")
        at = f"{self.repository}@{self.commit[:7]}:{self.file}::{self.function}"
        return at + (f" ({self.note})" if self.note else "")

    def problems(self) -> list[str]:
        if not self.repository:
            return ["source.repository"]
        if self.repository == THIS_COURSE:
            return []
        missing = [f"source.{f}" for f in ("file", "function") if not getattr(self, f)]
        if not _COMMIT.match(self.commit):
            missing.append(f"source.commit (40 hex digits, got {self.commit!r})")
        return missing


@dataclass(frozen=True)
class Difference:
    """One place where the course's rule is not the authors' code.

    ``what`` says what differs (the course's rule vs theirs), ``why`` the reason it is
    kept; ``option`` names the hyperparameter setting that selects the other rule when
    both are offered (e.g. ``"rule='weakest'"``), empty when there is none.
    """

    what: str
    why: str
    option: str = ""

    def __str__(self) -> str:
        text = f"{self.what} Why: {self.why}"
        return text + (f" Option: ``{self.option}``." if self.option else "")

    def problems(self) -> list[str]:
        return [f"difference.{f}" for f in ("what", "why") if not getattr(self, f).strip()]


def entry_problems(cls: "type[Method]") -> list[str]:
    """What is missing from one method's ledger entry (empty when complete)."""
    from .base import Method

    problems: list[str] = []
    if cls.name != Method.name:
        problems += [f"{field} (inherited from the baseline)" for field in ("paper", "sources", "differences")
                     if next(k for k in cls.__mro__ if field in vars(k)) is Method]
    if not isinstance(cls.paper, Paper):
        return [f"paper is a {type(cls.paper).__name__}, not a Paper"]
    problems += cls.paper.problems()
    if not cls.sources:
        problems.append("sources (at least one Source)")
    for source in cls.sources:
        problems += source.problems() if isinstance(source, Source) else [f"source {source!r} is not a Source"]
    for difference in cls.differences:
        problems += difference.problems() if isinstance(difference, Difference) else [
            f"difference {difference!r} is not a Difference"]
    return problems


def differences_section(cls: "type[Method]") -> str:
    """The docstring section listing a method's differences from its sources."""
    if not cls.differences:
        return ""
    if all(s.repository == THIS_COURSE for s in cls.sources):
        header = "Choices the course made where there is no authors' code to follow:"
    else:
        header = f"Differences from the code it was checked against ({'; '.join(str(s) for s in cls.sources)}):"
    lines = ["", "", header, ""]
    lines += [f"* {d}" for d in cls.differences]
    return "\n".join(lines)


def ledger() -> pd.DataFrame:
    """One row per registered method: its family, paper, the code it was checked against,
    and its stated differences (``n_differences`` and the text, one per line)."""
    from .base import REGISTRY

    rows = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        rows.append({
            "method": name,
            "family": cls.family,
            "paper": str(cls.paper),
            "checked_against": "; ".join(str(s) for s in cls.sources),
            "n_differences": len(cls.differences),
            "differences": "\n".join(f"- {d}" for d in cls.differences),
            "options": ", ".join(d.option for d in cls.differences if d.option),
        })
    return pd.DataFrame(rows)
