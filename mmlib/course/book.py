"""The book runner: book.yml -> papermill runs -> ``_build/``.

Run it as ``python -m mmlib.course.book`` (``make book`` and ``make test`` do)::

    python -m mmlib.course.book list                         # chapters, budgets, cores, profiles
    python -m mmlib.course.book params 01                    # a chapter's parameters: type, default, help
    python -m mmlib.course.book reference                    # this machine's reference_s
    python -m mmlib.course.book build [--chapter 01] [--profile full] [--param EPOCHS=3]
                               [--jobs N] [--keep-going] [--strict-budget] [--out _build]
    python -m mmlib.course.book refresh [--chapter 01]       # maintainer: rewrite chapters/*.ipynb
    python -m mmlib.course.book site [--out _build]          # re-render <out>/html/ from <out>/notebooks/

``build`` first checks every selected chapter's parameters (names and types, against
the chapter's cell tagged ``parameters``), then times the reference workload
(:mod:`mmlib.course.reference`), then runs the chapters side by side, at most ``--jobs`` cores
busy at a time (each chapter declares its ``cores`` in book.yml), longest budget first.
Each chapter runs in a worker process of its own: jupytext converts
``chapters/NN_slug.py``, papermill executes it (kernel ``python3``, working directory
``chapters/``, the profile's parameters injected after the ``parameters`` cell,
``MMLIB_PROGRESS=0`` and ``MMLIB_BOOK`` in the worker's environment) into
``<out>/notebooks/``; when all have run, Sphinx renders the executed notebooks into the HTML
book ``<out>/html/`` (:mod:`mmlib.course.site`: myst-nb, sphinx-book-theme, no second
execution). While chapters run, a background
thread repeats a short probe of the reference workload every few seconds; at the end the
runner times the whole workload again and judges each chapter by
``relative = seconds / reference_s``, where ``reference_s`` is the median of the timings
taken while that chapter ran (machines drift during a build), against its ``relative_budget``.

A chapter whose cell ran into the per-cell time-out while its kernel sat mostly idle (CPU
under a quarter of the wall time: a stalled kernel, seen intermittently under load, its
cause not yet found), or whose kernel died before any cell ran, is run once more; the
report keeps ``retried`` with the first attempt's figures and the reason. A cell that is slow on the CPU is never retried: it fails.

Writes are atomic: notebooks and ``report.json`` are written to a temporary file and
renamed into place, and the HTML site is built in a temporary folder swapped in at the
end (from every executed notebook in ``<out>/notebooks/``, so the pages of chapters this
build did not run are kept). ``report.json`` is written at the start (every chapter ``pending``, ``ok: false``)
and after each chapter, so an interrupted build never leaves ``ok: true`` behind.
It never writes into ``chapters/`` or ``exercises/``; only ``refresh`` writes the
committed ``chapters/NN_slug.ipynb``.

A chapter reports its key numbers with :func:`record`; they land in the report.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import math
import os
import pickle
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from mmlib.course.bookfile import Book, BookError, Chapter, load_book, repo_root
from mmlib.course.bookworker import KERNELSPEC, RECORD_MIME, read_records, read_source, write_atomic
from mmlib.course.reference import ReferenceSampler, measure_reference, reference_for_window, reference_seconds
from mmlib.processes import pid_alive

__all__ = ["record", "read_records", "load_book", "repo_root", "build", "refresh", "main",
           "Book", "BookError", "Chapter", "RECORD_MIME", "Parameter", "parameter_specs",
           "check_parameter", "reference_seconds", "schedule", "cell_timeout"]

MIN_CELL_TIMEOUT_S = 60


# --------------------------------------------------------------------------- records
def _jsonable(value: Any) -> Any:
    """Plain JSON types from numpy/torch scalars, tuples and nested dicts."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays/scalars, torch tensors
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record(**values: Any) -> None:
    """Record a chapter's key numbers, e.g. ``record(test_acc=0.91, gap=0.12)``.

    Displays them as a ``application/vnd.mmlib.record+json`` output (with a short
    text line for readers); the book runner reads them back into ``report.json``.
    Outside Jupyter it just prints the text line. Values must be JSON-able once
    numpy/torch scalars are converted (numbers, strings, lists, dicts).
    """
    data = _jsonable(values)
    text = "recorded: " + ", ".join(f"{k}={v}" for k, v in data.items())
    try:
        from IPython import get_ipython
        from IPython.display import display
        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython is a pinned dependency
        shell = None
    if shell is None:
        print(text)
    else:
        display({RECORD_MIME: data, "text/plain": text}, raw=True)


