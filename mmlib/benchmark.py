"""The benchmark: every registered method x data sets x seeds, resumable, and "relative balance".

One run trains one method on one data set with one seed (:func:`mmlib.experiment.run_row`,
model selection on the validation split only) and becomes one row: fused test accuracy,
macro-F1, each modality's accuracy, the Shapley contribution of each modality, the
imbalance of those contributions and the wall time. A method that declares it cannot
run on the model or data (it raises :class:`mmlib.methods.NotApplicable`) gets a row
with ``status == "n/a"`` instead of crashing the benchmark.

Resumable: each finished run is appended as one JSON line to a log and flushed to disk
before the next starts; a run whose key (data set, method, seed, settings) is already in
the log is never recomputed. ``settings`` is a hash of everything that decides the result:
the fit options, the method's full hyperparameters, a fingerprint of the data, and the
source of the library and of the method's class (change the code and its runs are redone).

Diverged runs: a run whose training loss stops being finite (:class:`mmlib.train.DivergedError`)
becomes a row with ``status == "diverged"`` and the error in ``note``. It stays in the log
(a resumed benchmark does not train it again) but is left out of every mean, summary,
family average and frontier; :func:`diverged_runs` lists them and the command line counts them.

One writer at a time: the benchmark holds a lock on ``<log>.lock`` while it runs, so a
second benchmark on the same log fails at once with :class:`BenchmarkLocked` (naming the
log and the holder's pid), or waits for it with ``wait_for_lock=`` (``--wait``). The lock
dies with its process. Worker processes end with the process that started them. A corrupt
line in the log is skipped with a warning naming its line number; every valid row is kept.

"Relative balance" (the chapter 7 frontier): a method is on the Pareto frontier of a
data set when no other method is at least as accurate *and* at least as balanced and
strictly better in one of the two::

    i is dominated  <=>  exists j: acc_j >= acc_i and imb_j <= imb_i and (acc_j > acc_i or imb_j < imb_i)

From a shell::

    python -m mmlib.benchmark --methods baseline ogm_ge --datasets synthetic mfeat \
        --seeds 0 1 2 --epochs 20 --out _build/benchmark/benchmark.csv
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import inspect
import json
import math
import numbers
import os
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import multiprocessing
import numpy as np
import pandas as pd
import torch

try:
    import fcntl
except ImportError:  # Windows: the lock falls back to an O_EXCL lock file holding the pid
    fcntl = None  # type: ignore[assignment]

from . import data as datasets_module
from . import models as models_module
from . import train as train_module
from .data import MultimodalDataset
from .experiment import run_row
from .methods import FAMILIES, REGISTRY, Method, NotApplicable, get, names
from .metrics import macro_f1, predict
from .models import build_model
from .processes import pid_alive
from .train import DivergedError

__all__ = ["BenchmarkLocked", "CorruptLogWarning", "Job", "benchmark", "data_fingerprint", "default_out",
           "diverged_runs", "family_averages", "family_order", "frontier_table", "job_key", "library_hash",
           "load_log", "main", "method_means", "ordered_methods", "pareto_frontier", "plot_relative_balance",
           "summary_table"]

#: Fit options recorded in every key (their defaults are mmlib.train's).
FIT_DEFAULTS: dict[str, Any] = {"epochs": 20, "lr": 0.05, "batch_size": 64, "optimizer": "sgd",
                                "weight_decay": 1e-4, "fusion": "concat", "feature_dim": 32}
#: Columns that identify a run (the rest are its results).
KEY_COLUMNS = ("dataset", "method", "seed", "settings")

MethodSpec = str | type[Method] | tuple[str | type[Method], Mapping[str, Any]]


# --------------------------------------------------------------------------- keys
def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _source_hash(paths: Iterable[Path]) -> str:
    digest = hashlib.sha1()
    for path in paths:
        digest.update(path.read_bytes() if path.is_file() else path.name.encode())
    return digest.hexdigest()[:12]


_LIBRARY_HASH: list[str] = []


def library_hash() -> str:
    """A short hash of every source file of mmlib: a result is reused only if the code that made it is unchanged.

    Read once per process (the code this process runs is the code it imported), so the runs
    of one benchmark, and of its worker processes, all carry the same hash.
    """
    if not _LIBRARY_HASH:
        root = Path(__file__).parent
        _LIBRARY_HASH.append(_source_hash(sorted(root.rglob("*.py"))))
    return _LIBRARY_HASH[0]


def data_fingerprint(data: MultimodalDataset) -> str:
    """A short hash of a data set's labels, splits, modality shapes and contents."""
    digest = hashlib.sha1()
    digest.update(data.labels.numpy().tobytes())
    for split in sorted(data.splits):
        digest.update(split.encode() + data.splits[split].numpy().tobytes())
    for m in data.modality_names:
        x = data.modalities[m]
        digest.update(f"{m}{tuple(x.shape)}{float(x.double().sum()):.6e}{float(x.double().abs().sum()):.6e}".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Job:
    """One run of the benchmark: a method (label -> class and hyperparameters) on a data set with a seed."""

    dataset: str
    label: str
    method_cls: type[Method]
    method_kw: tuple[tuple[str, Any], ...]
    seed: int

    def build(self) -> Method:
        return self.method_cls(**dict(self.method_kw))


def job_key(job: Job, fit_kw: Mapping[str, Any], fingerprint: str) -> str:
    """The ``settings`` hash of a run: fit options, full hyperparameters, data and code."""
    method = job.build()
    module = sys.modules.get(job.method_cls.__module__)
    module_file = Path(getattr(module, "__file__", "") or "")
    try:
        source = inspect.getsource(job.method_cls)  # a learner's class defined in a notebook has no module file
    except (OSError, TypeError):
        source = ""
    settings = {
        "fit": {k: fit_kw.get(k, v) for k, v in FIT_DEFAULTS.items()} | {k: v for k, v in fit_kw.items()
                                                                          if k not in FIT_DEFAULTS},
        "method": f"{job.method_cls.__module__}.{job.method_cls.__qualname__}",
        "hyperparameters": {k: repr(v) for k, v in sorted(method.hyperparameters().items())},
        "data": fingerprint,
        "code": library_hash() + (_source_hash([module_file]) if module_file.name else "") + _sha(source),
    }
    return _sha(json.dumps(settings, sort_keys=True, default=repr))


# --------------------------------------------------------------------------- the log
def default_out(name: str = "benchmark") -> Path:
    """``<repo>/_build/benchmark/<name>.csv`` (the course root is found from the working directory).

    Every result log lives under ``_build/benchmark/``, which ``make clean`` keeps and
    ``make clean-results`` removes.
    """
    from .bookfile import repo_root

    return repo_root() / "_build" / "benchmark" / f"{name}.csv"


def _log_path(out: Path) -> Path:
    return out.with_suffix(".jsonl")


class CorruptLogWarning(UserWarning):
    """A line of a benchmark log that is not a run (corrupt, or torn by a crash): it is skipped."""


class BenchmarkLocked(RuntimeError):
    """Another benchmark is writing the same log (it holds ``<log>.lock``)."""

    def __init__(self, log: str | Path, pid: int | None, lock: str | Path) -> None:
        self.log, self.pid, self.lock = Path(log), pid, Path(lock)
        holder = f"process {pid}" if pid is not None else "another process (its pid is not recorded yet)"
        super().__init__(f"the benchmark log {self.log} is in use by {holder} (lock file {self.lock}); "
                         "wait for it to finish, wait for it with wait_for_lock=True (command line: --wait), "
                         "or write to another out")

    def __reduce__(self):
        return (type(self), (self.log, self.pid, self.lock))


def _is_row(row: Any) -> bool:
    return isinstance(row, dict) and all(k in row for k in KEY_COLUMNS) and isinstance(row["seed"], int)


def load_log(out: str | Path) -> list[dict[str, Any]]:
    """The finished rows recorded for ``out``, in the order they were written.

    A line that is not a run (corrupt, or the last line torn by a crash mid-write) is
    skipped with a :class:`CorruptLogWarning` naming the file and the line number; every
    valid row before and after it is kept. Reading never changes the file.
    """
    log = _log_path(Path(out))
    if not log.is_file():
        return []
    lines = log.read_bytes().split(b"\n")
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = number == len(lines)  # no newline after it: a write that did not finish
        try:
            row = json.loads(line)
        except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
            what = "is incomplete (a write interrupted by a crash)" if torn else "is not valid JSON"
            warnings.warn(f"benchmark log {log}, line {number} {what}; skipped (its run, if any, is redone)",
                          CorruptLogWarning, stacklevel=2)
            continue
        if not _is_row(row):
            warnings.warn(f"benchmark log {log}, line {number} is not a run of the benchmark (a JSON object "
                          f"with {', '.join(KEY_COLUMNS)} and an integer seed); skipped",
                          CorruptLogWarning, stacklevel=2)
            continue
        rows.append(row)
    return rows


def _repair_tail(log: Path) -> None:
    """Before appending: drop a last line torn by a crash (or end a whole last line with its newline)."""
    if not log.is_file():
        return
    with open(log, "r+b") as f:
        raw = f.read()
        if not raw or raw.endswith(b"\n"):
            return
        start = raw.rfind(b"\n") + 1
        try:
            whole = _is_row(json.loads(raw[start:]))
        except ValueError:
            whole = False
        number = raw.count(b"\n") + 1
        if whole:
            f.write(b"\n")
        else:
            warnings.warn(f"benchmark log {log}, line {number} is incomplete (a write interrupted by a crash); "
                          "removed, its run is redone", CorruptLogWarning, stacklevel=3)
            f.truncate(start)
        f.flush()
        os.fsync(f.fileno())


def _append(out: Path, row: Mapping[str, Any]) -> None:
    """Append one row as one JSON line with a single write, then flush it to disk."""
    log = _log_path(out)
    log.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, default=float) + "\n").encode()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if written != len(line):  # the torn line is dropped by the next run's _repair_tail
        raise OSError(errno.EIO, f"only {written} of {len(line)} bytes of a row reached {log} (disk full?)")


