"""``python -m mmlib.exercises check NN [path]`` — grade an exercise notebook.

Exit status: 0 when every task passes, 1 otherwise, 2 for bad input
(an unknown exercise lists the valid ones).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mmlib.bookfile import BookError, load_book
from mmlib.exercises import PASS, format_results, grade_file


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m mmlib.exercises",
                                     description="Grade the course's exercises.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="grade exercise NN (default file: exercises/NN_slug.ipynb)")
    p_check.add_argument("exercise", help="exercise id, e.g. 00")
    p_check.add_argument("path", nargs="?", type=Path, default=None,
                         help="a learner's notebook (.ipynb or .py); default: the course's one")
    sub.add_parser("list", help="exercises listed in book.yml")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for ch in load_book().chapters:
                if ch.exercise is not None:
                    print(f"{ch.id}  {ch.exercise.name}")
            return 0
        path, results = grade_file(args.exercise, args.path)
    except BookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    shown = path.resolve()
    if shown.is_relative_to(Path.cwd()):
        shown = shown.relative_to(Path.cwd())
    print(format_results(results, f"Exercise {args.exercise.zfill(2)} — {shown}"))
    return 0 if all(r.status == PASS for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
