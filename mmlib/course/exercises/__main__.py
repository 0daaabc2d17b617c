"""``python -m mmlib.course.exercises check NN [path] [--timeout S] [--cell-timeout S]`` — grade an exercise notebook.

``python -m mmlib.course.exercises guard`` — before JupyterLab opens the exercises (``make lab``),
back up the side of every ``.py``/``.ipynb`` pair whose code differs that JupyterLab would
drop (see :mod:`mmlib.course.exercises.pairing`).

Exit status of ``check``: 0 when every task passes and every cell ran, 1 otherwise,
2 for bad input (an unknown exercise lists the valid ones; a bad ``--timeout``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mmlib.course.bookfile import BookError, load_book
from mmlib.course.exercises import CELL_FACTOR, DEFAULT_TIMEOUT, TIMEOUT_ENV, format_results, grade_notebook


def _seconds(text: str) -> float:
    from mmlib.course.exercises import resolve_timeout

    try:
        return resolve_timeout(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m mmlib.course.exercises",
                                     description="Grade the course's exercises.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="grade exercise NN (default file: the newer of "
                                           "exercises/NN_slug.ipynb and .py)")
    p_check.add_argument("exercise", help="exercise id, e.g. 00")
    p_check.add_argument("path", nargs="?", type=Path, default=None,
                         help="a learner's notebook (.ipynb or .py); default: the course's one")
    p_check.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                         help=f"time limit per task (default: ${TIMEOUT_ENV} or {DEFAULT_TIMEOUT:g})")
    p_check.add_argument("--cell-timeout", type=_seconds, default=None, metavar="SECONDS",
                         help=f"time limit per notebook cell (default: {CELL_FACTOR} x the task limit)")
    sub.add_parser("list", help="exercises listed in book.yml")
    sub.add_parser("guard", help="back up exercise notebooks that JupyterLab would overwrite (run by make lab)")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for ch in load_book().chapters:
                if ch.exercise is not None:
                    print(f"{ch.id}  {ch.exercise.name}")
            return 0
        if args.command == "guard":
            from mmlib.course.exercises.pairing import guard

            book = load_book()
            stubs = [ch.exercise for ch in book.chapters if ch.exercise is not None]
            messages = guard(stubs, book.root)
            for message in messages:
                print(message)
            if not messages:
                print(f"guard: the {len(stubs)} exercise notebooks agree with their .py files; nothing to back up")
            return 0
        graded = grade_notebook(args.exercise, args.path, timeout=args.timeout, cell_timeout=args.cell_timeout)
    except (BookError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in graded.notes:
        print(note)
    for warning in graded.warnings:
        print(f"warning: {warning}")
    shown = graded.path.resolve()
    if shown.is_relative_to(Path.cwd()):
        shown = shown.relative_to(Path.cwd())
    print(format_results(graded.results, f"Exercise {args.exercise.zfill(2)} — {shown}", graded.cell_errors))
    return 0 if graded.ok else 1


if __name__ == "__main__":
    sys.exit(main())