def _write_table(out: Path, table: pd.DataFrame) -> None:
    """Write the tidy table atomically (temporary file, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)


# --------------------------------------------------------------------------- one writer per log
class _LogLock:
    """An exclusive, non-blocking lock on ``<log>.lock`` that dies with its process.

    With ``fcntl``: ``flock`` on the file (the kernel releases it when the holder dies, so a
    killed benchmark never blocks the next). Without: the file is created with ``O_EXCL``
    and holds the pid; a lock whose pid is no longer alive is stale and taken over.
    The holder writes its pid into the file; the file is removed on release.
    """

    def __init__(self, log: Path, wait: bool | float = False) -> None:
        self.log, self.path, self.wait = log, Path(f"{log}.lock"), wait
        self.fd: int | None = None

    def holder(self) -> int | None:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def _try_flock(self) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
                raise
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:  # not the file of a holder that has just released (and removed) it
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return True
            os.close(fd)

    def _try_exclusive(self) -> bool:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                pid = self.holder()
                try:
                    age = time.time() - self.path.stat().st_mtime
                except FileNotFoundError:
                    continue  # released meanwhile: try again
                if (pid is not None and pid_alive(pid)) or (pid is None and age < 10):
                    return False
                with contextlib.suppress(FileNotFoundError):
                    if self.holder() == pid:  # stale: its process is gone
                        self.path.unlink()
                continue
            os.write(fd, f"{os.getpid()}\n".encode())
            os.close(fd)
            self.fd = -1
            return True
        return False

    def acquire(self) -> "_LogLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = None if self.wait is True else time.monotonic() + float(self.wait)
        while not (self._try_flock() if fcntl is not None else self._try_exclusive()):
            if deadline is not None and time.monotonic() >= deadline:
                raise BenchmarkLocked(self.log, self.holder(), self.path)
            time.sleep(0.1)
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still holding it: a waiter re-checks the path after locking
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        self.fd = None

    def __enter__(self) -> "_LogLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


# --------------------------------------------------------------------------- one run
def _nonfinite_note(row: Mapping[str, Any], model: torch.nn.Module) -> str:
    """Why a finished run counts as diverged ('' when every score and weight is finite)."""
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        return f"non-finite results after training: {', '.join(bad)}"
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        return "the trained model has non-finite weights"
    return ""


def _run_one(data: MultimodalDataset, job: Job, key: str, fit_kw: Mapping[str, Any]) -> dict[str, Any]:
    """Train one run and return its row (``status`` 'ok', 'n/a' with the method's reason, or 'diverged')."""
    base = {"dataset": job.dataset, "method": job.label, "family": job.method_cls.family,
            "seed": job.seed, "settings": key}
    started = time.perf_counter()
    try:
        row, result = run_row(data, job.dataset, job.label, job.build(), {}, job.seed, **fit_kw)
        if row.get("status") == "diverged":  # fit(..., on_nonfinite="record")
            return base | {"status": "diverged", "note": row["note"], "seconds": time.perf_counter() - started}
        output, labels = predict(result.model, data, "test", result.method)
    except NotApplicable as reason:
        return base | {"status": "n/a", "note": str(reason), "seconds": time.perf_counter() - started}
    except DivergedError as error:
        return base | {"status": "diverged", "note": str(error), "seconds": time.perf_counter() - started}
    row["test_f1"] = macro_f1(output.fused, labels, data.n_classes)
    row["seconds"] = time.perf_counter() - started
    note = _nonfinite_note(row, result.model)
    if note:
        return base | {"status": "diverged", "note": f"method {job.label!r}: {note}", "seconds": row["seconds"]}
    first = ["best_epoch", "val_acc", "test_acc", "test_f1"]
    last = [k for k in row if k.startswith("shapley_")] + ["imbalance", "seconds"]
    middle = [k for k in row if k not in base and k not in first + last]
    return base | {"status": "ok", "note": ""} | {k: row[k] for k in first + middle + last}


def _warm_up(datasets: Mapping[str, MultimodalDataset]) -> None:
    """One forward/backward pass per data set, so the first timed run does not pay for kernel set-up."""
    for data in datasets.values():
        model = build_model(data)
        index = data.splits["train"][:8]
        output = model(data.batch(index))
        torch.nn.functional.cross_entropy(output.fused, data.labels[index]).backward()


_WORKER: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1


def _end_with_parent(parent: int, poll: float = 0.5, use_prctl: bool = True) -> None:
    """Make this (worker) process end when ``parent`` does, so a killed benchmark leaves no orphan.

    On Linux the kernel sends SIGKILL at the parent's death (``prctl(PR_SET_PDEATHSIG)``);
    everywhere a daemon thread also checks every ``poll`` seconds that the parent is still
    this process's parent, and ends the process when it is not.
    """
    if use_prctl and sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the thread below still ends us
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="mmlib-benchmark-parent-watch", daemon=True).start()


