"""The HTML book: Sphinx + myst-nb + sphinx-book-theme over the notebooks papermill executed.

``render_site(book, out)`` turns ``<out>/notebooks/NN_slug.ipynb`` into ``<out>/html/``
without executing anything again (myst-nb's ``nb_execution_mode = "off"``). The Sphinx
project is generated in a temporary folder from ``book.yml``, its one source:

- ``conf.py`` (:func:`sphinx_config`): the theme, myst-nb, and MathJax 3 served from the
  site's own ``_static/mathjax/`` (copied from the ``django-static-mathjax`` package, the
  ``mathjax`` module it installs), so equations typeset with no network;
- ``index.md`` (:func:`index_markdown`): the parts and chapters in book order, each chapter
  with its status, time and key numbers from ``report.json``, and one hidden toctree per
  part (the part as its caption), from which the theme draws the sidebar, the previous/next
  links, the search page and each page's outline;
- the executed notebooks, with their saved widget state dropped: the HTML shows each
  widget's static figure (:class:`mmlib.widgets.Explorer`), never a widget repr, and loads no
  widget manager from a CDN.

Chapters without an executed notebook are listed on the index as not built; notebooks of
chapters a build did not run (kept from an earlier build) still get their page.
Run it alone with ``python -m mmlib.course.book site [--out _build]``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from mmlib.course.bookfile import Book, BookError, Chapter
from mmlib.course.bookworker import RECORD_MIME

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MATHJAX_FILES = ("tex-chtml-full.js", "output/chtml/fonts/woff-v2")


def mathjax_source() -> Path:
    """The MathJax 3 ``es5`` folder the pinned ``django-static-mathjax`` package installs."""
    try:
        import mathjax  # the django-static-mathjax distribution's module
    except ImportError:
        raise BookError("MathJax is missing: install the pinned requirements (django-static-mathjax)") from None
    root = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    missing = [f for f in MATHJAX_FILES if not (root / f).exists()]
    if missing:
        raise BookError(f"MathJax at {root} lacks {', '.join(missing)}")
    return root


def copy_mathjax(static_dir: Path) -> Path:
    """Copy the files MathJax's ``tex-chtml-full`` component needs into ``static_dir/mathjax``."""
    src, dest = mathjax_source(), static_dir / "mathjax"
    for name in MATHJAX_FILES:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (src / name).is_dir():
            shutil.copytree(src / name, target, dirs_exist_ok=True)
        else:
            shutil.copy2(src / name, target)
    return dest


def sphinx_config(book: Book) -> dict[str, Any]:
    """The Sphinx configuration of the book (written as the generated ``conf.py``)."""
    return {
        "project": book.title,
        "author": "Balanced Multimodal Learning course contributors",
        "extensions": ["myst_nb"],
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "root_doc": "index",
        "html_theme": "sphinx_book_theme",
        "html_title": book.title,
        "html_static_path": ["_static"],
        "html_theme_options": {
            "show_toc_level": 2,  # the per-page outline
            "home_page_in_toc": True,
            "use_download_button": False,  # its menu links to nothing served offline
            "use_fullscreen_button": True,
            "navigation_with_keys": True,
        },
        "html_last_updated_fmt": None,
        "html_copy_source": False,
        "html_show_sourcelink": False,
        # notebooks were executed by papermill; myst-nb only reads their outputs
        "nb_execution_mode": "off",
        "nb_render_markdown_format": "myst",  # text/markdown outputs get $math$ too
        "nb_ipywidgets_js": {},  # no require.js / widget manager from a CDN
        # a widget's view needs a kernel: show its static figure (image/png) instead
        "nb_mime_priority_overrides": [("html", WIDGET_VIEW, None), ("html", RECORD_MIME, None)],
        "myst_enable_extensions": ["dollarmath", "amsmath"],
        "myst_heading_anchors": 3,
        "suppress_warnings": ["myst.header", "mystnb.unknown_mime_type"],
        # MathJax 3 from _static (copied by copy_mathjax), never a CDN
        "mathjax_path": "mathjax/tex-chtml-full.js",
        "mathjax3_config": {"options": {"menuOptions": {"settings": {"enrich": False}}}},
    }


