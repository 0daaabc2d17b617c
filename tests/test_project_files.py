"""A project people can reuse and notebooks that open well: LICENSE, CITATION.cff, README's licence,
and the same 'how to run this notebook' cell right after the title of every chapter."""

from __future__ import annotations

import datetime
import re
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from mmlib.course.bookfile import load_book

ROOT = Path(__file__).resolve().parents[1]
ENTITY = "Balanced Multimodal Learning course contributors"


def test_citation_cff_parses_and_names_the_course():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert citation["cff-version"] == "1.2.0"
    assert citation["authors"] == [{"name": ENTITY}], "the course itself is the author entity"
    assert citation["title"] and citation["license"] == "MIT"
    released = citation["date-released"]
    assert str(released) == "2026-11-30" and datetime.date.fromisoformat(str(released))
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert str(citation["version"]) == version, "CITATION.cff and pyproject.toml give different versions"


def test_license_is_mit_for_the_code_and_readme_states_cc_by_for_text_and_figures():
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and ENTITY in license_text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    licence = readme[readme.index("## Licence"):]
    assert "MIT" in licence and "CC BY 4.0" in licence and "data/mfeat/PROVENANCE.md" in licence
    assert "CC BY 4.0" in (ROOT / "data/mfeat/PROVENANCE.md").read_text(encoding="utf-8")


def _how_to_run(chapter_id: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    template = re.search(r"<!-- how-to-run cell -->\n```markdown\n(.*?)\n```", readme, re.S)
    assert template, "README.md keeps the chapters' 'how to run' cell under '<!-- how-to-run cell -->'"
    return template.group(1).replace("NN", chapter_id)


@pytest.mark.parametrize("chapter", load_book(ROOT / "book.yml").chapters, ids=lambda c: c.id)
def test_every_chapter_says_how_to_run_it_right_after_its_title(chapter):
    expected = _how_to_run(chapter.id)
    for cells in (jupytext.read(chapter.file).cells, nbformat.read(chapter.notebook, as_version=4).cells):
        assert cells[0].cell_type == "markdown" and cells[0].source.strip().startswith(f"# {chapter.id} · ")
        assert cells[1].cell_type == "markdown" and cells[1].source.strip() == expected, (
            f"chapter {chapter.id}: the cell after the title must be README's 'how to run' cell with id {chapter.id}")
