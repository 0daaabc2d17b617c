"""The book runner's machinery, on tiny throw-away books in tmp_path (not the real chapters)."""

import json
from pathlib import Path

import nbformat
import pytest

from mmlib.course import book as runner
from mmlib.course.bookfile import BookError, load_book

OK_CHAPTER = '''\
# %% tags=["parameters"]
X = 1

# %%
from mmlib.course.book import record
print("x is", X)
record(double=X * 2)
'''

FAILING_CHAPTER = '''\
# %% tags=["parameters"]
Y = 0

# %%
print("about to fail")

# %%
raise ValueError("broken on purpose")
'''

NO_PARAMETERS = '''\
# %%
Z = 3
'''


def make_book(root: Path, chapters: dict[str, str], budgets: dict[str, float] | None = None,
              profiles: str = "", cores: dict[str, int] | None = None) -> Path:
    """A book.yml with one part holding the given chapters (id_slug -> py source).

    ``budgets`` are relative budgets (units of reference_s, default 60); ``cores`` default 1.
    """
    (root / "chapters").mkdir()
    entries = []
    for stem, source in chapters.items():
        (root / "chapters" / f"{stem}.py").write_text(source)
        cid = stem[:2]
        entries.append(f'      - {{id: "{cid}", file: chapters/{stem}.py, title: "Chapter {cid}", '
                       f"relative_budget: {(budgets or {}).get(cid, 60)}, cores: {(cores or {}).get(cid, 1)}}}")
    text = 'title: "Tiny"\nparts:\n  - title: "Only part"\n    chapters:\n' + "\n".join(entries) + "\n"
    text += profiles or "profiles:\n  default: {}\n"
    (root / "book.yml").write_text(text)
    return root / "book.yml"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One keep-going build of an ok and a failing chapter, with a profile injecting X=5."""
    root = tmp_path_factory.mktemp("book")
    path = make_book(root, {"00_ok": OK_CHAPTER, "01_fails": FAILING_CHAPTER},
                     profiles='profiles:\n  default: {}\n  big:\n    "00": {X: 5}\n')
    before = snapshot(root / "chapters")
    code = runner.main(["--book", str(path), "build", "--profile", "big", "--keep-going",
                        "--out", str(root / "_build"), "--reference-s", "0.5"])
    report = json.loads((root / "_build" / "report.json").read_text())
    return root, code, report, before


def test_build_reports_status_time_budget_and_records(built):
    root, code, report, _ = built
    ok, failed = report["chapters"]
    assert code == 1 and report["ok"] is False
    assert ok["status"] == "ok" and ok["parameters"] == {"X": 5}
    assert ok["records"] == {"double": 10}, "the profile's X=5 was injected after the parameters cell"
    assert report["reference_s"] == 0.5 and report["reference_measured"] is False and report["complete"]
    assert ok["relative_budget"] == 60 and 0 < ok["seconds"] < 30 and ok["over_budget"] is False
    # judged by CPU seconds over the reference's (here the given 0.5); wall seconds recorded beside
    assert ok["relative_basis"] == "cpu" and 0 < ok["cpu_seconds"]
    assert ok["relative"] == pytest.approx(ok["cpu_seconds"] / 0.5, abs=0.01)
    assert ok["relative_wall"] == pytest.approx(ok["seconds"] / 0.5, abs=0.01)
    nb = nbformat.read(root / "_build" / ok["notebook"], as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_failing_chapter_reports_cell_and_error_and_the_rest_still_ran(built):
    _, _, report, _ = built
    failed = report["chapters"][1]
    assert failed["status"] == "failed"
    assert failed["error"]["ename"] == "ValueError" and "broken on purpose" in failed["error"]["evalue"]
    assert failed["error"]["cell"] == 3 and "raise ValueError" in failed["error"]["source"]


def test_build_writes_html_and_index_and_never_touches_chapters(built):
    root, _, report, before = built
    html = root / "_build" / "html"
    assert (html / "00_ok.html").is_file() and (html / "01_fails.html").is_file()
    index = (html / "index.html").read_text()
    assert index.index("00_ok.html") < index.index("01_fails.html")
    assert snapshot(root / "chapters") == before


def test_without_keep_going_the_build_stops_at_the_failure(tmp_path, capsys):
    path = make_book(tmp_path, {"00_fails": FAILING_CHAPTER, "01_ok": OK_CHAPTER})
    code = runner.main(["--book", str(path), "build", "--out", str(tmp_path / "out"), "--no-html",
                        "--reference-s", "1", "--jobs", "1"])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert code == 1
    assert [c["status"] for c in report["chapters"]] == ["failed", "not run"]
    out = capsys.readouterr().out
    assert "failed at cell In [3]: ValueError: broken on purpose" in out


def test_over_budget_is_flagged_and_fails_only_with_strict_budget(tmp_path):
    path = make_book(tmp_path, {"00_ok": OK_CHAPTER}, budgets={"00": 0.01})
    book = load_book(path)
    assert runner.build(book, out=tmp_path / "a", html_pages=False, reference_s=1.0) == 0
    entry = json.loads((tmp_path / "a" / "report.json").read_text())["chapters"][0]
    assert entry["over_budget"] and entry["over_limit"]
    assert runner.build(book, out=tmp_path / "a", html_pages=False, strict_budget=True, reference_s=1.0) == 1


def test_a_profile_run_has_no_cell_time_out_and_is_not_held_to_the_default_budget(tmp_path):
    """Budgets are calibrated for the default parameters: a `full` profile may run for hours."""
    path = make_book(tmp_path, {"00_ok": OK_CHAPTER}, budgets={"00": 0.01},
                     profiles='profiles:\n  default: {}\n  big:\n    "00": {X: 5}\n')
    book = load_book(path)
    chapter = book.chapter("00")
    assert runner.cell_timeout(chapter, 1.25, 1.0) == runner.MIN_CELL_TIMEOUT_S
    assert runner.cell_timeout(chapter, 1.25, 1.0, {"X": 5}) is None
    assert runner.build(book, profile="big", out=tmp_path / "a", html_pages=False, strict_budget=True,
                        reference_s=1.0) == 0
    entry = json.loads((tmp_path / "a" / "report.json").read_text())["chapters"][0]
    assert entry["parameters"] == {"X": 5} and entry["timeout_s"] is None
    assert entry["relative"] > entry["limit"] and not entry["over_budget"] and not entry["over_limit"]


def test_refresh_writes_the_committed_notebook_without_run_metadata(tmp_path):
    path = make_book(tmp_path, {"00_ok": OK_CHAPTER})
    assert runner.refresh(load_book(path)) == 0
    nb = nbformat.read(tmp_path / "chapters" / "00_ok.ipynb", as_version=4)
    assert "papermill" not in nb.metadata and nb.metadata["kernelspec"]["name"] == "python3"
    assert [c.id for c in nb.cells] == ["cell-000", "cell-001"]
    assert "x is 1" in nb.cells[1].outputs[0]["text"]
    assert runner.read_records(nb) == {"double": 2}


@pytest.mark.parametrize("args, message", [
    (["build", "--chapter", "07"], "unknown chapter '07'; valid chapters: 00 (00_ok), 01 (01_other)"),
    (["build", "--profile", "fast"], "unknown profile 'fast'; valid profiles: default"),
    (["build", "--chapter", "00", "--param", "EPOCHS=3"], "unknown parameter(s) EPOCHS; valid parameters: X"),
    (["build", "--param", "X"], "--param expects NAME=VALUE"),
    (["params", "9"], "unknown chapter '9'"),
])
def test_bad_input_exits_2_and_lists_valid_choices(tmp_path, capsys, args, message):
    path = make_book(tmp_path, {"00_ok": OK_CHAPTER, "01_other": OK_CHAPTER})
    assert runner.main(["--book", str(path), *args]) == 2
    assert message in capsys.readouterr().err


def test_profile_with_unknown_parameter_is_refused_before_running(tmp_path):
    path = make_book(tmp_path, {"00_ok": OK_CHAPTER}, profiles='profiles:\n  full:\n    "00": {NOPE: 1}\n')
    with pytest.raises(BookError, match="unknown parameter.*NOPE.*valid parameters: X"):
        runner.build(load_book(path), profile="full", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_profile_naming_an_unknown_chapter_is_refused(tmp_path):
    with pytest.raises(BookError, match="names unknown chapter '05'"):
        load_book(make_book(tmp_path, {"00_ok": OK_CHAPTER}, profiles='profiles:\n  full:\n    "05": {X: 1}\n'))


def test_chapter_without_parameters_cell_is_refused(tmp_path):
    path = make_book(tmp_path, {"00_plain": NO_PARAMETERS})
    with pytest.raises(BookError, match="no cell is tagged 'parameters'"):
        runner.build(load_book(path), out=tmp_path / "out")


def test_list_and_params_commands(tmp_path, capsys):
    path = make_book(tmp_path, {"00_ok": OK_CHAPTER})
    assert runner.main(["--book", str(path), "list"]) == 0
    assert "00  Chapter 00" in capsys.readouterr().out
    assert runner.main(["--book", str(path), "params", "00"]) == 0
    assert "X = 1" in capsys.readouterr().out


def test_record_outside_jupyter_prints_a_line(capsys):
    import numpy as np

    runner.record(acc=np.float32(0.5), sizes=(1, 2))
    assert capsys.readouterr().out.strip() == "recorded: acc=0.5, sizes=[1, 2]"


def test_read_records_merges_in_order():
    nb = nbformat.v4.new_notebook()
    for payload in ({"a": 1, "b": 2}, {"b": 3}):
        cell = nbformat.v4.new_code_cell("")
        cell.outputs = [nbformat.v4.new_output("display_data", data={runner.RECORD_MIME: payload})]
        nb.cells.append(cell)
    assert runner.read_records(nb) == {"a": 1, "b": 3}
