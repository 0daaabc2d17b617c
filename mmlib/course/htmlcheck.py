"""The HTML book checked in a real browser, offline: ``python -m mmlib.course.htmlcheck HTML_DIR``.

Opens every page of a rendered site (:mod:`mmlib.course.site`) in headless Chromium (Debian's
``chromium``, driven by playwright) with the network blocked: every request that is not for
a local file is aborted and recorded. For each page it asserts that

- no request left the machine, and every local file the page asked for loaded;
- the math is typeset: MathJax's output is present wherever the page has math, and no raw
  ``$...$``, ``\\(...\\)`` or ``\\begin{...}`` is left in the text a reader sees;
- every image loaded (``naturalWidth > 0``);
- a chapter page links to the previous chapter (the index before the first) and to the next
  one, in book order;
- no widget repr (``VBox(children=...``, ``FloatSlider(value=...``) or widget error is shown.

The detectors (:func:`visible_text`, :func:`raw_math`, :func:`widget_reprs`,
:func:`page_problems`) are pure functions of what the browser saw, unit-tested on hand-made
HTML. Exit status 0 when every page passes, 1 otherwise; without Chromium it says so and
exits 0 (a learner's machine need not have it; CI installs it in ``.ci/run``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# text a reader should never see: math the typesetter left as source...
RAW_MATH = re.compile(r"(?<![\\\w$])\$(?!\s)[^$\n]{1,300}?(?<![\s\\])\$(?![\w$])|\\\(|\\\)|\\\[|\\\]|\\begin\{")
# ...and a widget's Python repr or a widget manager's error instead of the widget
WIDGET_REPR = re.compile(
    r"\b(?:VBox|HBox|GridBox|Box|Accordion|Tab|Stack|interactive)\(children="
    r"|\b(?:IntSlider|FloatSlider|FloatLogSlider|IntRangeSlider|FloatRangeSlider|SelectionSlider"
    r"|SelectionRangeSlider|Dropdown|Checkbox|ToggleButtons|RadioButtons|Select|Text|Button|Play)"
    r"\((?:value|description|options|index|layout|style)="
    r"|\bOutput\((?:\)|outputs=|layout=)"
    r"|Error displaying widget|Loading widget\.\.\."
)
# what is not "rendered text": code (a cell's source, a listing in the prose, inline code),
# scripts and MathJax's own output. A cell's OUTPUT is rendered text, even in a <pre>.
HIDDEN_TAGS = ("script", "style", "template", "noscript", "code", "textarea", "mjx-container", "svg")


def visible_text(html: str) -> str:
    """The text a reader sees on a page: without code, scripts and typeset math, with cell outputs."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(HIDDEN_TAGS):
        tag.decompose()
    for tag in soup.find_all(class_="cell_input"):
        tag.decompose()
    for tag in soup.find_all("pre"):
        if not tag.decomposed and tag.find_parent(class_="cell_output") is None:
            tag.decompose()
    return soup.get_text(" ")


def _snippets(pattern: re.Pattern[str], text: str, width: int = 30) -> list[str]:
    """Each match with ``width`` characters either side; a match inside the previous snippet adds none."""
    found: list[str] = []
    end = -1
    for m in pattern.finditer(text):
        if m.start() < end:
            continue
        end = m.end() + width
        found.append(" ".join(text[max(0, m.start() - width): end].split()))
    return found


def raw_math(text: str) -> list[str]:
    """Each raw ``$...$``, ``\\(``, ``\\[`` or ``\\begin{`` in ``text``, with a little context."""
    return _snippets(RAW_MATH, text)


def widget_reprs(text: str) -> list[str]:
    """Each widget repr (``VBox(children=...``) or widget-manager error in ``text``."""
    return _snippets(WIDGET_REPR, text)


@dataclass
class PageFacts:
    """What the browser saw on one page."""

    name: str
    html: str
    blocked: list[str] = field(default_factory=list)  # requests that would have left the machine
    failed: list[str] = field(default_factory=list)  # local files that did not load
    images: list[tuple[str, int]] = field(default_factory=list)  # (src, naturalWidth)
    math_nodes: int = 0  # Sphinx's math elements (.math)
    typeset: int = 0  # MathJax's output elements (mjx-container)
    prev: str | None = None  # the page's previous / next links (file names)
    next: str | None = None


