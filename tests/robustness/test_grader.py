"""The exercise grader under bad learner code and faults (issue 13, items 1 and 7).

``CASES`` is the table: each row writes a learner's version of exercise 00 (the real stub
with edits) or a pair of files to the test's temporary folder, runs the grader's command
line in this process (``main([...])``, which grades in child processes) and asserts the
exit status, fragments of the report (the task's ``[fail]`` line and the hint naming what
happened) and that it finished within its time limit. Hanging cases use a 2 s limit.
Then: the in-kernel path (``grade_namespace``) and the time-limit settings. (A real
``python -m mmlib.course.exercises`` process on ``sys.exit(0)`` / ``os._exit(0)`` is tested in
``tests/test_exercises.py``, which starts one anyway.)
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jupytext
import pytest
import torch

from mmlib.course.exercises import (DEFAULT_TIMEOUT, FAIL, NOT_DONE, PASS, TIMEOUT_ENV, exercise_paths,
                             grade_namespace, resolve_timeout)
from mmlib.course.exercises.__main__ import main
from mmlib.course.exercises.pairing import choose_notebook, guard

STUB = exercise_paths("00").stub.read_text()
T1 = 'raise NotImplementedError("Task 1: accuracy")'
T2 = 'raise NotImplementedError("Task 2: softmax minus one-hot")'
RIGHT1 = "return (logits.argmax(dim=1) == labels).float().mean().item()"
RIGHT2 = "return torch.softmax(logits, dim=1) - torch.nn.functional.one_hot(labels, logits.shape[1]).float()"
LIMIT = 2  # seconds per cell and per task in the table


def task1(body: str, *, task2: str | None = None) -> str:
    """The stub with task 1's ``raise`` replaced by ``body`` (lines after the first indented)."""
    text = STUB.replace(T1, body.replace("\n", "\n    "))
    return text.replace(T2, task2.replace("\n", "\n    ")) if task2 else text


def new_cell(code: str, body: str | None = None) -> str:
    """The stub with a cell of its own after ``import torch`` (and task 1 optionally answered)."""
    text = STUB if body is None else task1(body)
    return text.replace("# %%\nimport torch\n", f"# %%\nimport torch\n\n# %%\n{code}\n", 1)


Run = Callable[[Path, pytest.CaptureFixture, pytest.MonkeyPatch], int]


def cli(text: str, *extra: str, suffix: str = ".py", timeout: float = LIMIT,
        cell_timeout: float | None = LIMIT) -> Run:
    """Write ``text`` as the learner's notebook and grade it with the command line."""
    if cell_timeout is not None:
        extra = ("--cell-timeout", str(cell_timeout), *extra)
    def run(tmp_path: Path, capsys, monkeypatch) -> int:
        path = tmp_path / f"mine{suffix}"
        if suffix == ".ipynb":
            jupytext.write(jupytext.reads(text, fmt="py:percent"), path)
        else:
            path.write_text(text)
        return main(["check", "00", str(path), "--timeout", str(timeout), *extra])
    return run


def cli_args(*argv: str, env: dict[str, str] | None = None) -> Run:
    def run(tmp_path: Path, capsys, monkeypatch) -> int:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        return main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    return run


def corrupt_ipynb(tmp_path: Path, capsys, monkeypatch) -> int:
    bad = tmp_path / "mine.ipynb"
    bad.write_text('{"cells": [ this is not json')
    return main(["check", "00", str(bad)])


def _pair(tmp_path: Path, ipynb_text: str, py_text: str, py_newer: bool) -> Path:
    stub = tmp_path / "00_how_to_use.py"
    stub.write_text(py_text)
    ipynb = stub.with_suffix(".ipynb")
    jupytext.write(jupytext.reads(ipynb_text, fmt="py:percent"), ipynb)
    now = time.time()
    os.utime(stub, (now, now + (60 if py_newer else -60)))
    return stub


def stale_ipynb_graded_on_request(tmp_path: Path, capsys, monkeypatch) -> int:
    """The learner's answer is in the .ipynb; a newer .py (git pull) differs: warn, name both."""
    stub = _pair(tmp_path, task1(RIGHT1), STUB, py_newer=True)
    return main(["check", "00", str(stub.with_suffix(".ipynb")), "--timeout", str(LIMIT)])