def _worker_init(datasets: Mapping[str, MultimodalDataset], todo: list[tuple[Job, str]],
                 fit_kw: Mapping[str, Any], parent: int | None = None, lock_fd: int | None = None) -> None:
    """Runs in each forked worker: the jobs are inherited, not pickled (a notebook's class cannot be)."""
    if parent is not None:
        _end_with_parent(parent)
    if lock_fd is not None and lock_fd >= 0:
        os.close(lock_fd)  # our copy only (no unlock): the lock then dies with the parent alone
    torch.set_num_threads(1)  # the workers share the cores (mmlib's default is one thread anyway)
    os.environ["MMLIB_PROGRESS"] = "0"
    _WORKER.update(datasets=datasets, todo=todo, fit_kw=fit_kw)
    _warm_up(datasets)


def _worker_run(index: int) -> dict[str, Any]:
    job, key = _WORKER["todo"][index]
    return _run_one(_WORKER["datasets"][job.dataset], job, key, _WORKER["fit_kw"])


# --------------------------------------------------------------------------- checking the inputs
def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_datasets(datasets: Any) -> dict[str, Any]:
    """label -> spec, checked without loading anything (unknown loader names list the valid ones)."""
    valid = datasets_module.names()
    if isinstance(datasets, (str, bytes)):
        raise TypeError(f"datasets must be a list of names or a mapping label -> data set, got the string "
                        f"{datasets!r}; write [{datasets!r}] (valid names: {valid})")
    if isinstance(datasets, MultimodalDataset):
        raise TypeError("datasets must be a mapping label -> data set, got a bare MultimodalDataset; "
                        "write {'my_data': data}")
    if not isinstance(datasets, Mapping):
        if not isinstance(datasets, Iterable):
            raise TypeError(f"datasets must be a list of names or a mapping label -> data set, got {datasets!r}")
        listed = list(datasets)
        for name in listed:
            if not isinstance(name, str):
                raise TypeError(f"datasets: expected loader names ({valid}), got {name!r}")
        twice = sorted({n for n in listed if listed.count(n) > 1})
        if twice:
            raise ValueError(f"datasets: {twice} listed more than once")
        datasets = {name: name for name in listed}
    if not datasets:
        raise ValueError(f"datasets is empty: give at least one (valid names: {valid})")
    for label, spec in datasets.items():
        if not isinstance(label, str) or not label:
            raise TypeError(f"datasets: every label must be a non-empty string, got {label!r}")
        if isinstance(spec, MultimodalDataset):
            continue
        name, options = (spec, {}) if isinstance(spec, str) else (None, None)
        if isinstance(spec, tuple) and len(spec) == 2:
            name, options = spec
        if not isinstance(name, str) or not isinstance(options, Mapping):
            raise TypeError(f"dataset {label!r}: expected a MultimodalDataset, a loader name or "
                            f"(loader name, {{options}}), got {spec!r}")
        if name not in valid:
            raise KeyError(f"dataset {label!r}: unknown data set {name!r}; valid names: {valid}")
    return dict(datasets)


