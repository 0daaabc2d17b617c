"""book.yml and the files on disk agree; .py/.ipynb pairs are in sync; chapters are runnable.

These checks read files only (no kernel). They run on the book that `make test` runs:
book.yml, or $MMLIB_BOOK when a maintainer points it elsewhere.
"""

from pathlib import Path

import jupytext
import nbformat
import pytest

from mmlib.course.book import has_parameters_cell, notebook_parameters, parameter_specs, resolve_parameters, source_notebook
from mmlib.course.bookfile import BookError, load_book

BOOK = load_book()
CHAPTERS = BOOK.chapters
IDS = [c.id for c in CHAPTERS]
EXERCISES = [c for c in CHAPTERS if c.exercise is not None]


def cell_sources(path: Path) -> list[tuple[str, str]]:
    """(cell type, source) of every cell, read by jupytext whatever the format."""
    nb = jupytext.read(path)
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_book_has_chapters_in_order():
    assert IDS == sorted(IDS) and IDS[0] == "00"
    assert "default" in BOOK.profiles


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_chapter_files_exist(chapter):
    assert chapter.file.is_file(), f"book.yml lists {chapter.file.relative_to(BOOK.root)}, which does not exist"
    assert chapter.file.name.startswith(f"{chapter.id}_"), f"{chapter.file.name} should start with {chapter.id}_"
    assert chapter.notebook.is_file(), (
        f"{chapter.notebook.relative_to(BOOK.root)} is missing: run `make refresh-notebooks CHAPTER={chapter.id}`")


def test_every_chapter_on_disk_is_listed():
    listed = {c.file for c in CHAPTERS}
    on_disk = set((BOOK.root / "chapters").glob("[0-9][0-9]_*.py"))
    assert not on_disk - listed, f"chapters not in book.yml: {sorted(p.name for p in on_disk - listed)}"
    orphans = [p.name for p in (BOOK.root / "chapters").glob("*.ipynb") if not p.with_suffix(".py").is_file()]
    assert not orphans, f"notebooks without their .py source: {orphans}"


def test_every_exercise_on_disk_is_listed():
    listed = {c.exercise for c in EXERCISES}
    on_disk = set((BOOK.root / "exercises").glob("[0-9][0-9]_*.py"))
    assert not on_disk - listed, f"exercises not in book.yml: {sorted(p.name for p in on_disk - listed)}"


@pytest.mark.parametrize("chapter", EXERCISES, ids=[c.id for c in EXERCISES])
def test_exercise_files_exist(chapter):
    ex = chapter.exercise
    for path in (ex, ex.with_suffix(".ipynb"), ex.parent / "solutions" / ex.name, ex.parent / "checks" / ex.name):
        assert path.is_file(), f"exercise {chapter.id}: {path.relative_to(BOOK.root)} is missing"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_chapter_first_code_cell_is_parameters(chapter):
    nb = source_notebook(chapter)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), (
        f"chapter {chapter.id}: the first code cell must be tagged parameters "
        '(in py:percent: `# %% tags=["parameters"]`)')
    assert has_parameters_cell(nb)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_committed_chapter_notebook_has_outputs(chapter):
    nb = nbformat.read(chapter.notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), (
        f"{chapter.notebook.name} is not fully executed: run `make refresh-notebooks CHAPTER={chapter.id}`")
    assert any(c.outputs for c in code), f"{chapter.notebook.name} has no outputs"
    assert not any(o.output_type == "error" for c in code for o in c.outputs), f"{chapter.notebook.name} holds an error"


PAIRS = [c.file for c in CHAPTERS] + [c.exercise for c in EXERCISES]