def newer_py_chosen_by_default(tmp_path: Path, capsys, monkeypatch) -> int:
    stub = _pair(tmp_path, STUB, task1(RIGHT1), py_newer=True)
    path, notes, warnings = choose_notebook(stub)
    print(f"chose {path.name}", *notes, *warnings, sep="\n")
    return 0 if path == stub else 1


def newer_ipynb_chosen_by_default(tmp_path: Path, capsys, monkeypatch) -> int:
    stub = _pair(tmp_path, task1(RIGHT1), STUB, py_newer=False)
    path, notes, warnings = choose_notebook(stub)
    print(f"chose {path.name}", *notes, *warnings, sep="\n")
    return 0 if path == stub.with_suffix(".ipynb") else 1


def guard_backs_up_the_notebook(tmp_path: Path, capsys, monkeypatch) -> int:
    """git pull rewrote the .py: the learner's .ipynb is copied to backup/, twice is once."""
    stub = _pair(tmp_path, task1(RIGHT1), STUB, py_newer=True)
    first = guard([stub], tmp_path)
    second = guard([stub], tmp_path)
    backups = list((tmp_path / "backup").glob("00_how_to_use.*.ipynb"))
    print(*first, *second, sep="\n")
    restored = jupytext.read(backups[0]) if len(backups) == 1 else None
    return 0 if restored is not None and RIGHT1 in "".join(c.source for c in restored.cells) else 1


def guard_backs_up_the_py_when_the_notebook_is_newer(tmp_path: Path, capsys, monkeypatch) -> int:
    stub = _pair(tmp_path, task1(RIGHT1), STUB, py_newer=False)
    print(*guard([stub], tmp_path), sep="\n")
    backups = list((tmp_path / "backup").glob("00_how_to_use.*.py"))
    return 0 if len(backups) == 1 and backups[0].read_text() == STUB else 1


def guard_quiet_when_in_sync(tmp_path: Path, capsys, monkeypatch) -> int:
    stub = _pair(tmp_path, STUB, STUB, py_newer=True)
    messages = guard([stub], tmp_path)
    return 0 if not messages and not (tmp_path / "backup").exists() else 1


def _running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" not in status.read_text()
    except OSError:
        return False


def grandchild_is_killed_with_the_child(tmp_path: Path, capsys, monkeypatch) -> int:
    """A task that starts a long-running process: it ends with the grading child."""
    pid_file = tmp_path / "pid"
    body = ("import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
            "while True:\n    time.sleep(1)")
    rc = cli(task1(body))(tmp_path, capsys, monkeypatch)
    pid = int(pid_file.read_text())
    for _ in range(50):
        if not _running(pid):
            return rc
        time.sleep(0.1)
    os.kill(pid, 9)
    print(f"process {pid} survived the grading")
    return -1


@dataclass(frozen=True)
class Case:
    run: Run
    rc: int
    expect: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    within: float = 60.0  # seconds: generous on a loaded 2-core machine; a hang would be forever


F1 = "[fail] Task 1"
P1 = "[pass] Task 1"
SEGV = "import ctypes\nctypes.string_at(0)"

