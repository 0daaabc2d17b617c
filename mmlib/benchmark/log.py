"""The run log: one JSON line per finished run, written by one benchmark at a time.

Each finished run is appended as one JSON line to ``<out>.jsonl`` and flushed to disk
before the next starts (:func:`load_log` reads it back, skipping a corrupt or torn line
with a :class:`CorruptLogWarning` naming its line number). The benchmark holds a lock on
``<log>.lock`` while it runs (:class:`_LogLock`, dies with its process), so a second
writer fails at once with :class:`BenchmarkLocked` or waits for it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

try:
    import fcntl
except ImportError:  # Windows: the lock falls back to an O_EXCL lock file holding the pid
    fcntl = None  # type: ignore[assignment]

from ..processes import pid_alive

__all__ = ["KEY_COLUMNS", "BenchmarkLocked", "CorruptLogWarning", "default_out", "load_log"]

#: Columns that identify a run (the rest are its results).
KEY_COLUMNS = ("dataset", "method", "seed", "settings")


def default_out(name: str = "benchmark") -> Path:
    """``<repo>/_build/benchmark/<name>.csv`` (the course root is found from the working directory).

    Every result log lives under ``_build/benchmark/``, which ``make clean`` keeps and
    ``make clean-results`` removes.
    """
    from ..course.bookfile import repo_root  # the course root (book.yml), found by the course tooling

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

