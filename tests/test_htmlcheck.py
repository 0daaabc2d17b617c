"""The browser check of the HTML book: its detectors on hand-made HTML, and a broken page it must fail."""

import pytest

from mmlib.course.htmlcheck import (PageFacts, check_site, expected_neighbours, find_chromium, main, page_problems,
                                    raw_math, visible_text, widget_reprs)

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")


def page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


def test_visible_text_drops_code_scripts_and_typeset_math_but_keeps_cell_outputs():
    html = page(
        "<p>Prose with <code>$HOME</code> inline code.</p>"
        "<script>var s = '$x$';</script>"
        "<div class='cell_input'><pre>w = FloatSlider(value=1)</pre></div>"
        "<div class='highlight-python'><pre>listing = '$y$'</pre></div>"
        "<p>typeset <span class='math'><mjx-container>x</mjx-container></span> here</p>"
        "<div class='cell_output'><div class='highlight'><pre>VBox(children=(IntSlider(value=1),))</pre></div></div>")
    text = visible_text(html)
    assert "Prose with" in text and "typeset" in text
    for hidden in ("$HOME", "$x$", "FloatSlider", "listing", "mjx"):
        assert hidden not in text
    assert "VBox(children=" in text  # an output is what the reader sees


@pytest.mark.parametrize("text, found", [
    ("the loss $L = \\sum_m L_m$ is additive", True),
    ("inline \\(a + b\\) left raw", True),
    ("display \\[ x \\] left raw", True),
    ("an environment \\begin{align} x \\end{align}", True),
    ("it costs $5 and $10 more", False),  # money, not math
    ("a typeset equation and plain prose", False),
    ("shell variables such as US$ stay", False),
])
def test_raw_math_detector(text, found):
    assert bool(raw_math(text)) is found, raw_math(text)


@pytest.mark.parametrize("text, found", [
    ("VBox(children=(FloatSlider(value=4.0, description='audio margin'), Output()))", True),
    ("interactive(children=(FloatSlider(value=0.3, description='alpha'),))", True),
    ("IntSlider(value=3, max=10)", True),
    ("Error displaying widget: model not found", True),
    ("Static figure at the default settings (alpha = 0.3); run this cell in JupyterLab to move the sliders.", False),
    ("the VBox layout stacks the sliders", False),
])
def test_widget_repr_detector(text, found):
    assert bool(widget_reprs(text)) is found, widget_reprs(text)


def test_expected_neighbours_follow_the_reading_order():
    order = ["index.html", "00_a.html", "01_b.html", "02_c.html"]
    assert expected_neighbours(order) == {"00_a.html": ("index.html", "01_b.html"),
                                          "01_b.html": ("00_a.html", "02_c.html"),
                                          "02_c.html": ("01_b.html", None)}


def test_page_problems_names_every_kind_of_fault_and_passes_a_clean_page():
    clean = PageFacts("01_b.html", page("<p><mjx-container>x</mjx-container></p>"), images=[("a.png", 640)],
                      math_nodes=1, typeset=1, prev="00_a.html", next="02_c.html")
    assert page_problems(clean, ("00_a.html", "02_c.html")) == []
    broken = PageFacts("01_b.html", page("<p>raw $x^2$ here</p><div class='cell_output'><pre>HBox(children=())</pre></div>"),
                       blocked=["https://cdn.example.org/tex.js"], failed=["file:///site/_static/font.woff"],
                       images=[("gone.png", 0)], math_nodes=3, typeset=0, prev=None, next="index.html")
    problems = "\n".join(page_problems(broken, ("00_a.html", "02_c.html")))
    for expected in ("left the machine (blocked): https://cdn.example.org/tex.js", "did not load: file:///",
                     "math not typeset: 3", "raw math in the text", "widget repr shown", "image did not load: gone.png",
                     "previous chapter 00_a.html (found none)", "next chapter 02_c.html (found index.html)"):
        assert expected in problems


def test_without_chromium_the_check_says_so_and_skips(tmp_path, capsys):
    assert main([str(tmp_path), "--chromium", str(tmp_path / "no-such-browser")]) == 0
    assert "SKIPPED" in capsys.readouterr().out