CASES = [
    # -- a task body ends the process or runs forever: fail for that task, never a pass
    pytest.param(Case(cli(task1("import sys\nsys.exit(0)")), 1, (F1, "called sys.exit(0)"), (P1,)), id="task-sys-exit-0"),
    pytest.param(Case(cli(task1("import sys\nsys.exit(1)")), 1, (F1, "called sys.exit(1)")), id="task-sys-exit-1"),
    pytest.param(Case(cli(task1("raise SystemExit")), 1, (F1, "called sys.exit()")), id="task-raise-SystemExit"),
    pytest.param(Case(cli(task1("import os\nos._exit(0)")), 1, (F1, "os._exit(0)"), (P1,)), id="task-os-_exit-0"),
    pytest.param(Case(cli(task1("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")), 1,
                      (F1, "killed by SIGKILL")), id="task-kills-itself"),
    pytest.param(Case(cli(task1(SEGV)), 1, (F1, "SIGSEGV")), id="task-segfault"),
    pytest.param(Case(cli(task1("while True:\n    pass")), 1, (F1, f"longer than the {LIMIT} s limit"), (P1,),
                      within=LIMIT + 30), id="task-infinite-loop"),
    pytest.param(Case(cli(task1("import time\ntime.sleep(600)")), 1, (F1, f"longer than the {LIMIT} s limit"),
                      within=LIMIT + 30), id="task-sleeps-past-limit"),
    pytest.param(Case(cli(task1("raise KeyboardInterrupt")), 1, (F1, "KeyboardInterrupt")), id="task-KeyboardInterrupt"),
    pytest.param(Case(cli(task1("return 1 / 0")), 1, (F1, "ZeroDivisionError")), id="task-exception"),
    pytest.param(Case(cli(task1("return accuracy(logits, labels)")), 1, (F1, "RecursionError")), id="task-recursion"),
    pytest.param(Case(cli(task1("return input()")), 1, (F1, "EOFError")), id="task-reads-stdin"),
    # -- wrong answers of every shape
    pytest.param(Case(cli(task1('return "0.5"')), 1, (F1,)), id="task-returns-str"),
    pytest.param(Case(cli(task1("return None")), 1, (F1,)), id="task-returns-None"),
    pytest.param(Case(cli(task1('return float("nan")')), 1, (F1,)), id="task-returns-NaN"),
    pytest.param(Case(cli(task1("return [0.5] * 10_000_000")), 1, (F1,)), id="task-returns-huge-list"),
    pytest.param(Case(cli(task1("return 0.5")), 1, (F1,), (P1,)), id="task-hard-coded-constant"),
    # -- a fault in one task does not lose the others' results
    pytest.param(Case(cli(task1("while True:\n    pass", task2=RIGHT2)), 1, (F1, "[pass] Task 2", "limit"),
                      within=LIMIT + 30), id="loop-in-task1-task2-still-graded"),
    pytest.param(Case(cli(task1("import os\nos._exit(0)", task2=RIGHT2)), 1, (F1, "[pass] Task 2")),
                 id="exit-in-task1-task2-still-graded"),
    # -- output: captured and capped, grading goes on
    pytest.param(Case(cli(task1(f"print('x' * 10**6)\n{RIGHT1}")), 1, (P1, "characters of output cut")),
                 id="task-prints-a-megabyte"),
    pytest.param(Case(cli(task1(f"import sys\nfor _ in range(20000):\n    print('e' * 100, file=sys.stderr)\n{RIGHT1}")),
                      1, (P1, "characters of output cut")), id="task-floods-stderr"),
    pytest.param(Case(cli(task1(f"import os\nos.write(1, b'x' * 10**6)\n{RIGHT1}")), 1, (P1,)), id="task-writes-fd-1"),
    pytest.param(Case(cli(task1(f"import threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()\n{RIGHT1}")),
                      1, (P1,)), id="task-leaves-a-thread-running"),
    pytest.param(Case(grandchild_is_killed_with_the_child, 1, (F1, "limit"), within=LIMIT + 30),
                 marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
                 id="task-starts-a-process-that-outlives-it"),
    pytest.param(Case(cli(task1("import gc, os\nfrom multiprocessing.connection import Connection\n"
                                "for o in gc.get_objects():\n"
                                "    if isinstance(o, Connection) and not o.closed and o.writable:\n"
                                "        os.write(o.fileno(), b'\\x00\\x00\\x00\\x05hello')\n"
                                "return 0.5")), 1, (F1, "unreadable"), (P1,)), id="task-writes-garbage-to-the-pipe"),
    # -- the notebook's top-level code (cells): the cell is blamed, the rest still graded
    pytest.param(Case(cli(task1("return ((")), 1, (F1, "syntax error", "'(' was never closed")), id="syntax-error-in-task-cell"),
    pytest.param(Case(cli(new_cell("undefined_name + 1")), 1, ("[error] cell 1 raised NameError",)), id="top-level-NameError"),
    pytest.param(Case(cli(new_cell("import sys\nsys.exit(0)", RIGHT1)), 1, ("[error] cell 1", "sys.exit(0)", P1)),
                 id="top-level-sys-exit-0"),
    pytest.param(Case(cli(new_cell("import os\nos._exit(0)", RIGHT1)), 1, ("[error] cell 1", "os._exit(0)", P1)),
                 id="top-level-os-_exit-0"),
    pytest.param(Case(cli(new_cell("while True:\n    pass", RIGHT1)), 1, ("[error] cell 1", "limit", P1),
                      within=LIMIT + 30), id="top-level-infinite-loop"),
    pytest.param(Case(cli(new_cell(SEGV, RIGHT1)), 1, ("[error] cell 1", "SIGSEGV", P1)), id="top-level-segfault"),
    pytest.param(Case(cli(new_cell("raise KeyboardInterrupt")), 1, ("[error] cell 1 raised KeyboardInterrupt",)),
                 id="top-level-KeyboardInterrupt"),
    pytest.param(Case(cli(new_cell("del accuracy"), suffix=".py"), 1, ("[not done yet] Task 1",)), id="learner-deletes-the-function"),
    pytest.param(Case(cli(task1("import sys\nsys.exit(0)"), suffix=".ipynb"), 1, (F1, "sys.exit(0)")), id="ipynb-sys-exit"),
    pytest.param(Case(cli(new_cell("import time\ntime.sleep(1.5)", f"import time\ntime.sleep(1.5)\n{RIGHT1}"),
                          timeout=0.5, cell_timeout=None), 1, (F1, "longer than the 0.5 s limit"), ("[error]",)),
                 id="cells-get-10x-the-task-limit"),
    # -- tampering cannot make a check pass
    pytest.param(Case(cli(new_cell("torch.allclose = lambda *a, **k: True").replace(T2, "return torch.zeros(1)")), 1,
                      ("[fail] Task 2", "replaced torch.allclose")), id="patch-torch-allclose"),
    pytest.param(Case(cli(new_cell("import builtins\nbuiltins.isinstance = lambda *a: True", 'return "0.5"')), 1,
                      (F1, "replaced builtins.isinstance")), id="patch-builtins-isinstance"),
    pytest.param(Case(cli(task1("import builtins\nbuiltins.abs = lambda x: 0.0\nreturn 0.5")), 1,
                      (F1, "replaced builtins.abs while the check ran")), id="patch-builtins-during-task"),
    pytest.param(Case(cli(new_cell("import mmlib.course.exercises as m\nm.FAIL = m.PASS", "return 0.5")), 1,
                      (F1, "replaced mmlib.course.exercises.FAIL"), (P1,)), id="tamper-FAIL-constant"),
    pytest.param(Case(cli(new_cell("import mmlib.course.exercises as m\nm.run_task = lambda c, f: ('pass', '')", "return 0.5")),
                      1, (F1, "replaced mmlib.course.exercises.run_task"), (P1,)), id="tamper-run_task"),
    pytest.param(Case(cli(new_cell("import sys\nfor k in list(sys.modules):\n    if k.startswith('mmlib_exercise_checks'):\n"
                                   "        sys.modules[k].CHECKS.clear()", "return 0.5")), 1, (F1, "Task 3"), (P1,)),
                 id="clear-the-checks"),
    pytest.param(Case(cli(new_cell("import gc\nfor o in gc.get_objects():\n"
                                   "    if type(o) is type(lambda: 0) and o.__name__ == 'check_accuracy':\n"
                                   "        o.__code__ = (lambda f: None).__code__", "return 0.5")), 1,
                      (F1, "check_accuracy.__code__"), (P1,)), id="replace-a-check's-code"),
    # -- bad input to the command line
    pytest.param(Case(cli_args("check", "00", "{tmp}/missing.ipynb"), 2, ("no exercise notebook at", "missing.ipynb")),
                 id="missing-file"),
    pytest.param(Case(cli_args("check", "99"), 2, ("unknown exercise '99'", "valid exercises: 00")), id="unknown-exercise"),
    pytest.param(Case(corrupt_ipynb, 2, ("cannot read the notebook", "mine.ipynb")), id="corrupt-ipynb"),
    pytest.param(Case(cli_args("check", "00", "{tmp}/x.py", env={TIMEOUT_ENV: "soon"}), 2,
                      (f"${TIMEOUT_ENV}='soon' is not a number",)), id="bad-timeout-env"),
    pytest.param(Case(cli_args("check", "00", "{tmp}/x.py", env={TIMEOUT_ENV: "-3"}), 2,
                      (f"${TIMEOUT_ENV}=-3.0 must be a positive",)), id="negative-timeout-env"),
    pytest.param(Case(cli("", suffix=".py"), 1, ("[not done yet] Task 1", "0 of 3 tasks pass")), id="empty-notebook"),
    # -- the .py/.ipynb pair
    pytest.param(Case(stale_ipynb_graded_on_request, 1, ("warning:", "00_how_to_use.ipynb and", "00_how_to_use.py is newer", P1)), id="stale-ipynb-vs-newer-py"),
    pytest.param(Case(newer_py_chosen_by_default, 0, ("chose 00_how_to_use.py", "the newer of the pair", "differ in code")),
                 id="default-grades-the-newer-py"),
    pytest.param(Case(newer_ipynb_chosen_by_default, 0, ("chose 00_how_to_use.ipynb", "the newer of the pair")),
                 id="default-grades-the-newer-ipynb"),
    pytest.param(Case(guard_backs_up_the_notebook, 0, ("Your notebook was backed up to", "already backed up in",
                                                       "To restore it: cp")), id="guard-backs-up-ipynb"),
    pytest.param(Case(guard_backs_up_the_py_when_the_notebook_is_newer, 0, ("JupyterLab will refuse", "jupytext --sync")),
                 id="guard-backs-up-py"),
    pytest.param(Case(guard_quiet_when_in_sync, 0), id="guard-in-sync-does-nothing"),
]