# --------------------------------------------------------------------------- atomic files
def _pid_of(name: str) -> int | None:
    """The pid in a leftover's name (``.html.tmp-123``, ``.01_x.tmp-123.ipynb``), if any."""
    tail = name.rsplit("-", 1)[-1].split(".")[0]
    return int(tail) if tail.isdigit() else None


def _clean_leftovers(out: Path) -> None:
    """Remove the temporary files and folders of builds that died (their pid is gone).

    If a build died between the two renames of the HTML swap, the previous site is put back.
    """
    if not out.is_dir():
        return
    for old in sorted(out.glob(".html.old-*")):
        pid = _pid_of(old.name)
        if pid is not None and pid_alive(pid):
            continue
        if not (out / "html").exists():
            os.replace(old, out / "html")
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in [*out.glob(".html.tmp-*"), *(out / "notebooks").glob(".*.tmp-*.ipynb")]:
        pid = _pid_of(tmp.name)
        if pid is None or pid_alive(pid):
            continue
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _swap_in(new: Path, final: Path) -> None:
    """Replace the folder ``final`` by ``new`` with two renames (the old one is removed after)."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- notebooks
def source_notebook(chapter: Chapter) -> Any:
    """The chapter's .py read by jupytext, with the python3 kernelspec papermill needs."""
    if not chapter.file.is_file():
        raise BookError(f"chapter {chapter.id}: {chapter.file} does not exist")
    return read_source(chapter.file)


def has_parameters_cell(nb: Any) -> bool:
    """Whether some cell carries the papermill tag ``parameters``."""
    return any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells)


def notebook_parameters(nb: Any) -> dict[str, dict[str, Any]]:
    """papermill's view: name -> {default, inferred_type_name, help} of the ``parameters`` cell."""
    import nbformat
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nb.ipynb"
        nbformat.write(nb, path)
        return papermill.inspect_notebook(str(path))


# --------------------------------------------------------------------------- typed parameters
_NO_DEFAULT = object()


@dataclass(frozen=True)
class Parameter:
    """One assignment of a chapter's ``parameters`` cell.

    ``default`` is the literal value (``None`` also when the default is not a literal, then
    ``literal`` is False and any value is accepted); ``source`` is its text as written;
    ``help`` the comment that describes it; ``annotation`` its type annotation, if written.
    """

    name: str
    default: Any
    source: str
    help: str
    literal: bool = True
    annotation: str = ""

    @property
    def type_name(self) -> str:
        """The type a reader is told: the annotation if written, else the default's (``list of str``, ``any``)."""
        if self.annotation:
            return self.annotation
        return _expected(self.default) if self.literal and self.default is not None else "any"


def parameter_specs(nb: Any) -> dict[str, Parameter]:
    """Name -> :class:`Parameter` for each ``NAME = value`` of the cell tagged ``parameters``.

    Parsed with :mod:`ast` (defaults by ``literal_eval``) and :mod:`tokenize`: the help is
    the comment that ends the assignment's last line, else the comment lines right above the
    assignment; a type annotation (``EPOCHS: int = 20``) is kept. Unlike papermill's
    ``inspect_notebook`` (whose help reads "None" for an undocumented parameter), a
    parameter without a comment has an empty help. Raises :class:`BookError` if the cell
    is missing or not valid Python.
    """
    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        raise BookError("no cell is tagged 'parameters'")
    source = cell.source
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise BookError(f"the parameters cell is not valid Python (line {exc.lineno}: {exc.msg})") from None
    comments: dict[int, str] = {}
    with contextlib.suppress(tokenize.TokenError, IndentationError):
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    own_line = {n for n in comments if lines[n - 1].lstrip().startswith("#")}

    def help_of(node: ast.stmt) -> str:
        trailing = comments.get(node.end_lineno or node.lineno)
        if trailing and (node.end_lineno or node.lineno) not in own_line:
            return trailing
        above, n = [], node.lineno - 1
        while n in own_line:
            above.insert(0, comments[n])
            n -= 1
        return " ".join(c for c in above if c)

    specs: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        text = ast.get_source_segment(source, value) or ""
        try:
            default, literal = ast.literal_eval(value), True
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            default, literal = None, False
        annotation = ast.get_source_segment(source, node.annotation) if isinstance(node, ast.AnnAssign) else ""
        specs[target.id] = Parameter(target.id, default, text, help_of(node), literal, annotation or "")
    return specs


_SCALARS = {bool: "bool", int: "int", float: "float", str: "str"}