NAV = "<a class='left-prev' href='{prev}'>prev</a><a class='right-next' href='{next}'>next</a>"


@needs_chromium
def test_the_browser_check_fails_a_broken_page_and_passes_a_good_one(tmp_path):
    """Real Chromium, network blocked: a CDN script, raw $x$, a missing prev link and a broken image fail."""
    import base64

    import matplotlib.pyplot as plt

    from mmlib.widgets import figure_png

    fig, ax = plt.subplots(figsize=(2, 1))
    (tmp_path / "fig.png").write_bytes(figure_png(fig))
    plt.close(fig)
    (tmp_path / "index.html").write_text(page("<h1>Book</h1><a href='00_good.html'>00</a>"))
    (tmp_path / "00_good.html").write_text(page(
        "<h1>Good</h1><p>Plain text.</p><img src='fig.png' alt='a figure'>"
        "<img src='data:image/png;base64," + base64.b64encode((tmp_path / "fig.png").read_bytes()).decode() + "'>"
        + NAV.format(prev="index.html", next="01_broken.html")))
    (tmp_path / "01_broken.html").write_text(page(
        "<h1>Broken</h1><script src='https://cdn.example.org/mathjax/tex-chtml.js'></script>"
        "<p>The loss $L = L_a + L_v$ shown raw.</p><img src='missing.png' alt='gone'>"
        "<a class='right-next' href='index.html'>next</a>"))
    order = ["index.html", "00_good.html", "01_broken.html"]
    shot = tmp_path / "shots" / "good.png"
    problems = check_site(tmp_path, order, CHROMIUM, (tmp_path / "00_good.html", shot))
    assert problems["00_good.html"] == [] and problems["index.html"] == []
    broken = "\n".join(problems["01_broken.html"])
    assert "left the machine (blocked): https://cdn.example.org/mathjax/tex-chtml.js" in broken
    assert "raw math in the text" in broken and "$L = L_a + L_v$" in broken
    assert "image did not load" in broken and "missing.png" in broken
    assert "no link to the previous chapter 00_good.html (found none)" in broken
    assert shot.is_file() and shot.stat().st_size > 1000


@needs_chromium
def test_the_command_exits_1_on_a_broken_site(tmp_path, capsys):
    book = tmp_path / "book.yml"
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "00_only.py").write_text('# %% tags=["parameters"]\nX = 1  # x\n')
    book.write_text('title: "T"\nparts:\n  - title: "P"\n    chapters:\n'
                    '      - {id: "00", file: chapters/00_only.py, title: "Only", relative_budget: 1}\n')
    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text(page("<a href='00_only.html'>00</a>"))
    (site / "00_only.html").write_text(page("<p>raw \\(x\\)</p>" + NAV.format(prev="index.html", next="")))
    assert main([str(site), "--book", str(book), "--chromium", CHROMIUM]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] 00_only.html" in out and "raw math" in out and "1 of 2 pages pass" in out
    (site / "00_only.html").write_text(page("<p>fine</p>" + NAV.format(prev="index.html", next="")))
    assert main([str(site), "--book", str(book), "--chromium", CHROMIUM]) == 0


def test_missing_site_is_an_error(tmp_path, capsys):
    if CHROMIUM is None:
        pytest.skip("no Chromium: the command skips before looking for the site")
    assert main([str(tmp_path / "nothing"), "--chromium", CHROMIUM]) == 1
    assert "no site at" in capsys.readouterr().err


def test_check_site_refuses_an_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no HTML pages"):
        check_site(tmp_path, ["index.html"], "chromium")


def test_reading_order_comes_from_book_yml(tmp_path):
    from mmlib.course.bookfile import load_book
    from mmlib.course.htmlcheck import book_order

    book = load_book()
    for ch in book.chapters[:3]:
        (tmp_path / f"{ch.slug}.html").write_text("x")
    assert book_order(tmp_path) == ["index.html", *[f"{c.slug}.html" for c in book.chapters[:3]]]
