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

In a notebook: ``from mmlib.exercises import check; check("00")`` grades the functions
defined so far. From a shell: ``python -m mmlib.exercises check 00 [path]``.
"""

from __future__ import annotations

import importlib.util
import inspect
import runpy
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from mmlib.bookfile import BookError, load_book

__all__ = ["Result", "check", "grade", "grade_file", "exercise_paths", "load_checks",
           "namespace_from_notebook", "namespace_from_module", "format_results"]

PASS, FAIL, NOT_DONE = "pass", "fail", "not done yet"
_grading_file = False  # True while a notebook is executed for grading: its check() cell stays quiet


@dataclass(frozen=True)
class Result:
    """The outcome of one task."""

    task: str
    title: str
    status: str
    message: str = ""


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


def load_checks(exercise_id: str, book_path: Path | None = None) -> dict[str, Callable[[Any], None]]:
    """The ``CHECKS`` mapping (function name -> check) of exercise ``NN``."""
    paths = exercise_paths(exercise_id, book_path)
    module = _load_module(paths.checks, f"mmlib_exercise_checks_{paths.id}")
    return dict(module.CHECKS)


def _title(name: str, fn: Callable) -> str:
    doc = inspect.getdoc(fn)
    return doc.splitlines()[0] if doc else name


def grade(checks: dict[str, Callable[[Any], None]], namespace: dict[str, Any],
          cell_errors: dict[str, str] | None = None) -> list[Result]:
    """Run every check on the learner's function of the same name in ``namespace``."""
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
        try:
            check_fn(fn)
        except NotImplementedError:
            results.append(Result(name, title, NOT_DONE, "still raises NotImplementedError"))
        except AssertionError as exc:
            results.append(Result(name, title, FAIL, str(exc) or "wrong answer"))
        except Exception as exc:  # noqa: BLE001 - a learner's bug is a hint, not a crash
            last = traceback.extract_tb(exc.__traceback__)[-1]
            results.append(Result(name, title, FAIL,
                                  f"your code raised {type(exc).__name__}: {exc} (line {last.lineno})"))
        else:
            results.append(Result(name, title, PASS))
    return results


def format_results(results: list[Result], header: str = "") -> str:
    """Per task: ``[pass]``, ``[fail]`` with the hint, ``[not done yet]``; then a tally."""
    lines = [header] if header else []
    for i, r in enumerate(results, 1):
        line = f"  [{r.status}] Task {i} — {r.title}"
        lines.append(line + (f"\n      {r.message}" if r.message and r.status != PASS else ""))
    done = sum(r.status == PASS for r in results)
    lines.append(f"{done} of {len(results)} tasks pass.")
    return "\n".join(lines)


def namespace_from_module(path: Path) -> dict[str, Any]:
    """Run a plain module (e.g. a reference solution) and return its globals."""
    return runpy.run_path(str(path), run_name="__exercise__")


def namespace_from_notebook(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Run a learner's notebook (.ipynb or py:percent) cell by cell in a fresh namespace.

    Returns the namespace and ``{"cell N": "ErrorType: message"}`` for cells that raised
    something other than NotImplementedError (a stub called at top level is fine).
    IPython magics (``%...``, ``!...``) are skipped.
    """
    global _grading_file
    import jupytext

    nb = jupytext.read(path)
    namespace: dict[str, Any] = {"__name__": "__exercise__"}
    errors: dict[str, str] = {}
    _grading_file = True
    try:
        for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
            source = "\n".join(line for line in cell.source.splitlines()
                               if not line.lstrip().startswith(("%", "!")))
            try:
                exec(compile(source, f"<{path.name} cell {i}>", "exec", dont_inherit=True), namespace)  # noqa: S102
            except NotImplementedError:
                continue
            except Exception as exc:  # noqa: BLE001
                errors[f"cell {i}"] = f"cell {i} raised {type(exc).__name__}: {exc}"
    finally:
        _grading_file = False
    return namespace, errors


def grade_file(exercise_id: str, path: Path | None = None,
               book_path: Path | None = None) -> tuple[Path, list[Result]]:
    """Grade a learner's notebook; default: ``exercises/NN_slug.ipynb``, else the ``.py``."""
    paths = exercise_paths(exercise_id, book_path)
    if path is None:
        path = paths.notebook if paths.notebook.is_file() else paths.stub
    path = Path(path)
    if not path.is_file():
        raise BookError(f"no exercise notebook at {path}")
    checks = load_checks(exercise_id, book_path)
    namespace, errors = namespace_from_notebook(path)
    return path, grade(checks, namespace, errors)


def check(exercise_id: str, namespace: dict[str, Any] | None = None) -> None:
    """Grade exercise ``NN`` against the functions defined so far and print the result.

    Called from the last cell of an exercise notebook: ``check("00")``. Uses the
    caller's globals unless ``namespace`` is given.
    """
    if _grading_file:
        return
    if namespace is None:
        frame = inspect.currentframe()
        namespace = frame.f_back.f_globals if frame and frame.f_back else {}
    results = grade(load_checks(exercise_id), namespace)
    print(format_results(results, f"Exercise {str(exercise_id).zfill(2)}"))