def _status_line(entry: Mapping[str, Any] | None, chapter: Chapter) -> str:
    """Status, seconds, relative time against the budget and key numbers of a chapter's last run."""
    if entry is None or "seconds" not in entry:
        return ""
    flag = ", over budget" if entry.get("over_budget") else ""
    line = (f"{entry.get('status', '?')}, {entry.get('seconds', 0)} s, "
            f"{entry.get('relative', 0)} x reference of {chapter.relative_budget:g}{flag}")
    records = entry.get("records") or {}
    if records:
        nums = ", ".join(f"{k} = {v}" for k, v in records.items())
        line += f"<br><small>{_escape(nums)}</small>"
    return line


def _escape(text: str) -> str:
    import html

    return html.escape(text).replace("$", "&#36;").replace("*", "&#42;").replace("_", "&#95;")


def index_markdown(book: Book, pages: Sequence[str], entries: Mapping[str, Mapping[str, Any]],
                   profile: str | None) -> str:
    """The index page: parts and chapters in book order, and one hidden toctree per part.

    ``pages`` are the slugs that have an executed notebook; ``entries`` the report's chapter
    entries by id (status, seconds, relative time, key numbers).
    """
    lines = [f"# {book.title}", ""]
    if profile:
        lines += [f"Executed with the parameter profile `{profile}`. Each chapter's line gives its status, "
                  "wall seconds and CPU time in units of the reference workload, against its budget.", ""]
    for part in book.parts:
        chapters = [c for c in book.chapters if c.part == part]
        lines += [f"## {part}", ""]
        for ch in chapters:
            if ch.slug in pages:
                status = _status_line(entries.get(ch.id), ch)
                lines.append(f"- [{ch.id} {_escape(ch.title)}]({ch.slug}.ipynb)" + (f" — {status}" if status else ""))
            else:
                lines.append(f"- {ch.id} {_escape(ch.title)} — *not built*")
        built = [c.slug for c in chapters if c.slug in pages]
        if built:
            lines += ["", "```{toctree}", ":hidden:", f":caption: {part}", "", *built, "```"]
        lines.append("")
    return "\n".join(lines)


def _site_notebook(src: Path, dest: Path) -> None:
    """Copy an executed notebook for the site, without its saved widget state."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("widgets", None)
    dest.write_text(json.dumps(nb), encoding="utf-8")


def write_project(book: Book, notebooks: Path, src: Path, entries: Mapping[str, Mapping[str, Any]],
                  profile: str | None) -> list[str]:
    """Write the Sphinx project (conf.py, index.md, notebooks, MathJax) into ``src``; return the pages."""
    src.mkdir(parents=True, exist_ok=True)
    pages = [ch.slug for ch in book.chapters if (notebooks / f"{ch.slug}.ipynb").is_file()]
    for slug in pages:
        _site_notebook(notebooks / f"{slug}.ipynb", src / f"{slug}.ipynb")
    config = sphinx_config(book)
    conf = ["# Generated from book.yml by mmlib.course.site: edit that module, not this file."]
    conf += [f"{key} = {value!r}" for key, value in config.items()]
    (src / "conf.py").write_text("\n".join(conf) + "\n", encoding="utf-8")
    (src / "index.md").write_text(index_markdown(book, pages, entries, profile), encoding="utf-8")
    copy_mathjax(src / "_static")
    return pages


def render_site(book: Book, out: Path, html_dir: Path, entries: Mapping[str, Mapping[str, Any]] | None = None,
                profile: str | None = None, quiet: bool = True) -> list[str]:
    """Render ``out/notebooks/*.ipynb`` into ``html_dir`` with Sphinx; return the chapter pages.

    ``entries`` (report entries by chapter id) default to ``out/report.json``'s. Raises
    :class:`BookError` with Sphinx's last lines if the build fails.
    """
    if entries is None:
        report_path = out / "report.json"
        report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
        entries = {e["id"]: e for e in report.get("chapters", [])}
        profile = profile or report.get("profile")
    with tempfile.TemporaryDirectory(prefix="mmlib-site-") as tmp:
        src = Path(tmp) / "src"
        pages = write_project(book, out / "notebooks", src, entries, profile)
        cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-d", str(Path(tmp) / "doctrees"),
               "-j", str(min(2, os.cpu_count() or 1)), *(["-q"] if quiet else []), str(src), str(html_dir)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise BookError(f"Sphinx could not render the book (exit status {done.returncode}):\n{tail}")
        warnings = [line for line in done.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
        for line in warnings[:20]:
            print(f"sphinx: {line.replace(str(src) + os.sep, '')}", file=sys.stderr)
        if len(warnings) > 20:
            print(f"sphinx: ... and {len(warnings) - 20} more warnings", file=sys.stderr)
    return pages