def _check_methods(methods: Any) -> dict[str, tuple[type[Method], dict[str, Any]]]:
    """label -> (class, hyperparameters); unknown names and hyperparameters list the valid ones."""
    if methods is None:
        methods = names()
    if isinstance(methods, (str, bytes)):
        raise TypeError(f"methods must be a list of registered names, got the string {methods!r}; "
                        f"write [{methods!r}] (valid names: {names()})")
    if isinstance(methods, type):
        raise TypeError(f"methods must be a list or a mapping, got the class {methods.__name__}; "
                        f"write [{methods.__name__}]")
    if not isinstance(methods, Mapping):
        if not isinstance(methods, Iterable):
            raise TypeError(f"methods must be a list of registered names or a mapping label -> method, got {methods!r}")
        listed = list(methods)
        labels = [m if isinstance(m, str) else getattr(m, "name", repr(m)) for m in listed]
        twice = sorted({n for n in labels if labels.count(n) > 1})
        if twice:
            raise ValueError(f"methods: {twice} listed more than once (give a mapping label -> method to run "
                             "one method with several settings)")
        methods = dict(zip(labels, listed))
    if not methods:
        raise ValueError(f"methods is empty: give at least one, or None for every registered method ({names()})")
    resolved = {}
    for label, spec in methods.items():
        if not isinstance(label, str) or not label:
            raise TypeError(f"methods: every label must be a non-empty string, got {label!r}")
        if isinstance(spec, tuple):
            if len(spec) != 2 or not isinstance(spec[1], Mapping):
                raise TypeError(f"method {label!r}: expected (name or Method subclass, {{hyperparameters}}), "
                                f"got {spec!r}")
            target, kw = spec[0], dict(spec[1])
        else:
            target, kw = spec, {}
        if isinstance(target, str):
            get(target, **kw)  # unknown names / hyperparameters fail here, listing the valid ones
            target = REGISTRY[target]
        elif not (isinstance(target, type) and issubclass(target, Method)):
            raise TypeError(f"method {label!r}: expected a registered name or a Method subclass, got {target!r}")
        resolved[label] = (target, kw)
    return resolved


def _check_seeds(seeds: Any) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds must be a list of non-negative integers, e.g. [0, 1, 2], got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed, e.g. [0, 1, 2]")
    for seed in seeds:
        if not _is_int(seed):
            raise TypeError(f"seeds must be integers, got {seed!r} ({type(seed).__name__})")
        if not 0 <= seed < 2**63:
            raise ValueError(f"seeds must be non-negative integers below 2**63, got {seed}")
    twice = sorted({int(s) for s in seeds if seeds.count(s) > 1})
    if twice:
        raise ValueError(f"seeds {twice} listed more than once (each seed is one run)")
    return [int(s) for s in seeds]


def _fit_option_names() -> tuple[set[str], dict[str, str]]:
    """Options the benchmark passes on to mmlib.train.run / fit, and those it sets itself."""
    own = {"seed": "it is set by the benchmark's seeds", "method_kw": "give hyperparameters in methods as "
           "{label: (name, {...})}", "model": "the benchmark builds the model",
           "data": "give data sets in datasets", "method": "give methods in methods"}
    valid = set()
    for fn in (train_module.run, train_module.fit):
        for name, p in inspect.signature(fn).parameters.items():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in own:
                valid.add(name)
    return valid, own


