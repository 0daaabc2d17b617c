"""The book runner: book.yml -> papermill runs -> ``_build/``.

Run it as ``python -m mmlib.book`` (``make book`` and ``make test`` do)::

    python -m mmlib.book list                         # chapters, budgets, profiles
    python -m mmlib.book params 01                    # a chapter's parameters
    python -m mmlib.book build [--chapter 01] [--profile full] [--param EPOCHS=3]
                               [--keep-going] [--strict-budget] [--out _build]
    python -m mmlib.book refresh [--chapter 01]       # maintainer: rewrite chapters/*.ipynb

``build`` converts each chapter's ``chapters/NN_slug.py`` with jupytext, executes
it with papermill (kernel ``python3``, working directory ``chapters/``, the
profile's parameters injected after the cell tagged ``parameters``, the
environment variable ``MMLIB_PROGRESS=0``) into ``<out>/notebooks/``, renders
``<out>/html/NN_slug.html`` plus ``<out>/html/index.html`` in book order, and writes
``<out>/report.json``. It never writes into ``chapters/`` or ``exercises/``; only
``refresh`` writes the committed ``chapters/NN_slug.ipynb``.

A chapter reports its key numbers with :func:`record`; they land in the report.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from mmlib.bookfile import Book, BookError, Chapter, load_book, repo_root

__all__ = ["record", "read_records", "load_book", "repo_root", "build", "refresh", "main",
           "Book", "BookError", "Chapter", "RECORD_MIME"]

RECORD_MIME = "application/vnd.mmlib.record+json"
KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}


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


def read_records(nb: Any) -> dict[str, Any]:
    """Merge every :func:`record` output of an executed notebook (later values win)."""
    found: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                found.update(json.loads(payload) if isinstance(payload, str) else dict(payload))
    return found


# --------------------------------------------------------------------------- notebooks
def source_notebook(chapter: Chapter) -> Any:
    """The chapter's .py read by jupytext, with the python3 kernelspec papermill needs."""
    import jupytext

    if not chapter.file.is_file():
        raise BookError(f"chapter {chapter.id}: {chapter.file} does not exist")
    nb = jupytext.read(chapter.file)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def has_parameters_cell(nb: Any) -> bool:
    """Whether some cell carries the papermill tag ``parameters``."""
    return any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells)


def notebook_parameters(nb: Any) -> dict[str, dict[str, Any]]:
    """Name -> {default, inferred_type_name, help} of the cell tagged ``parameters``."""
    import nbformat
    import papermill

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nb.ipynb"
        nbformat.write(nb, path)
        return papermill.inspect_notebook(str(path))


def resolve_parameters(book: Book, chapters: Sequence[Chapter], profile: str,
                       overrides: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Chapter id -> parameters to inject; unknown names raise :class:`BookError`."""
    prof = book.profile(profile)
    resolved: dict[str, dict[str, Any]] = {}
    for ch in chapters:
        params = {**prof.get(ch.id, {}), **(overrides or {})}
        nb = source_notebook(ch)
        if not has_parameters_cell(nb):
            raise BookError(f"chapter {ch.id}: no cell is tagged 'parameters'")
        if params:
            valid = notebook_parameters(nb)
            unknown = sorted(set(params) - set(valid))
            if unknown:
                raise BookError(f"chapter {ch.id}: unknown parameter(s) {', '.join(unknown)}; "
                                f"valid parameters: {', '.join(valid) or '(none)'}")
        resolved[ch.id] = params
    return resolved


def _error_info(exc: BaseException) -> dict[str, Any]:
    """Where and why a chapter failed, for the report and the terminal."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return {"cell": exc.exec_count, "source": exc.source, "ename": exc.ename,
                "evalue": exc.evalue}
    return {"cell": None, "source": "", "ename": type(exc).__name__, "evalue": str(exc)}


