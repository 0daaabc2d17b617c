"""Grade the course's exercises: pass / fail with a hint / not done yet.

Layout of exercise ``NN`` (its path comes from ``exercise:`` in book.yml)::

    exercises/NN_slug.py          stub notebook (jupytext py:percent), paired with
    exercises/NN_slug.ipynb       the notebook a learner opens; functions whose body is
                                  ``raise NotImplementedError`` between the markers
                                  ``# --- your code below ---`` / ``# --- your code above ---``,
                                  and a last cell ``check("NN")``
    exercises/solutions/NN_slug.py  reference solutions (a plain module, same functions)
    exercises/checks/NN_slug.py     ``CHECKS = {"function_name": check_fn, ...}`` in task order;
                                  ``check_fn(learner_function)`` raises AssertionError("hint")
                                  on a wrong answer; its docstring's first line is the task title

In a notebook: ``from mmlib.course.exercises import check; check("00")`` grades the functions
defined so far. From a shell: ``python -m mmlib.course.exercises check NN [path]``.

The learner's code never runs in the grader's own process: the notebook's cells and each
task run in a child process (:mod:`mmlib.course.exercises.isolation`) with a time limit per task
(:data:`DEFAULT_TIMEOUT` seconds, or ``timeout=``, or the environment variable
``MMLIB_EXERCISE_TIMEOUT``) and per notebook cell (:data:`CELL_FACTOR` times that, or
``cell_timeout=``: a cell may legitimately train for minutes). ``sys.exit``, ``os._exit``, a crash, a syntax error,
an exception or a timeout is a ``fail`` naming what happened, never a pass. :func:`grade`
is the in-process primitive (no time limit) the child uses.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import re
import runpy
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from mmlib.course.bookfile import BookError, load_book

__all__ = ["Result", "Grading", "check", "grade", "grade_file", "grade_notebook", "grade_namespace",
           "exercise_paths", "load_checks", "namespace_from_notebook", "namespace_from_module",
           "notebook_cells", "format_results", "resolve_timeout", "DEFAULT_TIMEOUT", "CELL_FACTOR", "TIMEOUT_ENV"]

PASS, FAIL, NOT_DONE = "pass", "fail", "not done yet"
DEFAULT_TIMEOUT = 30.0  # seconds per task
CELL_FACTOR = 10  # a notebook cell may take this many times the task limit (300 s by default)
TIMEOUT_ENV = "MMLIB_EXERCISE_TIMEOUT"
_grading_file = False  # True while a notebook is executed for grading: its check() cell stays quiet


@dataclass(frozen=True)
class Result:
    """The outcome of one task (``output``: what the learner's code printed, capped)."""

    task: str
    title: str
    status: str
    message: str = ""
    output: str = ""


@dataclass(frozen=True)
class Grading:
    """A graded notebook: the file, per-task results, failed cells, notes and warnings."""

    path: Path | None
    results: list[Result]
    cell_errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every task passes and every cell of the notebook ran."""
        return bool(self.results) and not self.cell_errors and all(r.status == PASS for r in self.results)


@dataclass(frozen=True)
class ExercisePaths:
    """Where exercise NN's files live."""

    id: str
    stub: Path
    solution: Path
    checks: Path

    @property
    def notebook(self) -> Path:
        return self.stub.with_suffix(".ipynb")


def resolve_timeout(timeout: float | None = None, source: str = "timeout") -> float:
    """The time limit in seconds: ``timeout``, else ``$MMLIB_EXERCISE_TIMEOUT``, else 30.

    ``source`` names the setting in the error raised for a value that is not a positive,
    finite number.
    """
    if timeout is None:
        raw = os.environ.get(TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_TIMEOUT
        source = f"${TIMEOUT_ENV}"
        try:
            timeout = float(raw)
        except ValueError:
            raise ValueError(f"{source}={raw!r} is not a number; give a positive number of seconds") from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError(f"{source}={timeout!r} must be a positive number of seconds")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"{source}={timeout!r} must be a positive, finite number of seconds")
    return float(timeout)


def exercise_paths(exercise_id: str, book_path: Path | None = None) -> ExercisePaths:
    """Paths of exercise ``NN`` from book.yml; unknown ids list the valid ones."""
    book = load_book(book_path)
    with_exercise = [c for c in book.chapters if c.exercise is not None]
    key = str(exercise_id).zfill(2)
    for ch in with_exercise:
        if ch.id == key:
            stub = ch.exercise
            return ExercisePaths(key, stub, stub.parent / "solutions" / stub.name,
                                 stub.parent / "checks" / stub.name)
    valid = ", ".join(c.id for c in with_exercise)
    raise BookError(f"unknown exercise {exercise_id!r}; valid exercises: {valid}")


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise BookError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _checks_from(path: Path, exercise_id: str) -> dict[str, Callable[[Any], None]]:
    return dict(_load_module(path, f"mmlib_exercise_checks_{exercise_id}").CHECKS)


def load_checks(exercise_id: str, book_path: Path | None = None) -> dict[str, Callable[[Any], None]]:
    """The ``CHECKS`` mapping (function name -> check) of exercise ``NN``."""
    paths = exercise_paths(exercise_id, book_path)
    return _checks_from(paths.checks, paths.id)


def _title(name: str, fn: Callable) -> str:
    doc = inspect.getdoc(fn)
    return doc.splitlines()[0] if doc else name


def _exit_hint(code: object) -> str:
    shown = "" if code is None else repr(code)
    return f"your code called sys.exit({shown}) — grading cannot continue in this task"


def run_task(check_fn: Callable[[Any], None], fn: Any) -> tuple[str, str]:
    """Run one check on one learner function in this process: ``(status, hint)``."""
    try:
        check_fn(fn)
    except NotImplementedError:
        return NOT_DONE, "still raises NotImplementedError"
    except AssertionError as exc:
        return FAIL, str(exc) or "wrong answer"
    except SystemExit as exc:
        return FAIL, _exit_hint(exc.code)
    except KeyboardInterrupt:
        return FAIL, "your code raised KeyboardInterrupt — grading cannot continue in this task"
    except Exception as exc:  # noqa: BLE001 - a learner's bug is a hint, not a crash
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (line {frames[-1].lineno})" if frames else ""
        return FAIL, f"your code raised {type(exc).__name__}: {exc}{where}"
    except BaseException as exc:  # noqa: BLE001 - e.g. GeneratorExit raised by hand
        return FAIL, f"your code raised {type(exc).__name__} — grading cannot continue in this task"
    return PASS, ""


def grade(checks: dict[str, Callable[[Any], None]], namespace: dict[str, Any],
          cell_errors: dict[str, str] | None = None) -> list[Result]:
    """Run every check on the learner's function of the same name, in this process.

    No time limit and no protection against ``os._exit`` or a crash: learners' code is
    graded with :func:`grade_notebook` / :func:`grade_namespace`, which run this in a child.
    """
    results = []
    for name, check_fn in checks.items():
        title = _title(name, check_fn)
        fn = namespace.get(name)
        if fn is None:
            why = f"`{name}` is not defined yet: write it and run its cell"
            if cell_errors:
                why += " (a cell failed: " + "; ".join(cell_errors.values()) + ")"
            results.append(Result(name, title, NOT_DONE, why))
            continue
        status, message = run_task(check_fn, fn)
        results.append(Result(name, title, status, message))
    return results


def format_results(results: list[Result], header: str = "", cell_errors: dict[str, str] | None = None) -> str:
    """Per task: ``[pass]``, ``[fail]`` with the hint, ``[not done yet]``; then a tally."""
    lines = [header] if header else []
    for error in (cell_errors or {}).values():
        lines.append(f"  [error] {error}")
    for i, r in enumerate(results, 1):
        line = f"  [{r.status}] Task {i} — {r.title}"
        lines.append(line + (f"\n      {r.message}" if r.message and r.status != PASS else ""))
        if r.output:
            shown = r.output.rstrip().splitlines()
            shown = shown[:5] + [s for s in shown[5:] if s.startswith("… (")]
            lines.append("      your code printed:\n" + "\n".join(f"        | {s[:200]}" for s in shown))
    done = sum(r.status == PASS for r in results)
    lines.append(f"{done} of {len(results)} tasks pass.")
    return "\n".join(lines)


def namespace_from_module(path: Path) -> dict[str, Any]:
    """Run a plain module (e.g. a reference solution) and return its globals."""
    return runpy.run_path(str(path), run_name="__exercise__")


def notebook_cells(path: Path) -> list[str]:
    """Code cells of a notebook (.ipynb or py:percent), IPython magics (``%``, ``!``) removed."""
    import jupytext

    try:
        nb = jupytext.read(path)
    except Exception as exc:  # noqa: BLE001 - a corrupt notebook is bad input, named
        raise BookError(f"cannot read the notebook {path}: {type(exc).__name__}: {exc}") from None
    return ["\n".join(line for line in cell.source.splitlines()
                      if not line.lstrip().startswith(("%", "!")))
            for cell in nb.cells if cell.cell_type == "code"]


def exec_cell(source: str, index: int, filename: str, namespace: dict[str, Any]) -> str | None:
    """Execute one cell; ``None``, or what went wrong (NotImplementedError is fine)."""
    try:
        code = compile(source, f"<{filename} cell {index}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"cell {index} has a syntax error: {exc.msg} (line {exc.lineno})"
    try:
        exec(code, namespace)  # noqa: S102
    except NotImplementedError:
        return None
    except SystemExit as exc:
        return f"cell {index}: " + _exit_hint(exc.code).replace("this task", "this cell")
    except Exception as exc:  # noqa: BLE001
        return f"cell {index} raised {type(exc).__name__}: {exc}"
    except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt raised by the learner
        return f"cell {index} raised {type(exc).__name__}"
    return None


def namespace_from_notebook(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Run a notebook (.ipynb or py:percent) cell by cell in a fresh namespace, in this process.

    Returns the namespace and ``{"cell N": "what went wrong"}`` for cells that raised
    something other than NotImplementedError (a stub called at top level is fine).
    Meant for the course's own files; learners' notebooks go through :func:`grade_notebook`.
    """
    global _grading_file
    namespace: dict[str, Any] = {"__name__": "__exercise__"}
    errors: dict[str, str] = {}
    _grading_file = True
    try:
        for i, source in enumerate(notebook_cells(Path(path))):
            error = exec_cell(source, i, Path(path).name, namespace)
            if error:
                errors[f"cell {i}"] = error
    finally:
        _grading_file = False
    return namespace, errors


def _defined_names(source: str) -> set[str]:
    """Top-level names a cell defines (``def``/``class``/assignment), read even if it does not parse."""
    found = re.findall(r"^(?:async\s+def|def|class)\s+(\w+)|^(\w+)\s*(?::[^=\n]*)?=(?!=)", source, re.M)
    return {a or b for a, b in found}


def _assemble(checks: dict[str, Callable], raw: dict[str, tuple[str, str, str]], cell_errors: dict[int, str],
              cells: list[str], fatal: str | None) -> list[Result]:
    results = []
    for name, check_fn in checks.items():
        title = _title(name, check_fn)
        status, message, output = raw.get(name, (FAIL, fatal or "no result came back from grading", ""))
        defining = [err for i, err in cell_errors.items() if name in _defined_names(cells[i])]
        if defining:
            status, message = FAIL, "the cell that defines it failed: " + "; ".join(defining) + (
                f" — and {message}" if status == FAIL and message else "")
        elif status == "missing":
            if cell_errors:
                status, message = FAIL, (f"`{name}` is not defined because a cell failed: "
                                         + cell_errors[min(cell_errors)])
            else:
                status, message = NOT_DONE, f"`{name}` is not defined yet: write it and run its cell"
        elif status not in (PASS, FAIL, NOT_DONE):
            status, message = FAIL, f"grading returned an invalid status {status!r} (did your code tamper with it?)"
        results.append(Result(name, title, status, message, output))
    return results


def grade_notebook(exercise_id: str, path: Path | None = None, book_path: Path | None = None,
                   timeout: float | None = None, cell_timeout: float | None = None) -> Grading:
    """Grade a learner's notebook in a child process, with a time limit per task and per cell.

    ``timeout``: seconds per task (see :func:`resolve_timeout`); ``cell_timeout``: seconds
    per notebook cell (default: :data:`CELL_FACTOR` times ``timeout``).

    Default file: the newer of ``exercises/NN_slug.ipynb`` / ``.py`` (a note says which;
    a warning says when the two differ in code).
    """
    from mmlib.course.exercises.isolation import Job, supervise
    from mmlib.course.exercises.pairing import choose_notebook

    limit = resolve_timeout(timeout)
    cell_limit = CELL_FACTOR * limit if cell_timeout is None else resolve_timeout(cell_timeout, "cell_timeout")
    paths = exercise_paths(exercise_id, book_path)
    path, notes, warnings = choose_notebook(paths.stub, None if path is None else Path(path))
    checks = _checks_from(paths.checks, paths.id)
    cells = notebook_cells(path)
    job = Job(str(paths.checks), paths.id, str(path), cells)
    raw, cell_errors, fatal = supervise(job, list(checks), limit, cell_limit)
    results = _assemble(checks, raw, cell_errors, cells, fatal)
    return Grading(path, results, {f"cell {i}": e for i, e in sorted(cell_errors.items())}, notes, warnings)


def grade_file(exercise_id: str, path: Path | None = None, book_path: Path | None = None,
               timeout: float | None = None, cell_timeout: float | None = None) -> tuple[Path, list[Result]]:
    """Grade a learner's notebook (see :func:`grade_notebook`); returns the file and the results."""
    graded = grade_notebook(exercise_id, path, book_path, timeout, cell_timeout)
    return graded.path, graded.results


def grade_namespace(exercise_id: str, namespace: dict[str, Any], book_path: Path | None = None,
                    timeout: float | None = None) -> list[Result]:
    """Grade the functions in ``namespace`` (e.g. a kernel's globals) in a forked child.

    Where the platform cannot fork, the tasks run in this process without a time limit
    (the namespace's functions cannot be sent to a fresh process); a note says so.
    """
    from mmlib.course.exercises.isolation import Job, can_fork, supervise

    limit = resolve_timeout(timeout)
    paths = exercise_paths(exercise_id, book_path)
    checks = _checks_from(paths.checks, paths.id)
    if not can_fork():
        print("note: this platform cannot fork; grading runs in this process, without a time limit")
        return grade(checks, namespace)
    raw, cell_errors, fatal = supervise(Job(str(paths.checks), paths.id, None, [], namespace), list(checks), limit)
    return _assemble(checks, raw, cell_errors, [], fatal)


def check(exercise_id: str, namespace: dict[str, Any] | None = None, timeout: float | None = None) -> None:
    """Grade exercise ``NN`` against the functions defined so far and print the result.

    Called from the last cell of an exercise notebook: ``check("00")``. Uses the
    caller's globals unless ``namespace`` is given; each task runs in a child process
    with a time limit (see :func:`resolve_timeout`).
    """
    if _grading_file:
        return
    if namespace is None:
        frame = inspect.currentframe()
        namespace = frame.f_back.f_globals if frame and frame.f_back else {}
    results = grade_namespace(exercise_id, namespace, timeout=timeout)
    print(format_results(results, f"Exercise {str(exercise_id).zfill(2)}"))
