"""The ledger: every registered method names its paper, the code it was checked against,
and each difference from that code with its reason."""

import pytest

import mmlib.methods as methods
from mmlib.methods.provenance import THIS_COURSE, Difference, Paper, Source, entry_problems


@pytest.mark.parametrize("name", methods.names())
def test_every_registered_method_has_a_complete_entry(name):
    cls = methods.REGISTRY[name]
    assert entry_problems(cls) == [], f"{name}: incomplete ledger entry"


def test_ledger_has_one_row_per_method_with_text():
    table = methods.ledger()
    assert list(table["method"]) == methods.names()
    assert table["paper"].str.len().gt(0).all() and table["checked_against"].str.len().gt(0).all()
    stated = table.set_index("method")
    for name in methods.names():
        assert stated.loc[name, "n_differences"] == len(methods.REGISTRY[name].differences)


def test_differences_are_appended_to_the_class_docstring():
    for name in methods.names():
        cls = methods.REGISTRY[name]
        for difference in cls.differences:
            assert difference.what in (cls.__doc__ or ""), f"{name}: difference missing from its docstring"


def test_incomplete_entries_are_reported():
    class Bare(methods.Method):
        name = "bare"
        paper = Paper("A, B", "A title")  # no venue, year or link
        sources = (Source("owner/repo", commit="abc", file="x.py"),)
        differences = (Difference("something differs", " "),)

    problems = entry_problems(Bare)
    for expected in ("paper.venue", "paper.year", "paper.url", "source.function", "source.commit", "difference.why"):
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    course = {"name": "course", "paper": Paper(THIS_COURSE, "A control"), "sources": (Source(THIS_COURSE),),
              "differences": ()}
    assert entry_problems(type("Course", (methods.Method,), course)) == []
    assert entry_problems(type("Copycat", (methods.Method,), {"name": "copycat"})) == [
        f"{field} (inherited from the baseline)" for field in ("paper", "sources", "differences")]

    class Stringly(methods.Method):
        name = "stringly"
        paper = "Someone, 2024"
        sources = (Source(THIS_COURSE),)
        differences = ()

    assert entry_problems(Stringly) == ["paper is a str, not a Paper"]