def _expected(default: Any) -> str:
    """A readable type for a default value: ``int``, ``list of str``, ``dict of float``..."""
    for kind, name in _SCALARS.items():
        if type(default) is kind:
            return name
    if isinstance(default, (list, tuple)):
        inner = _element_type(default)
        kind = "list"
        return f"{kind} of {inner}" if inner else kind
    if isinstance(default, dict):
        inner = _element_type(list(default.values()))
        return f"dict of {inner}" if inner else "dict"
    return type(default).__name__


def _element_type(items: Sequence[Any]) -> str | None:
    """The common scalar type of ``items`` (int and float together are float), else None."""
    kinds = {type(x) for x in items}
    if not kinds:
        return None
    if kinds <= {int, float} and float in kinds:
        return "float"
    if len(kinds) == 1 and next(iter(kinds)) in _SCALARS:
        return _SCALARS[next(iter(kinds))]
    return None


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` fits the scalar type named ``kind``."""
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "str":
        return isinstance(value, str)
    return True


def check_parameter(param: Parameter, value: Any) -> str | None:
    """None if ``value`` may replace ``param``'s default, else what was expected.

    int takes an int (not a bool or float); float takes a finite int or float; str a str;
    bool a bool; list a list (or tuple) whose items fit the default's item type when the
    default is a non-empty list of one type; dict a mapping, values checked the same way;
    a ``None`` or non-literal default takes anything.
    """
    default = param.default
    if not param.literal or default is None:
        return None
    expected = param.type_name
    for kind, name in _SCALARS.items():
        if type(default) is kind:
            if kind is float and isinstance(value, float) and not math.isfinite(value):
                return "a finite float"
            return None if _fits(name, value) else name
    if isinstance(default, (list, tuple)):
        items = value if isinstance(value, (list, tuple)) else None
    elif isinstance(default, dict):
        items = list(value.values()) if isinstance(value, dict) else None
    else:
        return None if type(value) is type(default) else expected
    if items is None:
        return expected
    inner = _element_type(list(default.values()) if isinstance(default, dict) else list(default))
    if inner and not all(_fits(inner, x) for x in items):
        return expected
    return None


def _show(value: Any) -> str:
    """A value as a reader typed it: repr, shortened."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def resolve_parameters(book: Book, chapters: Sequence[Chapter], profile: str,
                       overrides: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Chapter id -> parameters to inject, every name and value type checked first.

    Unknown names and values of the wrong type raise :class:`BookError`, e.g.
    ``chapter 01: parameter EPOCHS expects int (default 20), got 'abc'``.
    """
    prof = book.profile(profile)
    resolved: dict[str, dict[str, Any]] = {}
    for ch in chapters:
        from_profile = prof.get(ch.id, {})
        params = {**from_profile, **(overrides or {})}
        try:
            specs = parameter_specs(source_notebook(ch))
        except BookError as exc:
            raise BookError(f"chapter {ch.id}: {str(exc).removeprefix(f'chapter {ch.id}: ')}") from None
        unknown = sorted(set(params) - set(specs))
        if unknown:
            raise BookError(f"chapter {ch.id}: unknown parameter(s) {', '.join(unknown)}; "
                            f"valid parameters: {', '.join(specs) or '(none)'}")
        for name, value in params.items():
            expected = check_parameter(specs[name], value)
            if expected:
                origin = (" (from --param)" if overrides and name in overrides
                          else f" (profile {profile!r} in {book.path.name})")
                raise BookError(f"chapter {ch.id}: parameter {name} expects {expected} "
                                f"(default {specs[name].source}), got {_show(value)}{origin}")
        resolved[ch.id] = params
    return resolved


# --------------------------------------------------------------------------- one chapter
def cell_timeout(chapter: Chapter, tolerance: float, reference_s: float,
                 params: dict[str, Any] | None = None) -> int | None:
    """Per-cell execution timeout (s): 3 x the chapter's limit in seconds, at least 60 s.

    None (no time-out) when the chapter runs with ``params`` other than its defaults (a profile
    or ``--param``): its budget is calibrated for the defaults only, and a ``full`` or real-data
    profile may legitimately run for hours.
    """
    if params:
        return None
    return int(max(MIN_CELL_TIMEOUT_S, math.ceil(3 * chapter.relative_budget * tolerance * reference_s)))


_WORKER_FILE = str(Path(__file__).with_name("bookworker.py"))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the worker gets SIGKILL when the runner dies (its kernel follows: ipykernel
    exits when its parent goes). Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --------------------------------------------------------------------------- html
def render_html(book: Book, out: Path, entries: list[dict[str, Any]] | None = None,
                profile: str | None = None) -> bool:
    """Render ``out/html/`` from ``out/notebooks/`` (:func:`mmlib.course.site.render_site`).

    Built in ``out/.html.tmp-<pid>`` and swapped in; on failure the previous site is kept, the
    error printed, and False returned.
    """
    from mmlib.course.site import render_site

    html_tmp = out / f".html.tmp-{os.getpid()}"
    shutil.rmtree(html_tmp, ignore_errors=True)
    start = time.perf_counter()
    try:
        pages = render_site(book, out, html_tmp, None if entries is None else {e["id"]: e for e in entries},
                            profile)
    except BookError as exc:
        shutil.rmtree(html_tmp, ignore_errors=True)
        print(f"FAILED: the HTML book was not rendered: {exc}", file=sys.stderr)
        return False
    _swap_in(html_tmp, out / "html")
    print(f"html: {out / 'html' / 'index.html'} ({len(pages)} chapter page(s), "
          f"{time.perf_counter() - start:.0f} s with Sphinx)", flush=True)
    return True


# --------------------------------------------------------------------------- scheduling
def default_jobs() -> int:
    """The cores this process may use (its CPU affinity where known, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def schedule(waiting: Sequence[Chapter], busy_cores: int, running: int, jobs: int) -> list[Chapter]:
    """The chapters of ``waiting`` (in its order) to start now with ``jobs`` cores in all.

    A chapter starts when its ``cores`` fit beside the ``busy_cores`` of the ``running``
    ones; a chapter needing more than ``jobs`` cores starts only when nothing runs, and
    then runs alone.
    """
    free, started = jobs - busy_cores, []
    for ch in waiting:
        if ch.cores > jobs:
            if running == 0 and not started:
                return [ch]
            continue
        if ch.cores <= free:
            started.append(ch)
            free -= ch.cores
    return started


class _Interrupted(Exception):
    """SIGTERM (or SIGINT) reached the runner."""


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Turn SIGTERM into :class:`_Interrupted` while the build runs (main thread only)."""
    def handler(signum: int, frame: Any) -> None:
        raise _Interrupted(signal.Signals(signum).name)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --------------------------------------------------------------------------- commands
def _select(book: Book, chapter_ids: Sequence[str] | None) -> list[Chapter]:
    """The chapters named (each once, in the order first named), or every chapter."""
    if not chapter_ids:
        return list(book.chapters)
    return list(dict.fromkeys(book.chapter(c) for c in chapter_ids))


def _print_entry(e: dict[str, Any]) -> None:
    flag = "  OVER BUDGET" if e.get("over_budget") else ""
    print(f"[{e['status']:>6}] {e['id']} {e['slug']:<28} {e['seconds']:7.1f} s, {e.get('cpu_seconds', 0):7.1f} s CPU "
          f"= {e['relative']:6.1f} x ref ({e.get('relative_basis', 'wall')}; budget {e['relative_budget']:g}){flag}",
          flush=True)
    if e["status"] == "failed":
        err = e["error"]
        where = f"cell In [{err['cell']}]" if err["cell"] is not None else "before any cell ran"
        print(f"         failed at {where}: {err['ename']}: {err['evalue']}")
        for line in (err["source"] or "").splitlines()[:8]:
            print(f"         | {line}")


def _judge(entry: dict[str, Any], reference: tuple[float, float], tolerance: float) -> None:
    """Fill ``relative``, ``relative_wall``, ``over_budget`` and ``over_limit`` of a finished chapter.

    ``reference`` is the (wall, CPU) seconds of the reference workload while the chapter ran.
    ``relative`` = the chapter's CPU seconds / the reference's CPU seconds (it does not grow
    on a busy machine); where no CPU time could be read, wall seconds / wall reference.
    """
    wall, cpu = reference
    entry["reference_s"], entry["reference_cpu_s"] = wall, cpu
    entry["relative_wall"] = round(entry["seconds"] / wall, 2)
    if entry.get("cpu_seconds") and math.isfinite(cpu) and cpu > 0:
        entry["relative"], entry["relative_basis"] = round(entry["cpu_seconds"] / cpu, 2), "cpu"
    else:
        entry["relative"], entry["relative_basis"] = entry["relative_wall"], "wall"
    default_run = not entry.get("parameters")  # budgets are calibrated for the default parameters
    entry["over_budget"] = default_run and entry["relative"] > entry["relative_budget"]
    entry["over_limit"] = default_run and entry["relative"] > entry["limit"]


def _stalled(result: dict[str, Any]) -> bool:
    """Whether a chapter failed because a cell ran into its time-out while the kernel was mostly
    idle (under a quarter of the wall time on the CPU): a stall, not slow code."""
    error = result.get("error") or {}
    seconds, cpu = result.get("seconds") or 0, result.get("cpu_seconds")
    return (result.get("status") == "failed" and error.get("ename") == "CellTimeoutError"
            and cpu is not None and seconds > 0 and cpu < 0.25 * seconds)


def _kernel_did_not_start(result: dict[str, Any]) -> bool:
    """Whether a chapter failed before any cell ran because its kernel died while starting
    ("Kernel died before replying to kernel_info", seen once in a fresh-clone run with two
    kernels starting side by side): the chapter's code never ran, so it is not its fault."""
    error = result.get("error") or {}
    return (result.get("status") == "failed" and error.get("cell") is None
            and error.get("ename") in ("RuntimeError", "DeadKernelError")
            and "kernel died" in str(error.get("evalue", "")).lower())


def _check_jobs(jobs: Any) -> int:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise BookError(f"jobs must be an integer >= 1 (cores to keep busy), got {jobs!r}")
    return jobs


def _check_reference(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise BookError(f"reference_s must be a positive number of seconds, got {value!r}")
    return float(value)


def build(book: Book, chapter_ids: Sequence[str] | None = None, profile: str = "default",
          overrides: dict[str, Any] | None = None, out: Path | None = None,
          keep_going: bool = False, strict_budget: bool = False, html_pages: bool = True,
          jobs: int | None = None, reference_s: float | None = None) -> int:
    """Execute chapters into ``out`` (default ``<root>/_build``); return the exit code.

    0: every chapter ran (and, with ``strict_budget``, within relative_budget x tolerance);
    1: a chapter failed or ran past its limit; 130: interrupted (SIGINT/SIGTERM).
    Bad input raises :class:`BookError` before anything runs or is written. ``jobs``
    (default :func:`default_jobs`) caps the cores in use; ``reference_s``, if given, is
    used instead of timing the reference workload (tests, re-judging a build).
    """
    jobs = _check_jobs(default_jobs() if jobs is None else jobs)
    given_reference = _check_reference(reference_s)
    chapters = _select(book, chapter_ids)
    params = resolve_parameters(book, chapters, profile, overrides)  # validate all before running
    out = Path(out) if out is not None else book.root / "_build"
    out.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(out)
    report_path = out / "report.json"
    wall_start = time.perf_counter()
    entries = {ch.id: {"id": ch.id, "slug": ch.slug, "title": ch.title, "part": ch.part,
                       "parameters": _jsonable(params[ch.id]), "relative_budget": ch.relative_budget,
                       "cores": ch.cores, "limit": round(ch.relative_budget * book.budget_tolerance, 4),
                       "status": "pending"} for ch in chapters}
    report: dict[str, Any] = {
        "profile": profile, "ok": False, "complete": False, "interrupted": False, "jobs": jobs,
        "budget_tolerance": book.budget_tolerance, "reference_measured": given_reference is None,
        "reference_s": None, "reference_cpu_s": None, "reference_start_s": None, "reference_end_s": None,
        "wall_seconds": None, "total_seconds": None, "chapters": [entries[ch.id] for ch in chapters]}

    def save() -> None:
        report["wall_seconds"] = round(time.perf_counter() - wall_start, 1)
        report["total_seconds"] = round(sum(e.get("seconds", 0) for e in entries.values()), 1)
        write_atomic(report_path, json.dumps(report, indent=2))

    save()  # before anything runs: every chapter pending, ok false
    clock = lambda: time.perf_counter() - wall_start  # noqa: E731 - the build's own clock
    sampler = ReferenceSampler(clock)
    measured_at = clock()
    ref_start, cpu_start = (given_reference, given_reference) if given_reference else measure_reference()
    ref_start, cpu_start = round(ref_start, 4), round(cpu_start, 4)
    sampler.add(measured_at, clock(), ref_start, cpu_start)
    if given_reference is None:
        sampler.start()

    def chapter_reference(entry: dict[str, Any]) -> tuple[float, float]:
        if given_reference is not None:
            return given_reference, given_reference
        window = (sampler.samples, entry["started_s"], entry["finished_s"])
        return (round(reference_for_window(*window, clock="wall"), 4),
                round(reference_for_window(*window, clock="cpu"), 4))

    report["reference_start_s"] = ref_start
    save()
    print(f"reference workload: {ref_start:.3f} s; {len(chapters)} chapter(s), --jobs {jobs}", flush=True)
    env = {**os.environ, "MMLIB_PROGRESS": "0", "MMLIB_BOOK": str(book.path)}
    waiting = sorted(chapters, key=lambda c: -c.relative_budget)  # longest first; stable: book order
    running: dict[str, tuple[subprocess.Popen, Chapter, Path]] = {}
    stop = False
    with tempfile.TemporaryDirectory(prefix="mmlib-book-") as work, _interruptible():
        try:
            while waiting or running:
                if not stop:
                    busy = sum(ch.cores for _, ch, _ in running.values())
                    for ch in schedule(waiting, busy, len(running), jobs):
                        waiting.remove(ch)
                        running[ch.id] = _start_worker(ch, params[ch.id], out, work, env, book.root,
                                                       cell_timeout(ch, book.budget_tolerance, ref_start,
                                                                    params[ch.id]))
                        entries[ch.id]["started_s"] = round(time.perf_counter() - wall_start, 2)
                        save()  # a killed build's report shows which chapters were running
                for cid, (proc, ch, result_path) in list(running.items()):
                    if proc.poll() is None:
                        continue
                    del running[cid]
                    entry = entries[cid]
                    result = _worker_result(proc, result_path, ch, out)
                    stalled, did_not_start = _stalled(result), _kernel_did_not_start(result)
                    if (stalled or did_not_start) and "retried" not in entry:
                        # a kernel that sat idle until the per-cell time-out (seen intermittently
                        # under load, cause not yet found), or one that died while starting: run the
                        # chapter once more, and say so
                        entry["retried"] = {"cell": result["error"].get("cell"), "seconds": result.get("seconds"),
                                            "cpu_seconds": result.get("cpu_seconds"),
                                            "reason": "stalled kernel" if stalled else "kernel died at start"}
                        if stalled:
                            where = f"cell In [{entry['retried']['cell']}]" if entry["retried"]["cell"] else "a cell"
                            why = (f"{where} timed out after {result.get('seconds')} s with "
                                   f"{result.get('cpu_seconds')} s of CPU (a stalled kernel)")
                        else:
                            why = f"its kernel died before any cell ran ({result['error'].get('evalue')})"
                        print(f"[ retry] {cid} {ch.slug}: {why}; running the chapter once more",
                              file=sys.stderr, flush=True)
                        waiting.insert(0, ch)
                        save()
                        continue
                    entry.update(result)
                    entry["finished_s"] = round(time.perf_counter() - wall_start, 2)
                    _judge(entry, chapter_reference(entry), book.budget_tolerance)
                    _print_entry(entry)
                    save()
                    if entry["status"] != "ok" and not keep_going:
                        stop = True
                if stop:
                    for ch in waiting:
                        entries[ch.id]["status"] = "not run"
                    waiting = []
                time.sleep(0.1)
        except (KeyboardInterrupt, _Interrupted) as exc:
            sampler.stop()
            _stop_workers(running)
            for proc, ch, _ in running.values():
                entries[ch.id]["status"] = "interrupted"
            for ch in waiting:
                entries[ch.id]["status"] = "not run"
            report["interrupted"] = True
            save()
            print(f"interrupted ({type(exc).__name__} {exc}): report {report_path} marks the unfinished "
                  "chapters", file=sys.stderr)
            return 130
    sampler.stop()
    measured_at = clock()
    ref_end, cpu_end = (given_reference, given_reference) if given_reference else measure_reference()
    ref_end, cpu_end = round(ref_end, 4), round(cpu_end, 4)
    sampler.add(measured_at, clock(), ref_end, cpu_end)
    reference = given_reference or round(statistics.median(x.seconds for x in sampler.samples), 4)
    reference_cpu = given_reference or round(statistics.median(x.cpu_seconds for x in sampler.samples), 4)
    report.update(reference_end_s=ref_end, reference_s=reference, reference_cpu_s=reference_cpu,
                  reference_samples=len(sampler.samples))
    for e in entries.values():
        if "seconds" in e:
            _judge(e, chapter_reference(e), book.budget_tolerance)
    save()
    site_ok = render_html(book, out, list(entries.values()), profile) if html_pages else True
    failed = [e["id"] for e in entries.values() if e["status"] != "ok"]
    over = [e["id"] for e in entries.values() if e.get("over_limit")]
    report["complete"] = True
    report["html"] = "html/index.html" if html_pages and site_ok else None
    report["ok"] = not failed and not (strict_budget and over) and site_ok
    save()
    print(f"reference workload at the end: {ref_end:.3f} s; reference_s = {reference:.3f} s wall, "
          f"{reference_cpu:.3f} s CPU (medians of {len(sampler.samples)} timings; each chapter is judged by "
          "its CPU seconds over the reference's CPU seconds while it ran)")
    print(f"report: {report_path}  ({report['total_seconds']} s in chapters, {report['wall_seconds']} s wall, "
          f"--jobs {jobs})", flush=True)
    if failed:
        print(f"FAILED: chapter(s) {', '.join(failed)} did not run through", file=sys.stderr)
    if over:
        detail = ", ".join(f"{e['id']} ({e['relative']:g} > {e['limit']:g})" for e in entries.values()
                           if e.get("over_limit"))
        print(f"{'FAILED' if strict_budget else 'warning'}: chapter(s) took longer than relative_budget x "
              f"{book.budget_tolerance:g} (x reference_s): {detail}", file=sys.stderr)
    return 0 if report["ok"] else 1


def _start_worker(ch: Chapter, params: dict[str, Any], out: Path, work: str,
                  env: dict[str, str], cwd: Path, timeout_s: int | None) -> tuple[subprocess.Popen, Chapter, Path]:
    """Start the worker process of one chapter (its output goes to a log in ``work``)."""
    spec, result = Path(work) / f"{ch.id}.job", Path(work) / f"{ch.id}.json"
    with open(spec, "wb") as f:
        pickle.dump({"source": str(ch.file), "slug": ch.slug, "params": params, "out": str(out),
                     "timeout_s": timeout_s, "result": str(result)}, f)
    log = open(Path(work) / f"{ch.id}.log", "wb")  # noqa: SIM115 - closed once the child has it
    code = ("import importlib.util as u, sys; s = u.spec_from_file_location('mmlib_bookworker', sys.argv[1]); "
            "m = u.module_from_spec(s); s.loader.exec_module(m); sys.exit(m.main(sys.argv[2]))")
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, _WORKER_FILE, str(spec)], cwd=str(cwd), env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    finally:
        log.close()
    return proc, ch, result


def _worker_result(proc: subprocess.Popen, result: Path, ch: Chapter, out: Path) -> dict[str, Any]:
    """The finished worker's result, or a failure naming its exit status and last output lines."""
    notebook = str((out / "notebooks" / f"{ch.slug}.ipynb").relative_to(out))
    if result.is_file():
        return {**json.loads(result.read_text(encoding="utf-8")), "notebook": notebook}
    log = result.with_suffix(".log")
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:] if log.is_file() else []
    return {"status": "failed", "seconds": 0.0, "records": {}, "notebook": notebook,
            "error": {"cell": None, "source": "\n".join(tail), "ename": "WorkerDied",
                      "evalue": f"the worker process exited with status {proc.returncode} before reporting"}}


def _stop_workers(running: dict[str, tuple[subprocess.Popen, Chapter, Path]], grace_s: float = 10.0) -> None:
    """SIGTERM each running worker, then SIGKILL what is still alive after ``grace_s``."""
    for proc, _, _ in running.values():
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc, _, _ in running.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def clean_for_commit(nb: Any) -> Any:
    """Drop run-specific metadata (papermill timings, injected cells) and fix cell ids."""
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    nb.metadata.pop("papermill", None)
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        cell["id"] = f"cell-{i:03d}"
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def refresh(book: Book, chapter_ids: Sequence[str] | None = None, jobs: int | None = None) -> int:
    """Maintainer command: re-execute chapters (default profile) and rewrite their committed .ipynb.

    This is the only code that writes into ``chapters/``. A chapter that fails is not written.
    """
    import nbformat

    out = book.root / "_build" / "refresh"
    code = build(book, chapter_ids, "default", out=out, keep_going=True, html_pages=False, jobs=jobs)
    if code == 130:
        return code
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for e in report["chapters"]:
        if e["status"] != "ok":
            print(f"not refreshed: {e['id']} ({e['status']})", file=sys.stderr)
            continue
        ch = book.chapter(e["id"])
        nb = clean_for_commit(nbformat.read(out / e["notebook"], as_version=4))
        text = nbformat.writes(nb)
        write_atomic(ch.notebook, text if text.endswith("\n") else text + "\n")  # as nbformat.write does
        print(f"refreshed {ch.notebook.relative_to(book.root)}")
    return code


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` items -> {name: value}, each value read as YAML (``3``, ``0.5``, ``[0, 1]``)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise BookError(f"--param expects NAME=VALUE, got {item!r}")
        if not name.isidentifier():
            raise BookError(f"--param {item!r}: {name!r} is not a parameter name (a Python name)")
        try:
            parsed = yaml.safe_load(value)
            if isinstance(parsed, str) and _EXPONENT.fullmatch(parsed.strip()):
                parsed = float(parsed)  # YAML 1.1 reads 1e-3 as a string; a reader means a number
            out[name] = parsed
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise BookError(f"--param {name}: {value!r} is not a valid YAML value ({problem}); "
                            "quote strings that contain ':', '[' or '{'") from None
    return out