def execute_chapter(chapter: Chapter, params: dict[str, Any], out_dir: Path,
                    tolerance: float, book_path: Path | None = None) -> dict[str, Any]:
    """Execute one chapter with papermill into ``out_dir/notebooks``; return its report entry."""
    import nbformat
    import papermill

    nb_dir = out_dir / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    out_nb = nb_dir / f"{chapter.slug}.ipynb"
    limit = chapter.budget * tolerance
    entry: dict[str, Any] = {
        "id": chapter.id, "slug": chapter.slug, "title": chapter.title, "part": chapter.part,
        "parameters": params, "budget": chapter.budget, "limit": round(limit, 1),
        "notebook": str(out_nb.relative_to(out_dir)),
    }
    os.environ["MMLIB_PROGRESS"] = "0"  # inherited by the kernel papermill starts
    if book_path is not None:  # the kernel runs in chapters/: tell it which book it belongs to
        os.environ["MMLIB_BOOK"] = str(book_path)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            source_notebook(chapter), str(out_nb), parameters=params or None,
            kernel_name=KERNEL, cwd=str(chapter.file.parent), progress_bar=False,
            execution_timeout=int(max(60, 3 * limit)),  # per cell: a hung cell ends the run
        )
        entry["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        entry["status"] = "failed"
        entry["error"] = _error_info(exc)
    entry["seconds"] = round(time.perf_counter() - start, 1)
    entry["over_budget"] = entry["seconds"] > chapter.budget
    entry["over_limit"] = entry["seconds"] > limit
    entry["records"] = read_records(nbformat.read(out_nb, as_version=4)) if out_nb.exists() else {}
    return entry


# --------------------------------------------------------------------------- html
def render_html(nb_path: Path, html_path: Path) -> None:
    """One chapter page, rendered by nbconvert's lab template."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(nb_path, as_version=4))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(body, encoding="utf-8")


def write_index(book: Book, entries: list[dict[str, Any]], html_dir: Path, profile: str) -> Path:
    """``index.html``: the parts and chapters in book order, with status, time and key numbers."""
    by_id = {e["id"]: e for e in entries}
    esc = html.escape
    rows = [f"<h1>{esc(book.title)}</h1>", f"<p>profile: <code>{esc(profile)}</code></p>"]
    for part in book.parts:
        rows.append(f"<h2>{esc(part)}</h2><ul>")
        for ch in (c for c in book.chapters if c.part == part):
            e = by_id.get(ch.id)
            if e is None:
                rows.append(f"<li>{ch.id} {esc(ch.title)} <em>(not built)</em></li>")
                continue
            flag = " — over budget" if e.get("over_budget") else ""
            nums = ", ".join(f"{esc(k)}={esc(str(v))}" for k, v in e.get("records", {}).items())
            rows.append(
                f'<li><a href="{esc(ch.slug)}.html">{ch.id} {esc(ch.title)}</a> '
                f'[{esc(e["status"])}, {e.get("seconds", 0)} s of {ch.budget:g} s{flag}]'
                + (f"<br><small>{nums}</small>" if nums else "") + "</li>")
        rows.append("</ul>")
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>"
            f"{esc(book.title)}</title></head><body>{''.join(rows)}</body></html>")
    html_dir.mkdir(parents=True, exist_ok=True)
    index = html_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


# --------------------------------------------------------------------------- commands
def _select(book: Book, chapter_ids: Sequence[str] | None) -> list[Chapter]:
    return [book.chapter(c) for c in chapter_ids] if chapter_ids else list(book.chapters)


def _print_entry(e: dict[str, Any]) -> None:
    flag = "  OVER BUDGET" if e["over_budget"] else ""
    print(f"[{e['status']:>6}] {e['id']} {e['slug']:<28} {e['seconds']:7.1f} s / {e['budget']:g} s{flag}",
          flush=True)
    if e["status"] == "failed":
        err = e["error"]
        where = f"cell In [{err['cell']}]" if err["cell"] is not None else "before any cell ran"
        print(f"         failed at {where}: {err['ename']}: {err['evalue']}")
        for line in (err["source"] or "").splitlines()[:8]:
            print(f"         | {line}")


def build(book: Book, chapter_ids: Sequence[str] | None = None, profile: str = "default",
          overrides: dict[str, Any] | None = None, out: Path | None = None,
          keep_going: bool = False, strict_budget: bool = False, html_pages: bool = True) -> int:
    """Execute chapters into ``out`` (default ``<root>/_build``); return the exit code.

    0: every chapter ran (and, with ``strict_budget``, within budget x tolerance);
    1: a chapter failed or ran past its limit. Bad input raises :class:`BookError`.
    """
    chapters = _select(book, chapter_ids)
    params = resolve_parameters(book, chapters, profile, overrides)  # validate all before running
    out = Path(out) if out is not None else book.root / "_build"
    entries: list[dict[str, Any]] = []
    for i, ch in enumerate(chapters):
        entry = execute_chapter(ch, params[ch.id], out, book.budget_tolerance, book.path)
        if html_pages and (out / entry["notebook"]).exists():
            render_html(out / entry["notebook"], out / "html" / f"{ch.slug}.html")
            entry["html"] = f"html/{ch.slug}.html"
        entries.append(entry)
        _print_entry(entry)
        if entry["status"] == "failed" and not keep_going:
            entries += [{"id": c.id, "slug": c.slug, "title": c.title, "status": "not run",
                         "budget": c.budget} for c in chapters[i + 1:]]
            break
    if html_pages:
        write_index(book, [e for e in entries if "seconds" in e], out / "html", profile)
    failed = [e["id"] for e in entries if e["status"] != "ok"]
    over = [e["id"] for e in entries if e.get("over_limit")]
    report = {"profile": profile, "budget_tolerance": book.budget_tolerance,
              "ok": not failed and not (strict_budget and over),
              "total_seconds": round(sum(e.get("seconds", 0) for e in entries), 1),
              "chapters": entries}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"report: {out / 'report.json'}  ({report['total_seconds']} s in chapters)", flush=True)
    if failed:
        print(f"FAILED: chapter(s) {', '.join(failed)} did not run through", file=sys.stderr)
    if over:
        print(f"{'FAILED' if strict_budget else 'warning'}: chapter(s) {', '.join(over)} took longer "
              f"than budget x {book.budget_tolerance:g}", file=sys.stderr)
    return 0 if report["ok"] else 1


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


def refresh(book: Book, chapter_ids: Sequence[str] | None = None) -> int:
    """Maintainer command: re-execute chapters (default profile) and rewrite their committed .ipynb.

    This is the only code that writes into ``chapters/``. A chapter that fails is not written.
    """
    import nbformat

    out = book.root / "_build" / "refresh"
    code = build(book, chapter_ids, "default", out=out, keep_going=True, html_pages=False)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for e in report["chapters"]:
        if e["status"] != "ok":
            print(f"not refreshed: {e['id']} ({e['status']})", file=sys.stderr)
            continue
        ch = book.chapter(e["id"])
        nb = clean_for_commit(nbformat.read(out / e["notebook"], as_version=4))
        nbformat.write(nb, ch.notebook)
        print(f"refreshed {ch.notebook.relative_to(book.root)}")
    return code


def _parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BookError(f"--param expects NAME=VALUE, got {item!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


def _cmd_list(book: Book) -> int:
    for part in book.parts:
        print(part)
        for ch in (c for c in book.chapters if c.part == part):
            exists = "" if ch.file.exists() else "   (file missing)"
            print(f"  {ch.id}  {ch.title:<42} {ch.budget:>5g} s  {ch.file.relative_to(book.root)}{exists}")
    print("profiles: " + ", ".join(book.profiles))
    return 0


def _cmd_params(book: Book, chapter_id: str) -> int:
    ch = book.chapter(chapter_id)
    for name, p in notebook_parameters(source_notebook(ch)).items():
        print(f"{name} = {p['default']}  ({p['inferred_type_name']}) {p['help']}".rstrip())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code (2 for bad input)."""
    parser = argparse.ArgumentParser(prog="python -m mmlib.book", description=__doc__.split("\n")[0])
    parser.add_argument("--book", type=Path, default=None, help="book.yml to use (default: the course's)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="chapters, budgets and profiles in book order")
    p_params = sub.add_parser("params", help="a chapter's parameters and their defaults")
    p_params.add_argument("chapter")
    for name in ("build", "refresh"):
        p = sub.add_parser(name, help="execute chapters into _build/" if name == "build"
                           else "maintainer: re-execute and rewrite the committed chapters/*.ipynb")
        p.add_argument("--chapter", action="append", help="chapter id, e.g. 01 (repeatable)")
        if name == "build":
            p.add_argument("--profile", default="default", help="a profile of book.yml")
            p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                           help="override one parameter (YAML value), repeatable")
            p.add_argument("--out", type=Path, default=None, help="output folder (default _build)")
            p.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
            p.add_argument("--strict-budget", action="store_true",
                           help="fail when a chapter takes longer than budget x budget_tolerance")
            p.add_argument("--no-html", action="store_true", help="skip the HTML pages")
    args = parser.parse_args(argv)
    try:
        book = load_book(args.book)
        if args.command == "list":
            return _cmd_list(book)
        if args.command == "params":
            return _cmd_params(book, args.chapter)
        if args.command == "refresh":
            return refresh(book, args.chapter)
        return build(book, args.chapter, args.profile, _parse_overrides(args.param), args.out,
                     args.keep_going, args.strict_budget, not args.no_html)
    except BookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