def _check_fit_options(fit_kw: Mapping[str, Any]) -> None:
    valid, own = _fit_option_names()
    for name in fit_kw:
        if name in own:
            raise TypeError(f"{name!r} cannot be a fit option of the benchmark: {own[name]}")
        if name not in valid:
            raise TypeError(f"unknown fit option {name!r}; valid options: {sorted(valid)}")
    for name in ("epochs", "batch_size", "feature_dim"):
        if name in fit_kw:
            value = fit_kw[name]
            if not _is_int(value):
                raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
            if value < 1:
                raise ValueError(f"{name} must be a positive integer (>= 1), got {value}")
    for name, low, strict in (("lr", 0.0, True), ("weight_decay", 0.0, False)):
        if name in fit_kw:
            value = fit_kw[name]
            if not isinstance(value, numbers.Real) or isinstance(value, bool):
                raise TypeError(f"{name} must be a finite number, got {value!r} ({type(value).__name__})")
            if not math.isfinite(value) or value < low or (strict and value == low):
                raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value}")
    choices_of = {"optimizer": train_module.OPTIMIZERS, "fusion": models_module.FUSIONS, "select": ("val", "last"),
                  "on_nonfinite": getattr(train_module, "ON_NONFINITE", ("raise",))}
    for name, choices in choices_of.items():
        if name not in fit_kw:
            continue
        if not isinstance(fit_kw[name], str):
            raise TypeError(f"{name} must be one of {sorted(choices)}, got {fit_kw[name]!r} "
                            f"({type(fit_kw[name]).__name__})")
        if fit_kw[name] not in choices:
            raise KeyError(f"unknown {name} {fit_kw[name]!r}; valid: {sorted(choices)}")
    if fit_kw.get("progress") is not None and not isinstance(fit_kw["progress"], bool):
        raise TypeError(f"progress must be None, True or False, got {fit_kw['progress']!r}")
    if fit_kw.get("callback") is not None and not callable(fit_kw["callback"]):
        raise TypeError(f"callback must be None or a function of the training state, got {fit_kw['callback']!r}")


def _check_out(out: Any) -> Path | None:
    if out is None:
        return None
    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise TypeError(f"out must be a path to the table (.csv) or None, got {out!r}")
    out = Path(out)
    if out.suffix in (".jsonl", ".lock", ".tmp"):
        raise ValueError(f"out={str(out)!r}: out names the table (e.g. results.csv); its log is the same path "
                         f"with .jsonl, so out itself cannot end in {out.suffix}")
    if out.is_dir():
        raise ValueError(f"out={str(out)!r} is a folder; give the table's file path, e.g. {out / 'results.csv'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or error
        raise ValueError(f"out={str(out)!r}: cannot create its folder {out.parent} ({reason})") from None
    if not out.parent.is_dir():
        raise ValueError(f"out={str(out)!r}: {out.parent} is not a folder")
    log = _log_path(out)
    if log.exists() and not log.is_file():
        raise ValueError(f"out={str(out)!r}: its log {log} exists and is not a file")
    return out


def _check_wait(wait: Any) -> bool | float:
    if isinstance(wait, bool):
        return wait
    if not isinstance(wait, numbers.Real) or not math.isfinite(wait) or wait < 0:
        raise ValueError(f"wait_for_lock must be False, True (wait as long as it takes) or a number of seconds "
                         f">= 0, got {wait!r}")
    return float(wait)


@dataclass
class _Plan:
    """A checked benchmark, ready to run: everything the caller gave, validated, nothing trained yet."""

    datasets: dict[str, Any]
    specs: dict[str, tuple[type[Method], dict[str, Any]]]
    seeds: list[int]
    out: Path | None
    workers: int
    on_row: Callable[[dict[str, Any]], None] | None
    wait: bool | float
    fit_kw: dict[str, Any]
    data: dict[str, MultimodalDataset] = field(default_factory=dict)
    jobs: list[tuple[Job, str]] = field(default_factory=list)

    def lock(self) -> contextlib.AbstractContextManager:
        return _LogLock(_log_path(self.out), self.wait) if self.out is not None else contextlib.nullcontext()

    def load(self) -> None:
        """Load the data sets and build every run's key (still nothing trained)."""
        for label, spec in self.datasets.items():
            if isinstance(spec, MultimodalDataset):
                self.data[label] = spec
            elif isinstance(spec, str):
                self.data[label] = datasets_module.load(spec)
            else:
                self.data[label] = datasets_module.load(spec[0], **dict(spec[1]))
        key_kw = {k: v for k, v in self.fit_kw.items() if k != "progress"}
        fingerprints = {label: data_fingerprint(d) for label, d in self.data.items()}
        self.jobs = []
        for dataset in self.data:
            for label, (cls, kw) in self.specs.items():
                for seed in self.seeds:
                    job = Job(dataset, label, cls, tuple(sorted(kw.items())), seed)
                    self.jobs.append((job, job_key(job, key_kw, fingerprints[dataset])))


def _plan(datasets: Any, methods: Any, seeds: Any, out: Any, workers: Any, on_row: Any, wait_for_lock: Any,
          fit_kw: dict[str, Any]) -> _Plan:
    """Check every input of :func:`benchmark` (a clear error for each bad one) before anything is loaded or trained."""
    checked_datasets = _check_datasets(datasets)
    specs = _check_methods(methods)
    checked_seeds = _check_seeds(seeds)
    if not _is_int(workers):
        raise TypeError(f"workers must be a positive integer, got {workers!r} ({type(workers).__name__})")
    if workers < 1:
        raise ValueError(f"workers must be >= 1 (1 trains in this process), got {workers}")
    if on_row is not None and not callable(on_row):
        raise TypeError(f"on_row must be a function of one row (or None), got {on_row!r}")
    wait = _check_wait(wait_for_lock)
    fit_kw = dict(fit_kw)
    fit_kw.setdefault("progress", False)
    _check_fit_options(fit_kw)
    return _Plan(checked_datasets, specs, checked_seeds, _check_out(out), int(workers), on_row, wait, fit_kw)


# --------------------------------------------------------------------------- the benchmark
def _execute(plan: _Plan, lock: Any = None) -> pd.DataFrame:
    """Train the runs of ``plan`` that its log does not hold yet; return the table (the log is locked by the caller)."""
    out, data, jobs, fit_kw, on_row = plan.out, plan.data, plan.jobs, plan.fit_kw, plan.on_row
    if out is not None:
        _repair_tail(_log_path(out))
    done = {(r["dataset"], r["method"], r["seed"], r["settings"]): r for r in (load_log(out) if out else [])}
    todo = [(job, key) for job, key in jobs if (job.dataset, job.label, job.seed, key) not in done]

    def finish(row: dict[str, Any]) -> None:
        done[(row["dataset"], row["method"], row["seed"], row["settings"])] = row
        if out is not None:
            _append(out, row)
        if on_row is not None:
            on_row(row)

    workers = plan.workers
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # workers inherit the jobs by fork (Windows has none): train here instead
    if workers <= 1 or len(todo) <= 1:
        if todo:
            _warm_up({job.dataset: data[job.dataset] for job, _ in todo})
        for job, key in todo:
            finish(_run_one(data[job.dataset], job, key, fit_kw))
    else:
        context = multiprocessing.get_context("fork")
        lock_fd = getattr(lock, "fd", None)
        pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=context, initializer=_worker_init,
                                   initargs=(data, todo, fit_kw, os.getpid(), lock_fd))
        try:
            futures = [pool.submit(_worker_run, i) for i in range(len(todo))]
            for future in as_completed(futures):
                finish(future.result())  # a failed run re-raises its error here
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    table = pd.DataFrame([done[(job.dataset, job.label, job.seed, key)] for job, key in jobs])
    if out is not None:
        _write_table(out, table)
    return table


