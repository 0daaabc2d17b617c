"""The benchmark under bad input and faults (issue 13, items 3 and 7).

Three tables, each a module-level list fed to ``pytest.mark.parametrize``:

- ``API_CASES``: bad input to :func:`mmlib.benchmark.benchmark`; each raises its error
  (type and a message naming the bad thing and the valid choices) before anything trains
  and before a log is written;
- ``CLI_CASES``: bad command lines of ``python -m mmlib.benchmark``; each exits with status
  2 and the reason on stderr, no traceback, nothing trained;
- ``LOG_CASES``: damaged run logs; every valid row is kept, every bad line is skipped with
  a warning naming its line number.

Then the faults: a benchmark killed with SIGKILL (its workers die with it, a second writer
is refused while it runs, and the rerun completes the log to exactly the rows of an
uninterrupted run), two writers in one process, waiting for the lock, the lock-file
fallback without fcntl, and the portable parent watch of a worker.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import pandas as pd
import pytest

import mmlib.benchmark as B
import mmlib.benchmark.log as L
import mmlib.benchmark.pool as P
from mmlib import data as D
from mmlib.methods import Method

FIT = {"epochs": 1, "batch_size": 32}
TMP = "{tmp}"  # replaced by the test's own temporary folder


@pytest.fixture(scope="module")
def tiny():
    return D.load("synthetic", n_samples=90)


@pytest.fixture
def nothing_trains(monkeypatch):
    """Fail the test if any run starts training."""
    def refuse(*args, **kwargs):
        raise AssertionError("a run started training although the input was bad")

    monkeypatch.setattr(P, "_run_one", refuse)
    monkeypatch.setattr(P, "_warm_up", refuse)


class NotAMethod:
    name = "not_a_method"


# --------------------------------------------------------------------------- bad input to benchmark()
# (id, arguments replacing the good call's, error type, message pattern)
API_CASES = [
    # methods
    ("method-unknown-name", {"methods": ["not_a_method"]}, KeyError, r"unknown .*'not_a_method'.*valid names"),
    ("methods-a-string", {"methods": "baseline"}, TypeError, r"got the string 'baseline'; write \['baseline'\]"),
    ("methods-empty-list", {"methods": []}, ValueError, r"methods is empty.*None for every registered method"),
    ("methods-empty-dict", {"methods": {}}, ValueError, r"methods is empty"),
    ("methods-listed-twice", {"methods": ["baseline", "ogm_ge", "baseline"]}, ValueError,
     r"\['baseline'\] listed more than once"),
    ("method-not-a-method", {"methods": {"x": 42}}, TypeError,
     r"method 'x': expected a registered name or a Method subclass"),
    ("method-class-not-a-method", {"methods": {"x": NotAMethod}}, TypeError, r"method 'x'.*Method subclass"),
    ("methods-a-bare-class", {"methods": Method}, TypeError, r"got the class Method; write \[Method\]"),
    ("method-unknown-hyperparameter", {"methods": {"x": ("ogm_ge", {"nope": 1})}}, TypeError, r"nope.*valid"),
    ("method-tuple-of-one", {"methods": {"x": ("baseline",)}}, TypeError, r"method 'x': expected \(name or Method"),
    ("method-hyperparameters-a-list", {"methods": {"x": ("ogm_ge", [0.1])}}, TypeError, r"method 'x': expected \("),
    ("method-label-not-a-string", {"methods": {1: "baseline"}}, TypeError, r"label must be a non-empty string, got 1"),
    ("methods-a-number", {"methods": 3}, TypeError, r"methods must be a list .*got 3"),
    # data sets
    ("dataset-unknown-name", {"datasets": ["nope"]}, KeyError, r"unknown data set 'nope'; valid names: \[.*synthetic"),
    ("datasets-a-string", {"datasets": "synthetic"}, TypeError, r"got the string 'synthetic'; write \['synthetic'\]"),
    ("datasets-empty-list", {"datasets": []}, ValueError, r"datasets is empty.*valid names"),
    ("datasets-empty-dict", {"datasets": {}}, ValueError, r"datasets is empty"),
    ("datasets-listed-twice", {"datasets": ["synthetic", "synthetic"]}, ValueError, r"\['synthetic'\] listed more"),
    ("dataset-spec-a-number", {"datasets": {"x": 3}}, TypeError,
     r"dataset 'x': expected a MultimodalDataset, a loader"),
    ("dataset-tuple-unknown-name", {"datasets": {"x": ("nope", {})}}, KeyError,
     r"dataset 'x': unknown data set 'nope'"),
    ("dataset-options-not-a-mapping", {"datasets": {"x": ("synthetic", ["n_samples"])}}, TypeError, r"dataset 'x'"),
    ("dataset-label-empty", {"datasets": {"": "synthetic"}}, TypeError, r"label must be a non-empty string"),
    ("dataset-unknown-loader-option", {"datasets": {"x": ("synthetic", {"nope": 1})}}, TypeError,
     r"unknown option.*nope.*valid options"),
    ("datasets-a-number", {"datasets": 7}, TypeError, r"datasets must be a list of names or a mapping"),
    # seeds
    ("seeds-empty", {"seeds": []}, ValueError, r"seeds is empty"),
    ("seeds-duplicate", {"seeds": [0, 1, 0]}, ValueError, r"seeds \[0\] listed more than once"),
    ("seed-a-float", {"seeds": [0.5]}, TypeError, r"seeds must be non-negative integers below 2\*\*63, got 0.5 \(float\)"),
    ("seed-a-whole-float", {"seeds": [1.0]}, TypeError, r"seeds must be non-negative integers below 2\*\*63, got 1.0"),
    ("seed-a-string", {"seeds": ["0"]}, TypeError, r"seeds must be non-negative integers below 2\*\*63, got '0' \(str\)"),
    ("seed-a-bool", {"seeds": [True]}, TypeError, r"got True \(bool\)"),
    ("seed-none", {"seeds": [None]}, TypeError, r"got None"),
    ("seed-negative", {"seeds": [-1]}, ValueError, r"non-negative integers below 2\*\*63, got -1"),
    ("seed-too-large", {"seeds": [2**64]}, ValueError, r"below 2\*\*63"),
    ("seeds-an-int", {"seeds": 3}, TypeError,
     r"seeds must be a list of non-negative integers, e.g. \[0, 1, 2\], got 3"),
    ("seeds-a-string", {"seeds": "012"}, TypeError, r"seeds must be a list"),
    # workers
    ("workers-zero", {"workers": 0}, ValueError, r"workers must be an int >= 1, got 0"),
    ("workers-negative", {"workers": -2}, ValueError, r"workers must be an int >= 1"),
    ("workers-a-float", {"workers": 1.5}, TypeError, r"workers must be an int >= 1, got 1.5 \(float\)"),
    ("workers-a-string", {"workers": "2"}, TypeError, r"workers must be an int >= 1, got '2'"),
    ("workers-a-bool", {"workers": True}, TypeError, r"got True \(bool\)"),
    ("workers-none", {"workers": None}, TypeError, r"got None"),
    # out
    ("out-under-a-file", {"out": f"{TMP}/a_file/x.csv"}, ValueError, r"cannot create its folder"),
    ("out-is-a-folder", {"out": f"{TMP}/a_folder"}, ValueError, r"is a folder; give the table's file path"),
    ("out-is-the-log", {"out": f"{TMP}/results.jsonl"}, ValueError, r"cannot end in \.jsonl"),
    ("out-is-a-lock", {"out": f"{TMP}/results.lock"}, ValueError, r"cannot end in \.lock"),
    ("out-a-number", {"out": 5}, TypeError, r"out must be a path to the table \(.csv\) or None, got 5"),
    ("out-empty-string", {"out": ""}, TypeError, r"out must be a path"),
    ("out-whose-log-is-a-folder", {"out": f"{TMP}/log_folder.csv"}, ValueError,
     r"log_folder.jsonl exists and is not a file"),
    # fit options
    ("fit-unknown-option", {"epoch": 3}, TypeError, r"unknown fit option 'epoch'; valid options: \[.*'epochs'"),
    ("fit-seed-option", {"seed": 1}, TypeError, r"'seed' cannot be a fit option.*seeds"),
    ("fit-method-kw-option", {"method_kw": {}}, TypeError, r"'method_kw' cannot be a fit option"),
    ("epochs-zero", {"epochs": 0}, ValueError, r"epochs must be an int >= 1, got 0"),
    ("epochs-negative", {"epochs": -3}, ValueError, r"epochs must be an int >= 1"),
    ("epochs-a-float", {"epochs": 1.5}, TypeError, r"epochs must be an int >= 1, got 1.5"),
    ("epochs-a-string", {"epochs": "3"}, TypeError, r"epochs must be an int >= 1, got '3'"),
    ("epochs-a-bool", {"epochs": True}, TypeError, r"epochs .*got True"),
    ("lr-zero", {"lr": 0.0}, ValueError, r"lr must be a finite number > 0, got 0.0"),
    ("lr-negative", {"lr": -0.1}, ValueError, r"lr must be a finite number > 0"),
    ("lr-nan", {"lr": math.nan}, ValueError, r"lr must be a finite number > 0, got nan"),
    ("lr-inf", {"lr": math.inf}, ValueError, r"got inf"),
    ("lr-a-string", {"lr": "0.1"}, TypeError, r"lr must be a finite number > 0, got '0.1' \(str\)"),
    ("batch-size-zero", {"batch_size": 0}, ValueError, r"batch_size must be an int >= 1"),
    ("weight-decay-negative", {"weight_decay": -1e-4}, ValueError, r"weight_decay must be a finite number >= 0"),
    ("optimizer-unknown", {"optimizer": "sgdd"}, KeyError,
     r"unknown optimizer 'sgdd'; valid: \['adam', 'adamw', 'sgd'\]"),
    ("fusion-unknown", {"fusion": "nope"}, KeyError, r"unknown fusion 'nope'; valid: \["),
    ("optimizer-a-list", {"optimizer": ["sgd"]}, TypeError, r"optimizer must be one of \['adam', 'adamw', 'sgd'\]"),
    ("select-unknown", {"select": "test"}, KeyError, r"unknown select 'test'; valid: \['last', 'val'\]"),
    ("on-nonfinite-unknown", {"on_nonfinite": "ignore"}, KeyError, r"unknown on_nonfinite 'ignore'; valid: "
     r"\['raise', 'record'\]"),
    ("progress-a-number", {"progress": 5}, TypeError, r"progress must be None or True or False, got 5"),
    ("callback-not-callable", {"callback": "print"}, TypeError, r"callback must be None or a function"),
    ("feature-dim-zero", {"feature_dim": 0}, ValueError, r"feature_dim must be an int >= 1"),
    # the rest
    ("on-row-not-callable", {"on_row": 5}, TypeError, r"on_row must be a function of one row"),
    ("wait-negative", {"wait_for_lock": -1}, ValueError,
     r"wait_for_lock must be True or False or a number of seconds >= 0, got -1"),
    ("wait-a-string", {"wait_for_lock": "yes"}, TypeError, r"wait_for_lock must be .*, got 'yes' \(str\)"),
    ("wait-nan", {"wait_for_lock": math.nan}, ValueError, r"wait_for_lock must be"),
]


def _fill(value, tmp: Path):
    return value.replace(TMP, str(tmp)) if isinstance(value, str) else value


@pytest.mark.parametrize("case, change, error, message", API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_input_to_benchmark_is_a_clear_error_before_anything_trains(case, change, error, message, tiny, tmp_path,
                                                                         nothing_trains):
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "log_folder.jsonl").mkdir()
    arguments = {"datasets": {"toy": tiny}, "methods": ["baseline"], "seeds": [0], "out": tmp_path / "ok.csv", **FIT}
    arguments.update({k: _fill(v, tmp_path) for k, v in change.items()})
    datasets, methods, seeds = arguments.pop("datasets"), arguments.pop("methods"), arguments.pop("seeds")
    with pytest.raises(error, match=message):
        B.benchmark(datasets, methods, seeds, **arguments)
    assert [p.name for p in tmp_path.rglob("*.jsonl") if p.is_file()] == []  # no log written
    assert not list(tmp_path.rglob("*.lock"))  # and no lock left behind


# --------------------------------------------------------------------------- bad command lines
CLI_GOOD = ["--methods", "baseline", "--datasets", "synthetic", "--seeds", "0", "--epochs", "1",
            "--option", "synthetic:n_samples=90"]
# (id, arguments added to (or replacing) the good command line, pattern of stderr)
CLI_CASES = [
    ("epochs-zero", ["--epochs", "0"], r"epochs must be an int >= 1, got 0"),
    ("epochs-negative", ["--epochs", "-1"], r"epochs must be an int >= 1"),
    ("epochs-not-a-number", ["--epochs", "abc"], r"--epochs: invalid int value: 'abc'"),
    ("epochs-a-float", ["--epochs", "1.5"], r"--epochs: invalid int value: '1.5'"),
    ("seeds-duplicate", ["--seeds", "0", "0"], r"seeds \[0\] listed more than once"),
    ("seeds-not-a-number", ["--seeds", "x"], r"--seeds: invalid int value: 'x'"),
    ("seeds-negative", ["--seeds", "-1"], r"non-negative"),
    ("workers-zero", ["--workers", "0"], r"workers must be an int >= 1"),
    ("workers-not-a-number", ["--workers", "two"], r"--workers: invalid int value: 'two'"),
    ("methods-unknown", ["--methods", "nope"], r"unknown .*'nope'.*valid names"),
    ("methods-none-given", ["--methods"], r"--methods needs at least one name"),
    ("methods-twice", ["--methods", "baseline", "baseline"], r"listed more than once"),
    ("datasets-unknown", ["--datasets", "nope"], r"unknown data set 'nope'; valid names"),
    ("lr-nan", ["--lr", "nan"], r"lr must be a finite number > 0, got nan"),
    ("lr-zero", ["--lr", "0"], r"lr must be a finite number > 0"),
    ("batch-size-zero", ["--batch-size", "0"], r"batch_size must be an int >= 1"),
    ("optimizer-unknown", ["--optimizer", "nope"], r"unknown optimizer 'nope'; valid"),
    ("option-without-value", ["--option", "synthetic:n_samples"], r"expected DATASET:KEY=VALUE"),
    ("option-of-an-unlisted-dataset", ["--option", "mfeat:x=1"], r"expected DATASET:KEY=VALUE with DATASET in"),
    ("option-unknown-to-the-loader", ["--option", "synthetic:nope=1"], r"unknown option.*nope.*valid options"),
    ("out-under-a-file", ["--out", f"{TMP}/a_file/x.csv"], r"cannot create its folder"),
    ("out-is-the-log", ["--out", f"{TMP}/x.jsonl"], r"cannot end in \.jsonl"),
    ("wait-negative", ["--wait", "-1"], r"wait_for_lock must be"),
    ("wait-not-a-number", ["--wait", "soon"], r"--wait: invalid float value: 'soon'"),
]


def _cli(argv: list[str]) -> int:
    try:
        return B.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        return exit_.code


@pytest.mark.parametrize("case, change, message", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_command_line_exits_2_with_the_reason_and_no_traceback(case, change, message, tmp_path, capsys,
                                                                   nothing_trains):
    (tmp_path / "a_file").write_text("not a folder")
    argv = CLI_GOOD + ["--out", str(tmp_path / "cli.csv")] + [_fill(a, tmp_path) for a in change]
    assert _cli(argv) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.jsonl"))


# --------------------------------------------------------------------------- damaged logs
def _row(seed: int, **extra) -> bytes:
    row = {"dataset": "toy", "method": "baseline", "family": "baseline", "seed": seed, "settings": "abc",
           "status": "ok", "note": "", "test_acc": 0.5 + seed / 10, **extra}
    return (json.dumps(row) + "\n").encode()


# (id, the log's bytes, seeds of the rows kept, patterns of the warnings, in order)
LOG_CASES = [
    ("clean", _row(0) + _row(1), [0, 1], []),
    ("empty-file", b"", [], []),
    ("blank-lines-between-rows", _row(0) + b"\n  \n" + _row(1), [0, 1], []),
    ("garbage-in-the-middle", _row(0) + b"#!@ not json\n" + _row(1), [0, 1], [r"line 2 is not valid JSON"]),
    ("binary-in-the-middle", _row(0) + b"\xff\xfe\x00\x01\n" + _row(1), [0, 1], [r"line 2 is not valid JSON"]),
    ("half-a-row-in-the-middle", _row(0) + _row(1)[:20] + b"\n" + _row(2), [0, 2], [r"line 2 is not valid JSON"]),
    ("torn-last-line", _row(0) + _row(1) + _row(2)[:30], [0, 1], [r"line 3 is incomplete \(a write interrupted"]),
    ("whole-last-row-without-newline", _row(0) + _row(1)[:-1], [0, 1], []),
    ("a-json-list", _row(0) + b"[1, 2, 3]\n" + _row(1), [0, 1], [r"line 2 is not a run of the benchmark"]),
    ("a-row-without-settings", _row(0) + b'{"dataset": "toy", "method": "baseline", "seed": 1}\n', [0],
     [r"line 2 is not a run"]),
    ("a-seed-that-is-a-string", _row(0) + _row(1).replace(b'"seed": 1', b'"seed": "1"'), [0], [r"line 2 is not a run"]),
    ("two-bad-lines", b"oops\n" + _row(0) + b"{\n" + _row(1), [0, 1], [r"line 1 is not valid", r"line 3 is not valid"]),
    ("a-diverged-row-with-nan", _row(0) + _row(1, status="diverged", test_acc=math.nan), [0, 1], []),
]


@pytest.mark.parametrize("case, content, kept, warned", LOG_CASES, ids=[c[0] for c in LOG_CASES])
def test_a_damaged_log_keeps_every_valid_row_and_names_each_bad_line(case, content, kept, warned, tmp_path):
    out = tmp_path / "r.csv"
    log = out.with_suffix(".jsonl")
    log.write_bytes(content)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = B.load_log(out)
    assert [r["seed"] for r in rows] == kept
    messages = [str(w.message) for w in caught if issubclass(w.category, B.CorruptLogWarning)]
    assert len(messages) == len(warned), messages
    for pattern, text in zip(warned, messages):
        assert str(log) in text and re.search(pattern, text), text
    assert log.read_bytes() == content  # reading never changes the file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        L._repair_tail(log)  # what a benchmark does before appending
        L._append(out, json.loads(_row(9)))
        assert [r["seed"] for r in B.load_log(out)] == kept + [9]  # the new row is not glued to a torn one


# --------------------------------------------------------------------------- two writers, waiting, the fallback
def test_a_second_writer_fails_at_once_waits_when_asked_and_no_row_is_written_twice(tiny, tmp_path, capsys):
    out = tmp_path / "shared.csv"
    log = out.with_suffix(".jsonl")
    entered, release = threading.Event(), threading.Event()
    errors = []

    def first_writer():
        def hold(row):
            entered.set()
            release.wait(60)
        try:
            B.benchmark({"toy": tiny}, ["baseline"], [0, 1], out=out, on_row=hold, **FIT)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    first = threading.Thread(target=first_writer)
    first.start()
    try:
        assert entered.wait(120), errors
        with pytest.raises(B.BenchmarkLocked) as info:
            B.benchmark({"toy": tiny}, ["baseline"], [0, 1], out=out, **FIT)
        message = str(info.value)
        assert info.value.pid == os.getpid() and str(log) in message and f"process {os.getpid()}" in message
        assert "--wait" in str(info.value)
        started = time.monotonic()
        with pytest.raises(B.BenchmarkLocked):
            B.benchmark({"toy": tiny}, ["baseline"], [0, 1], out=out, wait_for_lock=0.3, **FIT)
        assert 0.3 <= time.monotonic() - started < 10
        assert _cli(CLI_GOOD + ["--out", str(out)]) == 2  # the command line: exit 2, the holder named
        err = capsys.readouterr().err
        assert f"in use by process {os.getpid()}" in err and "Traceback" not in err

        waited, trained = [], []
        waiter = threading.Thread(target=lambda: waited.append(B.benchmark(
            {"toy": tiny}, ["baseline"], [0, 1], out=out, wait_for_lock=True, on_row=trained.append, **FIT)))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive()  # it waits for the first writer
    finally:
        release.set()
        first.join(120)
    waiter.join(120)
    assert not errors and len(waited) == 1 and trained == []  # everything was done by the first writer
    keys = [(r["method"], r["seed"], r["settings"]) for r in B.load_log(out)]
    assert len(keys) == 2 and len(set(keys)) == 2
    assert not Path(f"{log}.lock").exists()  # released and removed


def test_without_fcntl_a_lock_file_holds_the_pid_and_a_stale_one_is_taken_over(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(L, "fcntl", None)
    out = tmp_path / "f.csv"
    lock = Path(f"{out.with_suffix('.jsonl')}.lock")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(f"{int(gone.stdout)}\n")  # left by a process that no longer exists
    table = B.benchmark({"toy": tiny}, ["baseline"], [0], out=out, **FIT)
    assert list(table["status"]) == ["ok"] and not lock.exists()

    lock.write_text(f"{os.getpid()}\n")  # held by a live process
    with pytest.raises(B.BenchmarkLocked, match=f"in use by process {os.getpid()}"):
        B.benchmark({"toy": tiny}, ["baseline"], [0], out=out, **FIT)
    assert lock.read_text().strip() == str(os.getpid())  # a live holder's lock is never removed


# --------------------------------------------------------------------------- a killed benchmark
def _alive_with(marker: bytes) -> list[int]:
    """Pids of live (not zombie) processes whose environment holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ and state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def _wait_for(condition, seconds: float, step: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


KILLED = ["--methods", "baseline", "ogm_ge", "--datasets", "synthetic", "--option", "synthetic:n_samples=150",
          "--seeds", "0", "1", "--epochs", "6", "--workers", "2"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
def test_a_killed_benchmark_leaves_no_worker_refuses_a_second_writer_and_resumes_exactly(tmp_path):
    out = tmp_path / "killed.csv"
    log = out.with_suffix(".jsonl")
    marker = f"MMLIB_BENCHMARK_TEST={uuid.uuid4().hex}".encode()
    env = dict(os.environ, MMLIB_PROGRESS="0", MMLIB_BENCHMARK_TEST=marker.split(b"=")[1].decode())
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        parent = subprocess.Popen([sys.executable, "-m", "mmlib.benchmark", *KILLED, "--out", str(out)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        lock = Path(f"{log}.lock")
        assert _wait_for(lambda: lock.is_file() and lock.read_text().strip() == str(parent.pid), 120), \
            (tmp_path / "stderr.txt").read_text()
        with pytest.raises(B.BenchmarkLocked, match=f"in use by process {parent.pid}"):  # a second writer
            B.benchmark({"synthetic": ("synthetic", {"n_samples": 150})}, ["baseline"], [0], out=out, epochs=6)

        def running():
            rows = len(log.read_bytes().splitlines()) if log.is_file() else 0
            workers = [p for p in _alive_with(marker) if p != parent.pid]
            return rows >= 1 and len(workers) == 2 and workers
        workers = _wait_for(running, 120)
        assert workers, (tmp_path / "stderr.txt").read_text()
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    survivors = _wait_for(lambda: not _alive_with(marker), 5, 0.05) or _alive_with(marker)
    assert survivors is True, f"orphaned workers still alive: {survivors}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", B.CorruptLogWarning)  # the kill may tear the row being written
        finished = B.load_log(out)
    assert 1 <= len(finished) < 4, "every run finished before the kill: make the runs longer"

    assert B.main([*KILLED, "--out", str(out)]) == 0  # the same command again
    rows = B.load_log(out)  # repaired by the rerun: no warning
    keys = [(r["dataset"], r["method"], r["seed"], r["settings"]) for r in rows]
    assert len(keys) == 4 and len(set(keys)) == 4  # every run exactly once

    reference = tmp_path / "reference.csv"
    B.benchmark({"synthetic": ("synthetic", {"n_samples": 150})}, ["baseline", "ogm_ge"], [0, 1], out=reference,
                epochs=6, lr=0.05, batch_size=64, optimizer="sgd")
    resumed, uninterrupted = pd.read_csv(out), pd.read_csv(reference)
    columns = [c for c in uninterrupted.columns if c != "seconds"]
    assert list(resumed.columns) == list(uninterrupted.columns)
    pd.testing.assert_frame_equal(resumed[columns], uninterrupted[columns])


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc"), reason="forks and reads /proc")
def test_the_portable_parent_watch_alone_ends_a_worker_whose_parent_died():
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:  # the parent that will die
        try:
            me = os.getpid()
            if os.fork() == 0:  # the worker
                try:
                    os.write(write, f"{os.getpid()}\n".encode())
                    P._end_with_parent(me, poll=0.05, use_prctl=False)  # the thread only, no prctl
                    time.sleep(60)
                finally:
                    os._exit(0)
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(middle, 0)
    assert select.select([read], [], [], 30)[0]
    worker = int(os.read(read, 64).split()[0])
    os.close(read)

    def gone():
        try:
            with open(f"/proc/{worker}/stat", "rb") as f:
                return f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
        except OSError:
            return True
    assert _wait_for(gone, 5, 0.05), f"worker {worker} outlived its parent"
