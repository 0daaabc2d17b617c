"""The HTML book rendered by Sphinx + myst-nb from executed notebooks (no kernel), and checked offline."""

import json
import re

import matplotlib

matplotlib.use("Agg")

import nbformat
import pytest

from mmlib.course.bookfile import load_book
from mmlib.course.htmlcheck import book_order, check_site, find_chromium
from mmlib.course.site import copy_mathjax, index_markdown, render_site, sphinx_config

CHROMIUM = find_chromium()


def test_index_is_book_yml_translated_parts_as_toctree_captions():
    book = load_book()
    built = [c.slug for c in book.chapters][:-1]  # the last one not built
    entries = {book.chapters[0].id: {"status": "ok", "seconds": 12.5, "relative": 14.1, "records": {"acc_gap": 0.25}}}
    text = index_markdown(book, built, entries, "default")
    captions = re.findall(r"^:caption: (.+)$", text, flags=re.M)
    assert captions == [p for p in book.parts if any(c.part == p and c.slug in built for c in book.chapters)]
    in_toctrees = re.findall(r"^(\d\d_\w+)$", text, flags=re.M)
    assert in_toctrees == built, "the toctree follows book.yml's order, one entry per built chapter"
    last = book.chapters[-1]
    last_line = next(line for line in text.splitlines() if line.startswith(f"- {last.id} "))
    assert last_line.endswith("— *not built*") and "](" not in last_line, "an unbuilt chapter has no link"
    first = book.chapters[0]
    assert f"({first.slug}.ipynb) — ok, 12.5 s, 14.1 x reference of {first.relative_budget:g}" in text
    assert "acc&#95;gap = 0.25" in text


def test_config_is_offline_and_never_executes():
    config = sphinx_config(load_book())
    assert config["nb_execution_mode"] == "off"
    assert config["mathjax_path"] == "mathjax/tex-chtml-full.js" and config["nb_ipywidgets_js"] == {}
    assert ("html", "application/vnd.jupyter.widget-view+json", None) in config["nb_mime_priority_overrides"]
    assert "http" not in repr(config), "nothing in the book's configuration may point at the network"


def test_mathjax_is_copied_from_the_installed_package(tmp_path):
    dest = copy_mathjax(tmp_path / "_static")
    assert (dest / "tex-chtml-full.js").stat().st_size > 100_000
    assert list((dest / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))


TINY_BOOK = '''title: "Tiny book"
parts:
  - title: "First part"
    chapters:
      - {id: "00", file: chapters/00_math.py, title: "Math", relative_budget: 1}
  - title: "Second part"
    chapters:
      - {id: "01", file: chapters/01_widget.py, title: "Widget", relative_budget: 1}
      - {id: "02", file: chapters/02_never.py, title: "Never built", relative_budget: 1}
'''


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """A two-part book whose notebooks are written by hand (as papermill would leave them), rendered once."""
    from mmlib.widgets import shared_term_explorer

    root = tmp_path_factory.mktemp("tiny")
    (root / "chapters").mkdir()
    for stem in ("00_math", "01_widget", "02_never"):
        (root / "chapters" / f"{stem}.py").write_text('# %% tags=["parameters"]\nX = 1  # x\n')
    (root / "book.yml").write_text(TINY_BOOK)
    nbs = root / "_build" / "notebooks"
    nbs.mkdir(parents=True)
    math = nbformat.v4.new_notebook()
    math.cells = [nbformat.v4.new_markdown_cell("# 00 · Math\n\nThe loss $L = L_a + L_v$ and\n\n$$\\nabla L = 0$$"),
                  nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")])]
    widget = nbformat.v4.new_notebook()
    bundle = shared_term_explorer()._repr_mimebundle_()
    widget.cells = [nbformat.v4.new_markdown_cell("# 01 · Widget"),
                    nbformat.v4.new_code_cell("shared_term_explorer()", outputs=[
                        nbformat.v4.new_output("display_data", data=bundle)])]
    widget.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "state": {bundle["application/vnd.jupyter.widget-view+json"]["model_id"]: {"model_name": "VBoxModel"}},
        "version_major": 2, "version_minor": 0}}
    nbformat.write(math, nbs / "00_math.ipynb")
    nbformat.write(widget, nbs / "01_widget.ipynb")
    book = load_book(root / "book.yml")
    pages = render_site(book, root / "_build", root / "_build" / "html",
                        entries={"00": {"status": "ok", "seconds": 1.0, "relative": 2.0, "records": {}}},
                        profile="default")
    return root, book, pages


def test_render_site_makes_a_page_per_built_chapter_and_an_index(tiny_site):
    root, _, pages = tiny_site
    html = root / "_build" / "html"
    assert pages == ["00_math", "01_widget"]
    assert (html / "00_math.html").is_file() and (html / "01_widget.html").is_file()
    assert not (html / "02_never.html").exists()
    index = (html / "index.html").read_text()
    assert index.index("00_math.html") < index.index("01_widget.html")
    assert "First part" in index and "Second part" in index and "not built" in index
    assert (html / "search.html").is_file() and (html / "searchindex.js").is_file()


def test_pages_load_nothing_from_the_network_and_widgets_show_their_figure(tiny_site):
    root, _, _ = tiny_site
    html = root / "_build" / "html"
    for page in html.glob("*.html"):
        text = page.read_text()
        external = re.findall(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:[^"]+)"', text)
        assert not external, f"{page.name} loads {external}"
    widget = (html / "01_widget.html").read_text()
    assert "VBox(" not in widget and "widget-state+json" not in widget and "widget-view+json" not in widget
    assert re.search(r'<img[^>]+src="_images/[^"]+\.png"', widget), "the explorer's static figure is shown"
    assert (html / "_static" / "mathjax" / "tex-chtml-full.js").is_file()
    assert 'src="_static/mathjax/tex-chtml-full.js' in (html / "00_math.html").read_text()
    nb = json.loads((root / "_build" / "notebooks" / "01_widget.ipynb").read_text())
    assert "widgets" in nb["metadata"], "the executed notebook itself is left as papermill wrote it"


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_rendered_site_passes_the_browser_check(tiny_site):
    root, book, _ = tiny_site
    html = root / "_build" / "html"
    order = book_order(html, book.path)
    assert order == ["index.html", "00_math.html", "01_widget.html"]
    problems = check_site(html, order, CHROMIUM)
    assert all(not found for found in problems.values()), problems