def _cmd_list(book: Book) -> int:
    for part in book.parts:
        print(part)
        for ch in (c for c in book.chapters if c.part == part):
            exists = "" if ch.file.exists() else "   (file missing)"
            print(f"  {ch.id}  {ch.title:<48} {ch.relative_budget:>6g} x ref (~{ch.budget:g} CPU s)  "
                  f"{ch.cores} core{'s' if ch.cores > 1 else ' '}  {ch.file.relative_to(book.root)}{exists}")
    print("profiles: " + ", ".join(book.profiles))
    print("budgets: CPU seconds relative to the reference workload's; ~CPU seconds at the calibration "
          f"machine's reference "
          f"{book.calibrated_reference_s:g} s")
    return 0


def _cmd_params(book: Book, chapter_id: str) -> int:
    ch = book.chapter(chapter_id)
    try:
        specs = parameter_specs(source_notebook(ch))
    except BookError as exc:
        raise BookError(f"chapter {ch.id}: {exc}") from None
    print(f"chapter {ch.id} · {ch.title}: parameters (change one with --param NAME=VALUE)")
    for p in specs.values():
        print(f"{p.name} = {p.source}  ({p.type_name})  {p.help or '(no description in the parameters cell)'}")
    return 0


def _cmd_reference(repeats: int) -> int:
    wall, cpu = measure_reference(repeats)
    print(f"reference_s = {wall:.3f} s wall, reference_cpu_s = {cpu:.3f} s CPU  (medians of {repeats} runs of "
          "the reference workload, one torch thread)")
    return 0


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects an integer >= 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a positive number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expects a positive number of seconds, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code (2 for bad input)."""
    parser = argparse.ArgumentParser(prog="python -m mmlib.course.book", description=__doc__.split("\n")[0])
    parser.add_argument("--book", type=Path, default=None, help="book.yml to use (default: the course's)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="chapters, budgets, cores and profiles in book order")
    p_params = sub.add_parser("params", help="a chapter's parameters: type, default and help")
    p_params.add_argument("chapter")
    p_ref = sub.add_parser("reference", help="time the reference workload on this machine (reference_s)")
    p_ref.add_argument("--repeats", type=_positive_int, default=3, help="runs; the median is printed")
    p_site = sub.add_parser("site", help="render <out>/html/ from the notebooks already executed in <out>/notebooks/")
    p_site.add_argument("--out", type=Path, default=None, help="the build folder (default _build)")
    for name in ("build", "refresh"):
        p = sub.add_parser(name, help="execute chapters into _build/" if name == "build"
                           else "maintainer: re-execute and rewrite the committed chapters/*.ipynb")
        p.add_argument("--chapter", action="append", help="chapter id, e.g. 01 (repeatable)")
        p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                       help=f"cores to keep busy with chapters side by side (default: {default_jobs()}, "
                            "this machine's)")
        if name == "build":
            p.add_argument("--profile", default="default", help="a profile of book.yml")
            p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                           help="override one parameter (YAML value, type-checked), repeatable")
            p.add_argument("--out", type=Path, default=None, help="output folder (default _build)")
            p.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
            p.add_argument("--strict-budget", action="store_true",
                           help="fail when a chapter's seconds / reference_s exceed relative_budget x "
                                "budget_tolerance")
            p.add_argument("--no-html", action="store_true", help="skip the HTML pages")
            p.add_argument("--reference-s", type=_positive_float, default=None, metavar="SECONDS",
                           help="judge with this reference_s instead of timing the reference workload")
    args = parser.parse_args(argv)
    try:
        book = load_book(args.book)
        if args.command == "list":
            return _cmd_list(book)
        if args.command == "params":
            return _cmd_params(book, args.chapter)
        if args.command == "reference":
            return _cmd_reference(args.repeats)
        if args.command == "site":
            return 0 if render_html(book, args.out or book.root / "_build") else 1
        if args.command == "refresh":
            return refresh(book, args.chapter, args.jobs)
        return build(book, args.chapter, args.profile, _parse_overrides(args.param), args.out,
                     args.keep_going, args.strict_budget, not args.no_html, args.jobs, args.reference_s)
    except BookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