def benchmark(
    datasets: Mapping[str, MultimodalDataset | str | tuple[str, Mapping[str, Any]]] | Iterable[str],
    methods: Mapping[str, MethodSpec] | Iterable[str | type[Method]] | None = None,
    seeds: Iterable[int] = (0, 1, 2),
    *,
    out: str | Path | None = None,
    workers: int = 1,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    wait_for_lock: bool | float = False,
    **fit_kw: Any,
) -> pd.DataFrame:
    """Train every method on every data set with every seed; return the tidy table (one row per run).

    Args:
        datasets: label -> data set (or loader name, or (loader name, options)); a list of names.
        methods: registered names, ``Method`` subclasses, or label -> name / class /
            (name or class, hyperparameters). Default: every registered method.
        seeds: one run per seed (distinct non-negative integers).
        out: the table's CSV path (its run log is the same path with ``.jsonl``). Finished
            runs recorded there are reused, never recomputed; new ones are appended one by
            one as they finish. ``None`` keeps everything in memory.
        workers: processes training runs in parallel (1: in this process; where the platform
            cannot fork, always 1). The rows do not depend on it. Workers end with this process.
        on_row: called with each newly finished row, after it is saved.
        wait_for_lock: when another benchmark is writing the same log: ``False`` raises
            :class:`BenchmarkLocked` at once, ``True`` waits until it is done, a number
            waits at most that many seconds.
        fit_kw: options of :func:`mmlib.train.run` / :func:`mmlib.train.fit` (epochs, lr, ...).

    Every input is checked before anything is loaded or trained: a bad one raises a
    ``TypeError``, ``ValueError`` or ``KeyError`` that names it and the valid choices.

    Columns: dataset, method, family, seed, settings, status ('ok', 'n/a' or 'diverged'),
    note, best_epoch, val_acc, test_acc, test_f1 (macro), val_acc_<m>, test_acc_<m>,
    shapley_<m> (test), imbalance (of the Shapley values), seconds. A diverged run has no
    scores (NaN) and its error in ``note``; it is left out of every mean and frontier.
    """
    plan = _plan(datasets, methods, seeds, out, workers, on_row, wait_for_lock, fit_kw)
    with plan.lock() as lock:
        plan.load()
        return _execute(plan, lock)


def diverged_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``table`` whose training diverged (dataset, method, seed, note); empty when none did."""
    columns = ["dataset", "method", "seed", "note"]
    if "status" not in table:
        return pd.DataFrame(columns=columns)
    rows = table[table["status"] == "diverged"]
    return rows[[c for c in columns if c in rows]].reset_index(drop=True)


# --------------------------------------------------------------------------- relative balance
def pareto_frontier(accuracy: Sequence[float], imbalance: Sequence[float]) -> np.ndarray:
    """Which points are not dominated (higher accuracy and lower imbalance are both better).

    Point ``i`` is dominated when some ``j`` has ``acc_j >= acc_i`` and ``imb_j <= imb_i``
    with at least one inequality strict. Identical points do not dominate each other
    (both are on the frontier). Points with a non-finite coordinate (NaN or inf: a run
    that diverged) are never on it and dominate nothing. Returns a boolean array, one
    entry per point.
    """
    acc = np.asarray(accuracy, dtype=float)
    imb = np.asarray(imbalance, dtype=float)
    if acc.shape != imb.shape or acc.ndim != 1:
        raise ValueError(f"accuracy and imbalance must be 1-D of the same length, got {acc.shape} and {imb.shape}")
    valid = np.isfinite(acc) & np.isfinite(imb)
    better_or_equal = (acc[None, :] >= acc[:, None]) & (imb[None, :] <= imb[:, None])  # [i, j]: j vs i
    strictly = (acc[None, :] > acc[:, None]) | (imb[None, :] < imb[:, None])
    dominated = (better_or_equal & strictly & valid[None, :]).any(axis=1)
    return valid & ~dominated


def family_order() -> list[str]:
    """Baseline first, then the survey's four stages, then decision level."""
    return list(FAMILIES)


