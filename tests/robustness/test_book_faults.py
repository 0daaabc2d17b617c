"""Faults and bad input of the book runner (issue 13, items 5 and 6).

Tables, each fed to ``pytest.mark.parametrize`` with readable ids:

- ``BAD_PARAMS``: ``--param`` values of the wrong type (or malformed) -> exit 2 naming the
  chapter, the parameter, the expected type and the default, before any kernel starts;
  ``GOOD_PARAMS``: values the documented rules accept.
- ``BAD_BOOKS``: malformed ``book.yml`` variants -> :class:`BookError` with the file and the
  line, exit 2 from the command line, no traceback.
- ``BAD_CLI``: bad ``--jobs`` / ``--reference-s`` / unknown names -> exit 2 and a clear message.
- ``SCHEDULES``: the ``--jobs`` scheduler's decisions (cores never exceed N; a chapter wider
  than N runs alone).

Then a few tests that start kernels (tiny throw-away books, ``slow``): two 1-core chapters
side by side and a 2-core one alone; relative budgets judged with a measured reference;
SIGKILL and SIGTERM of a running build, then a clean re-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from mmlib.course import book as runner
from mmlib.course.bookfile import BookError, Chapter, load_book
from mmlib.course.reference import reference_seconds

# --------------------------------------------------------------------------- tiny books
TYPED_CHAPTER = '''\
# %% tags=["parameters"]
INT = 3  # an int
FLT = 0.5  # a float
TXT = "a"  # a string
FLAG = True  # a bool
INTS = [1, 2]  # a list of int
WORDS = ["a", "b"]  # a list of str
FLOATS = [0.5, 1.0]  # a list of float
ANY_LIST = []  # a list of anything
MAP = {"a": 1}  # a dict of int
OPEN = {}  # a dict of anything
NOTHING = None  # anything at all

# %%
print(INT)
'''

OK_CHAPTER = '''\
# %% tags=["parameters"]
X = 1

# %%
print("x is", X)
'''


def peer_chapter(name: str, peer: str | None) -> str:
    """A chapter that marks its start and end in $BOOK_TEST_DIR and, if ``peer`` is given,
    waits (at most 90 s) for the peer chapter to start: it records whether it saw the peer
    running and which other chapters had started or ended when it started."""
    return f'''\
# %% tags=["parameters"]
WAIT = 90

# %%
import json, os, pathlib, time
d = pathlib.Path(os.environ["BOOK_TEST_DIR"])
seen_at_start = sorted(p.name for p in d.iterdir())
(d / "{name}.start").write_text("")
saw_peer = None
if {peer!r}:
    deadline = time.time() + WAIT
    while not (d / "{peer}.start").exists() and time.time() < deadline:
        time.sleep(0.1)
    saw_peer = (d / "{peer}.start").exists()
seen_at_end = sorted(p.name for p in d.iterdir())
(d / "{name}.end").write_text("")
(d / "{name}.json").write_text(json.dumps({{"saw_peer": saw_peer, "at_start": seen_at_start, "at_end": seen_at_end}}))
'''


SLEEPY_CHAPTER = '''\
# %% tags=["parameters"]
X = 0

# %%
import os, pathlib, time
flag = pathlib.Path(os.environ.get("BOOK_TEST_DIR", "/nonexistent"), "sleep.flag")
if flag.exists():
    (flag.parent / "kernel.pid").write_text(f"{os.getpid()} {os.getppid()}")
    time.sleep(300)
print("awake")
'''


def make_book(root: Path, chapters: dict[str, str], budgets: dict[str, float] | None = None,
              cores: dict[str, int] | None = None) -> Path:
    """book.yml with one part holding the chapters (id_slug -> py source)."""
    (root / "chapters").mkdir(parents=True)
    lines = ['title: "Tiny"', "parts:", '  - title: "Only part"', "    chapters:"]
    for stem, source in chapters.items():
        (root / "chapters" / f"{stem}.py").write_text(source)
        cid = stem[:2]
        lines.append(f'      - {{id: "{cid}", file: chapters/{stem}.py, title: "Chapter {cid}", '
                     f"relative_budget: {(budgets or {}).get(cid, 60)}, cores: {(cores or {}).get(cid, 1)}}}")
    (root / "book.yml").write_text("\n".join(lines) + "\n")
    return root / "book.yml"


@pytest.fixture(scope="module")
def typed_book(tmp_path_factory) -> Path:
    return make_book(tmp_path_factory.mktemp("typed"), {"01_typed": TYPED_CHAPTER})


# --------------------------------------------------------------------------- typed parameters
BAD_PARAMS = [  # (id, --param, expected message fragment)
    ("int-from-word", "INT=abc", "chapter 01: parameter INT expects int (default 3), got 'abc'"),
    ("int-from-float", "INT=2.5", "parameter INT expects int (default 3), got 2.5"),
    ("int-from-bool", "INT=true", "parameter INT expects int (default 3), got True"),
    ("int-from-list", "INT=[1]", "parameter INT expects int (default 3), got [1]"),
    ("int-from-null", "INT=null", "parameter INT expects int (default 3), got None"),
    ("int-from-empty", "INT=", "parameter INT expects int (default 3), got None"),
    ("float-from-word", "FLT=abc", "parameter FLT expects float (default 0.5), got 'abc'"),
    ("float-nan", "FLT=.nan", "parameter FLT expects a finite float (default 0.5), got nan"),
    ("float-inf", "FLT=.inf", "parameter FLT expects a finite float (default 0.5), got inf"),
    ("float-from-bool", "FLT=false", "parameter FLT expects float (default 0.5), got False"),
    ("str-from-int", "TXT=12", "parameter TXT expects str (default \"a\"), got 12"),
    ("str-from-list", "TXT=[a]", "parameter TXT expects str (default \"a\"), got ['a']"),
    ("bool-from-int", "FLAG=1", "parameter FLAG expects bool (default True), got 1"),
    ("bool-from-word", "FLAG=maybe", "parameter FLAG expects bool (default True), got 'maybe'"),
    ("list-from-int", "INTS=5", "parameter INTS expects list of int (default [1, 2]), got 5"),
    ("list-int-with-word", "INTS=[1, x]", "parameter INTS expects list of int (default [1, 2]), got [1, 'x']"),
    ("list-int-with-float", "INTS=[1.5]", "parameter INTS expects list of int (default [1, 2]), got [1.5]"),
    ("list-str-with-ints", "WORDS=[1, 2]", "parameter WORDS expects list of str"),
    ("list-str-from-word", "WORDS=abc", "parameter WORDS expects list of str (default [\"a\", \"b\"]), got 'abc'"),
    ("list-float-with-word", "FLOATS=[a]", "parameter FLOATS expects list of float"),
    ("list-float-with-nan", "FLOATS=[.nan]", "parameter FLOATS expects list of float"),
    ("empty-list-from-int", "ANY_LIST=3", "parameter ANY_LIST expects list (default []), got 3"),
    ("dict-from-list", "MAP=[1]", "parameter MAP expects dict of int (default {\"a\": 1}), got [1]"),
    ("dict-int-with-word", "MAP={a: x}", "parameter MAP expects dict of int"),
    ("empty-dict-from-int", "OPEN=3", "parameter OPEN expects dict (default {}), got 3"),
    ("unknown-name", "NOPE=1", "chapter 01: unknown parameter(s) NOPE; valid parameters: INT, FLT, TXT"),
    ("no-equals", "INT", "--param expects NAME=VALUE, got 'INT'"),
    ("no-name", "=3", "--param expects NAME=VALUE, got '=3'"),
    ("name-not-identifier", "1X=3", "'1X' is not a parameter name"),
    ("value-not-yaml", "INTS=[1,", "--param INTS: '[1,' is not a valid YAML value"),
]


@pytest.mark.parametrize("param, message", [c[1:] for c in BAD_PARAMS], ids=[c[0] for c in BAD_PARAMS])
def test_bad_param_exits_2_before_anything_runs(typed_book, tmp_path, capsys, param, message):
    out = tmp_path / "out"
    assert runner.main(["--book", str(typed_book), "build", "--param", param, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists(), "nothing may be written before the parameters are checked"


GOOD_PARAMS = [  # (id, --param values) the documented rules accept
    ("int", ["INT=7"]),
    ("float-takes-int", ["FLT=2"]),
    ("float-exponent", ["FLT=1e-3"]),
    ("str", ["TXT=hello"]),
    ("list-empty", ["INTS=[]"]),
    ("list-float-takes-ints", ["FLOATS=[1, 2]"]),
    ("empty-list-takes-anything", ["ANY_LIST=[x, 1, {a: 2}]"]),
    ("dict-new-key", ["MAP={b: 2}"]),
    ("none-takes-anything", ["NOTHING=[1, a]"]),
    ("several", ["INT=1", "FLAG=false", "WORDS=[x]"]),
]


@pytest.mark.parametrize("params", [c[1] for c in GOOD_PARAMS], ids=[c[0] for c in GOOD_PARAMS])
def test_good_params_pass_the_check(typed_book, params):
    book = load_book(typed_book)
    overrides = runner._parse_overrides(params)
    assert runner.resolve_parameters(book, book.chapters, "default", overrides) == {"01": overrides}


def test_profile_value_of_the_wrong_type_names_the_profile(tmp_path, capsys):
    path = make_book(tmp_path, {"01_typed": TYPED_CHAPTER})
    path.write_text(path.read_text() + 'profiles:\n  full:\n    "01": {INT: "ten"}\n')
    assert runner.main(["--book", str(path), "build", "--profile", "full", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "chapter 01: parameter INT expects int (default 3), got 'ten' (profile 'full' in book.yml)" in err


def test_params_command_prints_type_default_and_help_without_none(typed_book, capsys):
    assert runner.main(["--book", str(typed_book), "params", "01"]) == 0
    out = capsys.readouterr().out
    assert "INT = 3  (int)  an int" in out and 'WORDS = ["a", "b"]  (list of str)' in out
    assert "NOTHING = None  (any)" in out and "(None)" not in out


# --------------------------------------------------------------------------- malformed book.yml
BASE_BOOK = '''\
title: "Tiny"
budget_tolerance: 1.25
parts:
  - title: "Only part"
    chapters:
      - id: "00"
        file: chapters/00_ok.py
        title: "Chapter 00"
        relative_budget: 60
profiles:
  default: {}
'''


def variant(old: str, new: str) -> str:
    assert BASE_BOOK.count(old) == 1, old
    return BASE_BOOK.replace(old, new)


BAD_BOOKS = [  # (id, book.yml text, line named in the message or None, message fragment)
    ("yaml-unclosed-bracket", variant("relative_budget: 60", "relative_budget: [60"), 10, "not valid YAML"),
    ("yaml-bad-indent", variant('        title: "Chapter 00"', '       title: "Chapter 00"'), 8, "not valid YAML"),
    ("yaml-tab", variant('        title: "Chapter 00"', '\ttitle: "Chapter 00"'), 8, "not valid YAML"),
    ("yaml-duplicate-key", variant('        title: "Chapter 00"\n', '        title: "Chapter 00"\n        title: "B"\n'),
     9, "duplicate key 'title' (first at line 8)"),
    ("empty-file", "", None, "the file is empty"),
    ("top-level-list", "- a\n- b\n", 1, "the top level must be a mapping"),
    ("unknown-top-key", variant("budget_tolerance:", "budget_tolerence:"), 2,
     "unknown key 'budget_tolerence'; valid keys: title, budget_tolerance"),
    ("parts-missing", "title: x\n", 1, "the top level lacks 'parts'"),
    ("parts-not-a-list", 'title: "x"\nparts: "abc"\n', 2, "parts must be a list"),
    ("parts-empty", 'title: "x"\nparts: []\n', 2, "parts is empty"),
    ("part-not-a-mapping", 'parts:\n  - "just a title"\n', 2, "part 1 must be a mapping"),
    ("part-lacks-title", variant('  - title: "Only part"\n    chapters:', "  - chapters:"), 4, "part 1 lacks 'title'"),
    ("chapters-not-a-list", 'parts:\n  - title: "P"\n    chapters: {}\n', 3, "chapters must be a list"),
    ("chapter-not-a-mapping", 'parts:\n  - title: "P"\n    chapters:\n      - "00"\n', 4,
     "chapter 1 of part 'P' must be a mapping"),
    ("id-unquoted", variant('id: "00"', "id: 00"), 6, "chapter id 0 of part 'Only part' must be two digits in quotes"),
    ("id-one-digit", variant('id: "00"', 'id: "0"'), 6, "must be two digits in quotes"),
    ("id-duplicate", variant("profiles:", '      - {id: "00", file: a.py, title: "B", relative_budget: 1}\nprofiles:'),
     10, "duplicate chapter id '00' (first at line 6)"),
    ("file-missing", variant("        file: chapters/00_ok.py\n", ""), 6, "chapter 00 lacks 'file'"),
    ("budget-missing", variant("        relative_budget: 60\n", ""), 6, "chapter 00 lacks 'relative_budget'"),
    ("old-budget-key", variant("relative_budget: 60", "budget: 60"), 9,
     "'budget' (seconds) is now 'relative_budget' (units of reference_s)"),
    ("budget-string", variant("relative_budget: 60", 'relative_budget: "90s"'), 9,
     "chapter 00: relative_budget must be a positive number (units of reference_s), got '90s'"),
    ("budget-zero", variant("relative_budget: 60", "relative_budget: 0"), 9, "must be a positive number"),
    ("budget-negative", variant("relative_budget: 60", "relative_budget: -5"), 9, "got -5"),
    ("budget-bool", variant("relative_budget: 60", "relative_budget: true"), 9, "got True"),
    ("budget-nan", variant("relative_budget: 60", "relative_budget: .nan"), 9, "got nan"),
    ("cores-zero", variant("relative_budget: 60", "relative_budget: 60\n        cores: 0"), 10,
     "chapter 00: cores must be an integer >= 1, got 0"),
    ("cores-float", variant("relative_budget: 60", "relative_budget: 60\n        cores: 1.5"), 10, "got 1.5"),
    ("cores-string", variant("relative_budget: 60", "relative_budget: 60\n        cores: \"2\""), 10, "got '2'"),
    ("exercise-number", variant("relative_budget: 60", "relative_budget: 60\n        exercise: 5"), 10,
     "exercise must be a non-empty string, got 5"),
    ("unknown-chapter-key", variant("relative_budget: 60", "relative_budget: 60\n        colour: red"), 10,
     "chapter 00 has unknown key 'colour'; valid keys: id, file, title, relative_budget, cores, exercise"),
    ("title-empty", variant('title: "Chapter 00"', 'title: ""'), 8, "title must be a non-empty string"),
    ("tolerance-below-one", variant("budget_tolerance: 1.25", "budget_tolerance: 0.5"), 2,
     "budget_tolerance must be >= 1"),
    ("tolerance-string", variant("budget_tolerance: 1.25", "budget_tolerance: x"), 2,
     "budget_tolerance must be a positive number"),
    ("calibration-negative", variant("budget_tolerance: 1.25", "calibrated_reference_s: -1"), 2,
     "calibrated_reference_s must be a positive number (seconds), got -1"),
    ("profiles-a-list", variant("  default: {}", "  - default"), 10, "profiles must be a mapping"),
    ("profile-not-a-mapping", variant("  default: {}", "  full: 3"), 11, "profile 'full' must be a mapping"),
    ("profile-chapter-not-a-mapping", variant("  default: {}", '  full: {"00": [1]}'), 11,
     "profile 'full', chapter 00 must be a mapping"),
    ("profile-unknown-chapter", variant("  default: {}", '  full: {"05": {X: 1}}'), 11,
     "profile 'full' names unknown chapter '05'; valid chapters: 00"),
    ("profile-bad-param-name", variant("  default: {}", '  full: {"00": {"not a name": 1}}'), 11,
     "parameter names must be Python names, got 'not a name'"),
]


@pytest.mark.parametrize("text, line, message", [c[1:] for c in BAD_BOOKS], ids=[c[0] for c in BAD_BOOKS])
def test_malformed_book_yml_names_file_and_line(tmp_path, capsys, text, line, message):
    path = tmp_path / "book.yml"
    path.write_text(text)
    with pytest.raises(BookError) as info:
        load_book(path)
    text_of = str(info.value)
    assert str(path) in text_of and message in text_of
    if line is not None:
        assert f"line {line}" in text_of, text_of
    assert runner.main(["--book", str(path), "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_book_yml_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "book.yml"
    path.write_bytes(b"title: \xff\xfe\n")
    with pytest.raises(BookError, match="not UTF-8 text"):
        load_book(path)


# --------------------------------------------------------------------------- command line
BAD_CLI = [  # (id, arguments after --book, message fragment on stderr)
    ("jobs-zero", ["build", "--jobs", "0"], "--jobs: expects an integer >= 1, got '0'"),
    ("jobs-negative", ["build", "--jobs", "-1"], "--jobs: expects an integer >= 1, got '-1'"),
    ("jobs-word", ["build", "--jobs", "abc"], "--jobs: expects an integer >= 1, got 'abc'"),
    ("jobs-float", ["build", "--jobs", "1.5"], "--jobs: expects an integer >= 1, got '1.5'"),
    ("refresh-jobs-zero", ["refresh", "--jobs", "0"], "--jobs: expects an integer >= 1"),
    ("reference-zero", ["build", "--reference-s", "0"], "--reference-s: expects a positive number of seconds"),
    ("reference-nan", ["build", "--reference-s", "nan"], "--reference-s: expects a positive number of seconds"),
    ("repeats-zero", ["reference", "--repeats", "0"], "--repeats: expects an integer >= 1"),
    ("unknown-chapter", ["build", "--chapter", "07"], "unknown chapter '07'; valid chapters: 00 (00_ok)"),
    ("unknown-profile", ["build", "--profile", "fast"], "unknown profile 'fast'; valid profiles: default"),
    ("params-unknown-chapter", ["params", "9"], "unknown chapter '9'; valid chapters: 00 (00_ok)"),
    ("missing-book", None, "no book file at"),
]


@pytest.mark.parametrize("args, message", [c[1:] for c in BAD_CLI], ids=[c[0] for c in BAD_CLI])
def test_bad_command_line_exits_2(tmp_path, capsys, args, message):
    path = make_book(tmp_path, {"00_ok": OK_CHAPTER})
    if args is None:
        path, args = tmp_path / "nope.yml", ["list"]
    try:
        code = runner.main(["--book", str(path), *args])
    except SystemExit as exc:  # argparse refuses bad option values itself, with status 2
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "_build").exists()


@pytest.mark.parametrize("jobs", [0, -1, 1.5, "2", True], ids=["zero", "negative", "float", "string", "bool"])
def test_build_api_refuses_bad_jobs(tmp_path, jobs):
    book = load_book(make_book(tmp_path, {"00_ok": OK_CHAPTER}))
    with pytest.raises(BookError, match=r"jobs must be an integer >= 1"):
        runner.build(book, out=tmp_path / "out", jobs=jobs)
    assert not (tmp_path / "out").exists()


def test_atomic_write_keeps_the_mode_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "report.json"
    runner.write_atomic(target, "{}")
    target.chmod(0o640)
    runner.write_atomic(target, '{"a": 1}')
    assert target.read_text() == '{"a": 1}' and target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_chapter_named_twice_runs_once(typed_book):
    book = load_book(typed_book)
    assert [c.id for c in runner._select(book, ["1", "01", "01"])] == ["01"]


def test_reference_seconds_refuses_bad_repeats():
    with pytest.raises(ValueError, match="repeats must be an int >= 1, got 0"):
        reference_seconds(0)


# --------------------------------------------------------------------------- scheduler decisions
def ch(cid: str, cores: int = 1) -> Chapter:
    return Chapter(id=cid, file=Path(f"/x/{cid}_c.py"), title=cid, relative_budget=1.0, part="p", cores=cores)


SCHEDULES = [  # (id, waiting [(id, cores)], busy cores, running, jobs, ids to start)
    ("two-1-core-side-by-side", [("a", 1), ("b", 1)], 0, 0, 2, ["a", "b"]),
    ("2-core-first-fills-2", [("a", 2), ("b", 1), ("c", 1)], 0, 0, 2, ["a"]),
    ("backfill-when-wide-does-not-fit", [("a", 2), ("b", 1)], 1, 1, 2, ["b"]),
    ("nothing-when-full", [("a", 1)], 2, 2, 2, []),
    ("wider-than-jobs-runs-alone", [("a", 2), ("b", 1)], 0, 0, 1, ["a"]),
    ("wider-than-jobs-waits-for-idle", [("a", 4)], 1, 1, 2, []),
    ("wider-than-jobs-not-joined", [("a", 4), ("b", 1)], 0, 0, 3, ["a"]),
    ("order-kept", [("c", 1), ("a", 1), ("b", 1)], 0, 0, 2, ["c", "a"]),
    ("four-cores-mixed", [("a", 2), ("b", 1), ("c", 1), ("d", 1)], 0, 0, 4, ["a", "b", "c"]),
]


@pytest.mark.parametrize("waiting, busy, running, jobs, expected", [c[1:] for c in SCHEDULES],
                         ids=[c[0] for c in SCHEDULES])
def test_schedule_never_exceeds_jobs(waiting, busy, running, jobs, expected):
    chapters = [ch(cid, cores) for cid, cores in waiting]
    started = runner.schedule(chapters, busy, running, jobs)
    assert [c.id for c in started] == expected
    if not (len(started) == 1 and started[0].cores > jobs):
        assert busy + sum(c.cores for c in started) <= jobs


# --------------------------------------------------------------------------- kernels (slow)
def read_report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie child of someone else still answers kill(0): read its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_jobs_runs_1_core_chapters_side_by_side_and_a_2_core_chapter_alone(tmp_path, monkeypatch):
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("BOOK_TEST_DIR", str(marks))
    path = make_book(tmp_path / "book", {"00_wide": peer_chapter("wide", None), "01_b": peer_chapter("b", "c"),
                                         "02_c": peer_chapter("c", "b")},
                     budgets={"00": 100, "01": 50, "02": 50}, cores={"00": 2})
    out = tmp_path / "out"
    assert runner.main(["--book", str(path), "build", "--jobs", "2", "--out", str(out), "--no-html",
                        "--reference-s", "1"]) == 0
    seen = {n: json.loads((marks / f"{n}.json").read_text()) for n in ("wide", "b", "c")}
    assert seen["b"]["saw_peer"] and seen["c"]["saw_peer"], f"the two 1-core chapters did not run together: {seen}"
    others = [n for n in seen["wide"]["at_start"] + seen["wide"]["at_end"] if not n.startswith("wide.")]
    assert others == [], (
        f"the 2-core chapter (longest budget: first) overlapped another: {seen}")
    assert {"wide.start", "wide.end", "wide.json"} <= set(seen["b"]["at_start"])
    report = read_report(out)
    assert report["jobs"] == 2 and report["ok"] and report["wall_seconds"] > 0
    assert [c["id"] for c in report["chapters"]] == ["00", "01", "02"], "the report lists book order"
    wide, b, c = report["chapters"]
    assert wide["finished_s"] <= min(b["started_s"], c["started_s"])
    assert max(b["started_s"], c["started_s"]) < min(b["finished_s"], c["finished_s"])


@pytest.mark.slow
def test_relative_budgets_are_judged_with_a_measured_reference(tmp_path, capsys):
    path = make_book(tmp_path, {"00_slow": OK_CHAPTER, "01_fine": OK_CHAPTER}, budgets={"00": 0.01, "01": 10000})
    out = tmp_path / "out"
    assert runner.main(["--book", str(path), "build", "--strict-budget", "--jobs", "2", "--out", str(out),
                        "--no-html"]) == 1
    report = read_report(out)
    assert report["reference_measured"] is True and report["complete"] is True and report["ok"] is False
    start, end = report["reference_start_s"], report["reference_end_s"]
    assert start > 0 and end > 0 and report["reference_samples"] >= 2
    assert report["reference_s"] > 0  # the median of every timing (start, probes, end)
    assert report["reference_cpu_s"] > 0
    slow, fine = report["chapters"]
    for entry in (slow, fine):
        assert entry["status"] == "ok" and entry["seconds"] > 0
        # judged by CPU seconds over the reference's CPU seconds while the chapter ran
        assert entry["relative_basis"] == "cpu" and entry["reference_cpu_s"] > 0
        assert entry["relative"] == pytest.approx(entry["cpu_seconds"] / entry["reference_cpu_s"], abs=0.01)
        assert entry["relative_wall"] == pytest.approx(entry["seconds"] / entry["reference_s"], abs=0.01)
        assert entry["timeout_s"] >= 60
        assert 0 < entry["cpu_seconds"], "the kernel's CPU time (load-independent) is recorded"
    assert slow["over_budget"] and slow["over_limit"] and slow["limit"] == pytest.approx(0.0125)
    assert not fine["over_budget"] and not fine["over_limit"]
    assert "FAILED: chapter(s) took longer than relative_budget x 1.25" in capsys.readouterr().err


def start_build(path: Path, out: Path, env_dir: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "BOOK_TEST_DIR": str(env_dir)}
    return subprocess.Popen([sys.executable, "-m", "mmlib.course.book", "--book", str(path), "build", "--out", str(out),
                             "--reference-s", "1", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_leaves_a_report_marking_the_unfinished_chapter_and_the_previous_files_whole(tmp_path, monkeypatch):
    flags = tmp_path / "flags"
    flags.mkdir()
    monkeypatch.setenv("BOOK_TEST_DIR", str(flags))
    path = make_book(tmp_path / "book", {"00_quick": OK_CHAPTER, "01_sleepy": SLEEPY_CHAPTER})
    out = tmp_path / "out"
    assert runner.main(["--book", str(path), "build", "--out", str(out), "--reference-s", "1", "--jobs", "2"]) == 0
    before = snapshot(out / "notebooks"), snapshot(out / "html")

    (flags / "sleep.flag").write_text("")
    proc = start_build(path, out, flags, "--jobs", "1")
    try:
        wait_for(lambda: (flags / "kernel.pid").exists(), 180, "chapter 01's kernel to start sleeping")
        kernel, worker = map(int, (flags / "kernel.pid").read_text().split())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    report = read_report(out)
    assert report["ok"] is False and report["complete"] is False
    assert [c["status"] for c in report["chapters"]] == ["ok", "pending"]
    assert "started_s" in report["chapters"][1] and "finished_s" not in report["chapters"][1]
    notebooks = snapshot(out / "notebooks")
    assert notebooks["01_sleepy.ipynb"] == before[0]["01_sleepy.ipynb"], "the killed chapter's notebook was replaced"
    nbformat.reads(notebooks["00_quick.ipynb"].decode(), as_version=4)  # finished before the kill: whole
    assert {n for n in notebooks if not n.startswith(".")} == set(before[0])
    assert snapshot(out / "html") == before[1], "the killed build touched the previous html/"
    wait_for(lambda: pid_gone(worker) and pid_gone(kernel), 30, "the killed build's worker and kernel to exit")

    (flags / "sleep.flag").unlink()
    assert runner.main(["--book", str(path), "build", "--out", str(out), "--reference-s", "1", "--jobs", "2"]) == 0
    report = read_report(out)
    assert report["ok"] and [c["status"] for c in report["chapters"]] == ["ok", "ok"]
    leftovers = [p.name for p in [*out.iterdir(), *(out / "notebooks").iterdir()] if p.name.startswith(".")]
    assert not leftovers, f"temporary files of the killed build were not cleaned: {leftovers}"


@pytest.mark.slow
def test_sigterm_marks_the_running_chapter_interrupted_and_stops_its_kernel(tmp_path):
    flags = tmp_path / "flags"
    flags.mkdir()
    (flags / "sleep.flag").write_text("")
    path = make_book(tmp_path / "book", {"00_sleepy": SLEEPY_CHAPTER, "01_never": OK_CHAPTER})
    out = tmp_path / "out"
    proc = start_build(path, out, flags, "--jobs", "1")
    try:
        wait_for(lambda: (flags / "kernel.pid").exists(), 180, "chapter 00's kernel to start sleeping")
        kernel, worker = map(int, (flags / "kernel.pid").read_text().split())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    report = read_report(out)
    assert report["ok"] is False and report["interrupted"] is True
    assert [c["status"] for c in report["chapters"]] == ["interrupted", "not run"]
    assert not (out / "html").exists() and not list(out.glob(".html*")), "no half-built site is left"
    assert not (out / "notebooks" / "00_sleepy.ipynb").exists()
    wait_for(lambda: pid_gone(worker) and pid_gone(kernel), 30, "the worker and kernel to exit")


STALLS_ONCE = '''\
# %% tags=["parameters"]
MARK = ""

# %%
import os, pathlib, time
mark = pathlib.Path(MARK)
if not mark.exists():  # the first run sits idle (a stalled kernel); the retry does not
    mark.write_text("stalled once")
    time.sleep(30)
print("done")
'''

BUSY_TOO_LONG = '''\
# %% tags=["parameters"]
X = 1

# %%
import time
end = time.perf_counter() + 30
while time.perf_counter() < end:  # CPU-bound past the time-out: slow code, not a stall
    pass
'''


@pytest.mark.slow
def test_a_stalled_kernel_is_retried_once_and_slow_code_is_not(tmp_path, monkeypatch):
    mark = tmp_path / "stalled.mark"
    path = make_book(tmp_path, {"00_stalls": STALLS_ONCE.replace('MARK = ""', f'MARK = "{mark}"'),
                                "01_busy": BUSY_TOO_LONG})
    monkeypatch.setattr(runner, "cell_timeout", lambda *args: 4)
    out = tmp_path / "out"
    code = runner.main(["--book", str(path), "build", "--keep-going", "--jobs", "2", "--out", str(out),
                        "--no-html", "--reference-s", "1"])
    report = read_report(out)
    stalled, busy = report["chapters"]
    assert stalled["status"] == "ok" and "cell" in stalled["retried"], stalled
    assert stalled["retried"]["cpu_seconds"] < 0.25 * stalled["retried"]["seconds"]
    assert busy["status"] == "failed" and busy["error"]["ename"] == "CellTimeoutError"
    assert "retried" not in busy, "a CPU-bound cell that runs past its time-out is slow code: no retry"
    assert code == 1


def test_kernel_did_not_start_is_told_apart_from_a_failing_cell():
    died = {"status": "failed", "error": {"cell": None, "ename": "RuntimeError",
                                         "evalue": "Kernel died before replying to kernel_info"}}
    assert runner._kernel_did_not_start(died)
    cell_error = {"status": "failed", "error": {"cell": 3, "ename": "RuntimeError", "evalue": "Kernel died"}}
    assert not runner._kernel_did_not_start(cell_error), "an error in a cell is the chapter's own"
    no_language = {"status": "failed", "error": {"cell": None, "ename": "ValueError", "evalue": "No language found"}}
    assert not runner._kernel_did_not_start(no_language)
    assert not runner._kernel_did_not_start({"status": "ok", "error": None})


@pytest.mark.slow
def test_a_kernel_that_died_at_start_is_retried_once(tmp_path, monkeypatch):
    path = make_book(tmp_path, {"00_fine": '# %% tags=["parameters"]\nX = 1\n\n# %%\nprint("fine", X)\n'})
    real = runner._worker_result
    calls = []

    def first_kernel_dies(proc, result, ch, out):
        calls.append(ch.id)
        got = real(proc, result, ch, out)
        if len(calls) == 1:  # what the worker reports when its kernel dies while starting
            return got | {"status": "failed", "error": {"cell": None, "source": "", "ename": "RuntimeError",
                                                        "evalue": "Kernel died before replying to kernel_info"}}
        return got

    monkeypatch.setattr(runner, "_worker_result", first_kernel_dies)
    out = tmp_path / "out"
    code = runner.main(["--book", str(path), "build", "--out", str(out), "--no-html", "--reference-s", "1"])
    [entry] = read_report(out)["chapters"]
    assert code == 0 and entry["status"] == "ok", entry
    assert entry["retried"]["reason"] == "kernel died at start" and calls == ["00", "00"]
