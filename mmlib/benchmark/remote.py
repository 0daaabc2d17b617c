"""Runs on any ``concurrent.futures.Executor``: one self-contained, picklable task per run.

The local pool (:mod:`~mmlib.benchmark.pool`) forks workers that inherit the data and the
jobs. An executor whose workers live elsewhere (a Dask cluster's,
:func:`mmlib.benchmark.cluster.dask_executor`; a ``ThreadPoolExecutor``) gets one
:class:`Task` per run instead, and :func:`run_task` trains it in the worker:

* the data: a data set given by loader name (and options) is loaded by the worker itself,
  once per worker process, from the path in its options (a relative ``root`` is relative
  to the worker's working directory: every worker needs the data, at the same path or in
  its own copy of the course); a data set given as a ``MultimodalDataset`` travels with
  the task. Either way the worker checks the data's fingerprint against the one in the
  run's key, so a worker with other data fails with a clear error instead of filing
  wrong numbers under the key;
* the code: the worker checks that its mmlib is the submitting process's
  (:func:`~mmlib.benchmark.keys.library_hash`), for the same reason;
* one run at a time per worker process (a thread waits for the run before it), so the
  work counters stay exact and a worker's GPU trains one run at a time;
* the device: the one its process owns (:func:`mmlib.devices.default_device`:
  ``$MMLIB_DEVICE``, e.g. ``cuda:1``, else CUDA when visible, else the CPU), unless the
  benchmark was given ``device=``.

The worker returns the row; only the submitting process writes the log.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from .. import data as datasets_module
from ..data import MultimodalDataset
from .keys import Job, data_fingerprint, library_hash

__all__ = ["Task", "WorkerMismatch", "run_task"]


class WorkerMismatch(RuntimeError):
    """A worker whose data or code differ from the submitting process's (its rows would be filed wrongly)."""


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to train one run: picklable (by cloudpickle for a notebook's classes)."""

    job: Job
    key: str
    data: MultimodalDataset | str | tuple[str, Mapping[str, Any]]
    fingerprint: str
    fit_kw: Mapping[str, Any]
    library: str


_CACHE: dict[str, MultimodalDataset] = {}
_WARM: set[str] = set()
_LOCK = threading.Lock()  # a Dask worker may run several tasks in threads
#: One run at a time per process: the work counters are process-wide, and a worker's GPU takes one run.
_RUN_LOCK = threading.Lock()


def _spec_id(spec: str | tuple[str, Mapping[str, Any]]) -> str:
    name, options = (spec, {}) if isinstance(spec, str) else spec
    return json.dumps([name, dict(options)], sort_keys=True, default=repr)


def _data(task: Task) -> MultimodalDataset:
    """The task's data set: shipped with it, or loaded here once per process; checked by fingerprint."""
    if isinstance(task.data, MultimodalDataset):
        data, where = task.data, "the data set sent with the task"
    else:
        name, options = (task.data, {}) if isinstance(task.data, str) else task.data
        ident = _spec_id(task.data)
        with _LOCK:
            if ident not in _CACHE:
                _CACHE[ident] = datasets_module.load(name, **dict(options))
            data = _CACHE[ident]
        where = f"data set {name!r} loaded by this worker with options {dict(options)} (cwd {os.getcwd()})"
    found = data_fingerprint(data) if not isinstance(task.data, MultimodalDataset) else task.fingerprint
    if found != task.fingerprint:
        raise WorkerMismatch(f"worker {_host()}: {where} has fingerprint {found}, the submitting process's "
                             f"{task.fingerprint}: every worker needs the same data (at the same path, or a "
                             "relative root in its own copy of the course)")
    return data


def _host() -> str:
    import socket

    return f"{socket.gethostname()} (pid {os.getpid()})"


def run_task(task: Task) -> dict[str, Any]:
    """Train one run in this (worker) process and return its row (see :func:`~mmlib.benchmark.pool._run_one`)."""
    from .pool import _run_one, _warm_up  # pool imports this module for the executor path

    if task.library != library_hash():
        raise WorkerMismatch(f"worker {_host()} runs another mmlib (library hash {library_hash()}, the submitting "
                             f"process's {task.library}): install the same version of the course on every worker")
    os.environ["MMLIB_PROGRESS"] = "0"
    data = _data(task)
    fit_kw = dict(task.fit_kw)
    with _RUN_LOCK:
        warm_key = f"{task.fingerprint}@{fit_kw.get('device')}"
        if warm_key not in _WARM:
            _warm_up({task.job.dataset: data}, fit_kw.get("device"))
            _WARM.add(warm_key)
        return _run_one(data, task.job, task.key, fit_kw)