def ordered_methods(table: pd.DataFrame) -> list[str]:
    """Method labels of ``table``: baseline first, then by family (survey order), then by name."""
    families = table.drop_duplicates("method").set_index("method")["family"]
    rank = {f: i for i, f in enumerate(family_order())}
    return sorted(families.index, key=lambda m: (m != "baseline", rank.get(families[m], len(rank)), m))


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"] if "status" in table else table


def summary_table(table: pd.DataFrame, columns: Sequence[str] = ("test_acc", "test_f1", "imbalance", "seconds"),
                  digits: int = 3) -> pd.DataFrame:
    """Mean ± std over seeds, one row per (dataset, family, method) in benchmark order; n/a kept as 'n/a'.

    Only runs with ``status == "ok"`` count (``seeds`` is how many); a method whose every
    run diverged shows 'diverged'.
    """
    rows = []
    for dataset in dict.fromkeys(table["dataset"]):
        sub = table[table["dataset"] == dataset]
        for method in ordered_methods(sub):
            runs = sub[sub["method"] == method]
            ok = _ok(runs)
            row = {"dataset": dataset, "family": runs["family"].iloc[0], "method": method, "seeds": len(ok)}
            for c in columns:
                values = ok[c].astype(float) if c in ok else pd.Series(dtype=float)
                if ok.empty:
                    row[c] = "diverged" if "status" in runs and (runs["status"] == "diverged").any() else "n/a"
                elif values.isna().all():
                    row[c] = "—"
                else:
                    std = values.std(ddof=1) if len(values) > 1 else 0.0
                    row[c] = f"{values.mean():.{digits}f} ± {std:.{digits}f}"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "family", "method"])


def method_means(table: pd.DataFrame, columns: Sequence[str] = ("test_acc", "imbalance")) -> pd.DataFrame:
    """Numeric mean and std over seeds of ``columns`` per (dataset, method) (runs that were n/a or diverged dropped)."""
    ok = _ok(table)
    ok = ok.assign(**{c: math.nan for c in columns if c not in ok})  # no run of the table has scores
    grouped = ok.groupby(["dataset", "method"], sort=False)
    stats = grouped[list(columns)].agg(["mean", "std"])
    stats.columns = [f"{c}_{s}" for c, s in stats.columns]
    stats = stats.fillna({c: 0.0 for c in stats.columns if c.endswith("_std")})
    stats["family"] = grouped["family"].first()
    return stats.reset_index()


def family_averages(table: pd.DataFrame, columns: Sequence[str] = ("test_acc", "imbalance")) -> pd.DataFrame:
    """Per data set and family: the mean over the family's methods of each method's mean over seeds.

    The way BalanceBenchmark reports "Objective avg" and the like; ``delta_<column>`` is
    the family average minus the baseline's mean.
    """
    means = method_means(table, columns)
    out = means.groupby(["dataset", "family"], sort=False)[[f"{c}_mean" for c in columns]].mean()
    out["methods"] = means.groupby(["dataset", "family"], sort=False)["method"].count()
    for c in columns:
        baseline = means[means["method"] == "baseline"].set_index("dataset")[f"{c}_mean"]
        out[f"delta_{c}"] = out[f"{c}_mean"] - baseline.reindex(out.index.get_level_values("dataset")).to_numpy()
    rank = {f: i for i, f in enumerate(family_order())}
    out = out.reset_index()
    out["_rank"] = out["family"].map(lambda f: rank.get(f, len(rank)))
    order = {d: i for i, d in enumerate(dict.fromkeys(table["dataset"]))}
    out["_d"] = out["dataset"].map(order)
    return out.sort_values(["_d", "_rank"]).drop(columns=["_rank", "_d"]).set_index(["dataset", "family"])


def frontier_table(table: pd.DataFrame, accuracy: str = "test_acc", imbalance: str = "imbalance") -> pd.DataFrame:
    """Each (dataset, method)'s mean accuracy and imbalance, and whether it is on that data set's frontier."""
    means = method_means(table, (accuracy, imbalance))
    means["on_frontier"] = False
    for dataset, idx in means.groupby("dataset", sort=False).groups.items():
        sub = means.loc[idx]
        means.loc[idx, "on_frontier"] = pareto_frontier(sub[f"{accuracy}_mean"], sub[f"{imbalance}_mean"])
    return means