def expected_neighbours(order: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
    """Page -> (previous, next) for chapter pages in reading order; ``order[0]`` is the index."""
    return {page: (order[i - 1], order[i + 1] if i + 1 < len(order) else None)
            for i, page in enumerate(order) if i > 0}


def page_problems(facts: PageFacts, neighbours: tuple[str | None, str | None] | None = None) -> list[str]:
    """Everything wrong with one page; ``neighbours`` = the expected (previous, next) of a chapter."""
    problems = [f"request left the machine (blocked): {url}" for url in facts.blocked]
    problems += [f"local file did not load: {url}" for url in facts.failed]
    if facts.math_nodes and not facts.typeset:
        problems.append(f"math not typeset: {facts.math_nodes} math element(s), no MathJax output")
    text = visible_text(facts.html)
    problems += [f"raw math in the text: {s!r}" for s in raw_math(text)]
    problems += [f"widget repr shown: {s!r}" for s in widget_reprs(text)]
    problems += [f"image did not load: {src}" for src, width in facts.images if width <= 0]
    if neighbours is not None:
        for side, want, got in (("previous", neighbours[0], facts.prev), ("next", neighbours[1], facts.next)):
            if want is not None and got != want:
                problems.append(f"no link to the {side} chapter {want} (found {got or 'none'})")
    return problems


def find_chromium(explicit: str | None = None) -> str | None:
    """Chromium's executable: ``explicit``, else the first of :data:`CHROMIUM_NAMES` on PATH."""
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


_SETTLE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(img => { img.loading = 'eager';
    return img.complete ? null : img.decode().catch(() => null); }));
  const name = sel => { const a = document.querySelector(sel); return a ? a.getAttribute('href') : null; };
  return {images: [...document.images].map(img => [img.currentSrc || img.src, img.naturalWidth]),
          math: document.querySelectorAll('.math').length,
          typeset: document.querySelectorAll('mjx-container').length,
          prev: name('a.left-prev'), next: name('a.right-next')};
}"""


def _file_name(href: str | None) -> str | None:
    if not href:
        return None
    return href.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1] or None


def _blocker(facts: PageFacts) -> Any:
    """A playwright route handler: local files go through, anything else is aborted and recorded."""
    def route(r: Any) -> None:
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            facts.blocked.append(r.request.url)
            r.abort("blockedbyclient")
    return route


def _failure_recorder(facts: PageFacts) -> Any:
    """A ``requestfailed`` listener recording local files that did not load."""
    def failed(request: Any) -> None:
        if request.url.startswith(LOCAL_SCHEMES):
            facts.failed.append(request.url)
    return failed


def browse(pages: Sequence[Path], executable: str, screenshot: tuple[Path, Path] | None = None,
           timeout_ms: int = 60_000) -> list[PageFacts]:
    """Open each page in headless Chromium with the network blocked; what it saw on each.

    ``screenshot`` = (page, png): a full-page screenshot of that page is saved.
    """
    from playwright.sync_api import sync_playwright

    seen: list[PageFacts] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
            for path in pages:
                facts = PageFacts(path.name, "")
                page = context.new_page()
                page.route("**/*", _blocker(facts))
                page.on("requestfailed", _failure_recorder(facts))
                page.goto(path.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
                state = page.evaluate(_SETTLE_JS)
                facts.html = page.content()
                facts.images = [(src, int(width)) for src, width in state["images"]]
                facts.math_nodes, facts.typeset = state["math"], state["typeset"]
                facts.prev, facts.next = _file_name(state["prev"]), _file_name(state["next"])
                if screenshot and path.resolve() == screenshot[0].resolve():
                    screenshot[1].parent.mkdir(parents=True, exist_ok=True)
                    height = min(2400, int(page.evaluate("document.documentElement.scrollHeight")))
                    page.screenshot(path=str(screenshot[1]), full_page=True,
                                    clip={"x": 0, "y": 0, "width": 1280, "height": height})
                page.close()
                seen.append(facts)
        finally:
            browser.close()
    return seen


def check_site(html_dir: Path, order: Sequence[str], executable: str,
               screenshot: tuple[Path, Path] | None = None) -> dict[str, list[str]]:
    """Page file name -> its problems, for every ``*.html`` page of ``html_dir``.

    ``order`` is the reading order of page files (the index first, then the chapters).
    """
    pages = sorted(html_dir.glob("*.html"))
    if not pages:
        raise FileNotFoundError(f"no HTML pages in {html_dir}")
    missing = [p for p in order if not (html_dir / p).is_file()]
    neighbours = expected_neighbours(order)
    problems = {p: [f"page missing from the site: {p}"] for p in missing}
    for facts in browse(pages, executable, screenshot):
        problems[facts.name] = page_problems(facts, neighbours.get(facts.name))
    return problems


def book_order(html_dir: Path, book_path: Path | None = None) -> list[str]:
    """The reading order of the site's pages: ``index.html``, then each chapter page in book.yml order."""
    from mmlib.course.bookfile import load_book

    book = load_book(book_path)
    return ["index.html", *[f"{c.slug}.html" for c in book.chapters if (html_dir / f"{c.slug}.html").is_file()]]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: check a rendered site; exit 1 when a page has a problem."""
    parser = argparse.ArgumentParser(prog="python -m mmlib.course.htmlcheck", description=__doc__.split("\n")[0])
    parser.add_argument("html_dir", type=Path, help="the rendered site, e.g. _build/test/html")
    parser.add_argument("--book", type=Path, default=None, help="book.yml (default: the course's)")
    parser.add_argument("--screenshot", type=Path, default=None, help="PNG of one chapter page")
    parser.add_argument("--screenshot-chapter", default="01", help="the chapter id to screenshot (default 01)")
    parser.add_argument("--chromium", default=None, help="Chromium's executable (default: found on PATH)")
    args = parser.parse_args(argv)
    executable = find_chromium(args.chromium)
    if executable is None:
        print("test-html: SKIPPED — no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES) + "). "
              "Install Debian's `chromium` package (apt-get install chromium) to check the HTML book.")
        return 0
    if not (args.html_dir / "index.html").is_file():
        print(f"test-html: no site at {args.html_dir} (render it first: make test-chapters or "
              "python -m mmlib.course.book site --out ...)", file=sys.stderr)
        return 1
    order = book_order(args.html_dir, args.book)
    shot = None
    if args.screenshot is not None:
        target = next((p for p in order[1:] if p.startswith(f"{args.screenshot_chapter}_")), order[-1])
        shot = (args.html_dir / target, args.screenshot)
    problems = check_site(args.html_dir, order, executable, shot)
    bad = {page: found for page, found in problems.items() if found}
    for page in sorted(problems):
        print(f"[{'FAIL' if page in bad else '  ok'}] {page}")
        for problem in problems[page][:10]:
            print(f"         {problem}")
        if len(problems[page]) > 10:
            print(f"         ... and {len(problems[page]) - 10} more")
    if shot is not None and shot[1].is_file():
        print(f"screenshot of {shot[0].name}: {shot[1]}")
    print(f"test-html: {len(problems) - len(bad)} of {len(problems)} pages pass (network blocked, {executable})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