@pytest.mark.parametrize("case", CASES)
def test_grader_fault(case: Case, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    start = time.monotonic()
    rc = case.run(tmp_path, capsys, monkeypatch)
    elapsed = time.monotonic() - start
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert rc == case.rc, text
    for fragment in case.expect:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    for fragment in case.absent:
        assert fragment not in text, f"{fragment!r} in:\n{text}"
    assert "Traceback" not in text
    assert elapsed < case.within, f"took {elapsed:.1f} s"


def test_kernel_namespace_faults_fail_and_other_tasks_survive():
    """``check("00")`` in a kernel: the functions are graded in a forked child."""
    def leave(logits, labels):
        os._exit(0)

    def right(logits, labels):
        return torch.softmax(logits, dim=1) - torch.nn.functional.one_hot(labels, logits.shape[1]).float()

    def spin(logits, labels):
        while True:
            pass

    start = time.monotonic()
    results = {r.task: r for r in grade_namespace("00", {"accuracy": leave, "softmax_minus_onehot": right,
                                                         "per_modality_accuracy": spin}, timeout=LIMIT)}
    assert results["accuracy"].status == FAIL and "os._exit(0)" in results["accuracy"].message
    assert results["softmax_minus_onehot"].status == PASS
    assert results["per_modality_accuracy"].status == FAIL and "limit" in results["per_modality_accuracy"].message
    assert time.monotonic() - start < LIMIT + 30


def test_kernel_with_patched_torch_is_refused(monkeypatch):
    """A kernel whose ``torch.allclose`` was replaced before ``check()``: every task fails."""
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    results = grade_namespace("00", {"softmax_minus_onehot": lambda z, y: torch.zeros(1)}, timeout=10)
    assert [r.status for r in results] == [FAIL] * 3
    assert all("grading refused" in r.message and "torch.allclose" in r.message for r in results)


def test_untouched_stub_stays_not_done_yet():
    def stub(logits, labels):
        raise NotImplementedError("Task 1: accuracy")

    results = grade_namespace("00", {"accuracy": stub})
    assert results[0].status == NOT_DONE and results[1].status == NOT_DONE


@pytest.mark.parametrize("given, env, expected", [(None, None, DEFAULT_TIMEOUT), (None, "7.5", 7.5), (3, "7.5", 3.0)],
                         ids=["default", "env", "argument-wins"])
def test_timeout_resolution(given, env, expected, monkeypatch):
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(TIMEOUT_ENV, env)
    assert resolve_timeout(given) == expected


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "5", True])
def test_bad_timeout_argument_is_named(bad):
    with pytest.raises(ValueError, match=r"timeout=.*positive"):
        resolve_timeout(bad)


def test_bad_timeout_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "00", "--timeout", "0"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--timeout: '0': give a positive number of seconds" in err