def plot_relative_balance(table: pd.DataFrame, accuracy: str = "test_acc", imbalance: str = "imbalance",
                          label_all: bool = False):
    """Accuracy vs imbalance per data set (mean ± std over seeds), coloured by family, with the frontier."""
    import matplotlib.pyplot as plt

    front = frontier_table(table, accuracy, imbalance)
    dsets = list(dict.fromkeys(front["dataset"]))
    fig, axes = plt.subplots(1, len(dsets), figsize=(6.2 * len(dsets), 4.6), squeeze=False)
    colours = dict(zip(family_order(), plt.get_cmap("tab10").colors))
    for ax, dataset in zip(axes[0], dsets):
        sub = front[front["dataset"] == dataset]
        for family in [f for f in family_order() if f in set(sub["family"])]:
            fam = sub[sub["family"] == family]
            ax.errorbar(fam[f"{imbalance}_mean"], fam[f"{accuracy}_mean"], xerr=fam[f"{imbalance}_std"],
                        yerr=fam[f"{accuracy}_std"], fmt="o" if family != "baseline" else "s",
                        ms=6 if family != "baseline" else 9, mec="k" if family == "baseline" else None,
                        color=colours.get(family), label=family, capsize=2, alpha=0.85)
        edge = sub[sub["on_frontier"]].sort_values(f"{imbalance}_mean")
        x, y = list(edge[f"{imbalance}_mean"]), list(edge[f"{accuracy}_mean"])
        if x:  # none when every run of this data set diverged
            right = float(np.nanmax(sub[f"{imbalance}_mean"] + sub[f"{imbalance}_std"]))
            ax.step(x + [max(right, x[-1])], y + [y[-1]], where="post", color="k", lw=1.5, ls="--",
                    label="Pareto frontier", zorder=3)  # everything below-right of it is dominated
        for _, r in sub.iterrows():
            if label_all or r["on_frontier"] or r["method"] == "baseline":
                ax.annotate(r["method"], (r[f"{imbalance}_mean"], r[f"{accuracy}_mean"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"{imbalance} of Shapley contributions (lower = more balanced)")
        ax.set_ylabel(f"{accuracy} (higher = better)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- command line
def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mmlib.benchmark", description=__doc__.split("\n\n")[0],
                                     epilog="Exit status: 0 done, 2 bad input or the log is in use by another "
                                            "benchmark (see --wait), 1 a run failed.")
    parser.add_argument("--methods", nargs="*", default=None, help="registered names (default: all)")
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "mfeat"],
                        help=f"loader names ({', '.join(datasets_module.names())})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=FIT_DEFAULTS["epochs"])
    parser.add_argument("--lr", type=float, default=FIT_DEFAULTS["lr"])
    parser.add_argument("--batch-size", type=int, default=FIT_DEFAULTS["batch_size"])
    parser.add_argument("--optimizer", default=FIT_DEFAULTS["optimizer"])
    parser.add_argument("--root", default=None, help="data root for cremad / kinetics_sounds")
    parser.add_argument("--option", action="append", default=[], metavar="DATASET:KEY=VALUE",
                        help="a loader option, e.g. synthetic:n_samples=600 (repeatable)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", default=None, help="the CSV table (default: _build/benchmark/benchmark.csv)")
    parser.add_argument("--wait", nargs="?", type=float, const=True, default=False, metavar="SECONDS",
                        help="if another benchmark is writing the same log, wait for it (at most SECONDS) "
                             "instead of failing")
    return parser.parse_args(argv)


def _fail(message: str) -> int:
    print(f"python -m mmlib.benchmark: error: {message}", file=sys.stderr)
    return 2


def _message(error: BaseException) -> str:
    return str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (2 for bad input or a log in use, with the reason on stderr)."""
    args = _parse(argv)
    try:
        _check_datasets(args.datasets)  # unknown names first: they list the valid ones
    except (TypeError, ValueError, KeyError) as error:
        return _fail(_message(error))
    options: dict[str, dict[str, Any]] = {d: {} for d in args.datasets}
    for d in args.datasets:
        if d in ("cremad", "kinetics_sounds") and args.root:
            options[d]["root"] = args.root
    for item in args.option:
        dataset, _, pair = item.partition(":")
        key, _, value = pair.partition("=")
        if dataset not in options or not key or "=" not in pair:
            return _fail(f"--option {item!r}: expected DATASET:KEY=VALUE with DATASET in {list(options)}")
        try:
            options[dataset][key] = json.loads(value)
        except json.JSONDecodeError:
            options[dataset][key] = value
    if args.methods is not None and not args.methods:
        return _fail(f"--methods needs at least one name (leave it out for every method); valid names: {names()}")
    out = Path(args.out) if args.out else default_out()
    started = time.perf_counter()
    trained: list[dict[str, Any]] = []

    def report(row: dict[str, Any]) -> None:
        trained.append(row)
        if row["status"] == "diverged":
            what = f"diverged: {row['note']}"
        else:
            what = f"{row['status']:3s} test_acc={row.get('test_acc', math.nan):.3f}"
        print(f"{row['dataset']:>16s} {row['method']:>22s} seed {row['seed']}: {what} ({row['seconds']:.1f}s)",
              flush=True)

    try:
        plan = _plan({d: (d, o) for d, o in options.items()}, args.methods, args.seeds, out, args.workers, report,
                     args.wait, dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                                     optimizer=args.optimizer))
    except (TypeError, ValueError, KeyError) as error:
        return _fail(_message(error))
    try:
        with plan.lock() as lock:
            try:
                plan.load()
            except (TypeError, ValueError, KeyError, OSError) as error:  # a loader's options, a missing root
                return _fail(_message(error))
            table = _execute(plan, lock)
    except BenchmarkLocked as error:
        return _fail(str(error))
    print(f"{len(table)} runs in {out} ({len(trained)} new, {time.perf_counter() - started:.0f}s)")
    diverged = diverged_runs(table)
    print(f"{len(diverged)} of {len(table)} runs diverged (kept in the log, left out of every mean and the frontier)"
          + "".join(f"\n  {r.dataset} {r.method} seed {r.seed}" for r in diverged.itertuples()))
    print(summary_table(table).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