@pytest.mark.parametrize("py", PAIRS, ids=[p.name if p.parent.name == "chapters" else f"exercises/{p.name}" for p in PAIRS])
def test_py_and_ipynb_are_in_sync(py):
    ipynb = py.with_suffix(".ipynb")
    if not (py.is_file() and ipynb.is_file()):
        pytest.fail(f"{py.name} and {ipynb.name} must both exist")
    left, right = cell_sources(py), cell_sources(ipynb)
    for i, (a, b) in enumerate(zip(left, right)):
        assert a == b, (f"{py.name} and {ipynb.name} disagree at cell {i}: open the notebook with jupytext "
                        "(make lab) and save, or `jupytext --sync`, then `make refresh-notebooks` for a chapter")
    assert len(left) == len(right), f"{py.name} has {len(left)} cells, {ipynb.name} has {len(right)}"


@pytest.mark.parametrize("name", sorted(BOOK.profiles))
def test_profile_parameters_exist_and_have_the_default_types(name):
    for cid in BOOK.profile(name):
        chapter = BOOK.chapter(cid)
        if not chapter.file.is_file():
            pytest.fail(f"profile {name} names chapter {cid}, whose file is missing")
        try:
            resolve_parameters(BOOK, [chapter], name)
        except BookError as exc:
            pytest.fail(f"profile {name}: {exc}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_parameter_is_seen_by_papermill(chapter):
    """papermill skips an assignment whose comment holds '=' (chapter 07's METHODS did): then
    `params` and papermill disagree on what the chapter takes."""
    nb = source_notebook(chapter)
    assigned = parameter_specs(nb)
    seen = notebook_parameters(nb)
    assert assigned, f"chapter {chapter.id}: its parameters cell assigns nothing"
    missing = sorted(set(assigned) - set(seen))
    assert not missing, (f"chapter {chapter.id}: papermill does not see parameter(s) {missing}: keep '=' out of "
                         "the comment on their line")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_parameter_default_is_a_typed_literal(chapter):
    """A default the runner cannot read as a literal would accept any --param value unchecked."""
    loose = [p.name for p in parameter_specs(source_notebook(chapter)).values() if not p.literal]
    assert not loose, f"chapter {chapter.id}: parameter(s) {loose} default to an expression, not a literal"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=IDS)
def test_every_parameter_has_a_description(chapter):
    """`book params NN` tells each parameter's type and what it does, from the comment on its line."""
    bare = [p.name for p in parameter_specs(source_notebook(chapter)).values() if not p.help]
    assert not bare, (f"chapter {chapter.id}: parameter(s) {bare} have no description: end their line in the "
                      "parameters cell with a comment (without '=', which papermill would misread)")


def test_params_prints_type_and_description_never_papermills_none(tmp_path, capsys):
    """Annotated, commented above, commented after, and bare parameters, as `book params` shows them."""
    from mmlib.course import book as runner

    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "00_x.py").write_text(
        '# %% tags=["parameters"]\n'
        "# Parameters of the toy chapter.\n"
        "EPOCHS: int = 20  # training epochs\n"
        "# seeds of the comparison,\n"
        "# at least three\n"
        "SEEDS = [0, 1, 2]\n"
        "RATE = 0.5\n")
    (tmp_path / "book.yml").write_text(
        'title: "T"\nparts:\n  - title: "P"\n    chapters:\n'
        '      - {id: "00", file: chapters/00_x.py, title: "X", relative_budget: 1}\n')
    specs = parameter_specs(source_notebook(load_book(tmp_path / "book.yml").chapter("00")))
    assert specs["EPOCHS"].help == "training epochs" and specs["EPOCHS"].type_name == "int"
    assert specs["SEEDS"].help == "seeds of the comparison, at least three"
    assert specs["SEEDS"].type_name == "list of int" and specs["RATE"].help == ""
    assert runner.main(["--book", str(tmp_path / "book.yml"), "params", "00"]) == 0
    out = capsys.readouterr().out
    assert "EPOCHS = 20  (int)  training epochs" in out
    assert "SEEDS = [0, 1, 2]  (list of int)  seeds of the comparison, at least three" in out
    assert "RATE = 0.5  (float)  (no description in the parameters cell)" in out
    assert "(None)" not in out and "None" not in out
