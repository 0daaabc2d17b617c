"""Training the runs: one run -> one row, and the executors that train several at once.

:func:`_run_one` trains one job on its device and returns its row ('ok', 'n/a' with the
method's reason, or 'diverged'; every row says on which device and host it ran and how
long it took). :func:`_execute` trains the runs of a plan that its log does not hold yet:
in this process, in forked worker processes (the local pool; each worker ends with the
process that started it, :func:`_end_with_parent`, so a killed benchmark leaves no
orphan), or on any ``concurrent.futures.Executor`` the caller gives (a Dask cluster's,
:mod:`~mmlib.benchmark.cluster`), one picklable task per run (:mod:`~mmlib.benchmark.remote`).
Whatever the executor, workers only return rows: this process alone appends them to the
log, so a lost worker or a killed benchmark loses at most the runs in flight.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, Mapping

import pandas as pd
import torch

from ..data import MultimodalDataset
from ..devices import describe, resolve_device
from ..experiment import run_row
from ..methods import NotApplicable
from ..metrics import macro_f1, predict
from ..models import build_model
from ..train import DivergedError
from .keys import Job, library_hash
from .remote import Task, run_task
from .log import _append, _log_path, _repair_tail, _write_table, load_log
from .work import counted_work

if TYPE_CHECKING:
    from .run import _Plan


def _nonfinite_note(row: Mapping[str, Any], model: torch.nn.Module) -> str:
    """Why a finished run counts as diverged ('' when every score and weight is finite)."""
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        return f"non-finite results after training: {', '.join(bad)}"
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        return "the trained model has non-finite weights"
    return ""


def _run_one(data: MultimodalDataset, job: Job, key: str, fit_kw: Mapping[str, Any]) -> dict[str, Any]:
    """Train one run and return its row (``status`` 'ok', 'n/a' with the method's reason, or 'diverged').

    The run trains on ``fit_kw["device"]`` if given, else on this process's device
    (:func:`mmlib.devices.default_device`); the row ends with ``device`` and ``host``.
    """
    device = resolve_device(fit_kw.get("device"))
    row = _train_one(data.to(device), job, key, {**fit_kw, "device": device})
    return row | {"device": describe(device), "host": socket.gethostname()}


def _train_one(data: MultimodalDataset, job: Job, key: str, fit_kw: Mapping[str, Any]) -> dict[str, Any]:
    base = {"dataset": job.dataset, "method": job.label, "family": job.method_cls.family,
            "seed": job.seed, "settings": key}
    started = time.perf_counter()
    try:
        with counted_work() as work:
            row, result = run_row(data, job.dataset, job.label, job.build(), {}, job.seed, **fit_kw)
        if row.get("status") == "diverged":  # fit(..., on_nonfinite="record")
            return base | {"status": "diverged", "note": row["note"], "seconds": time.perf_counter() - started}
        output, labels = predict(result.model, data, "test", result.method)
    except NotApplicable as reason:
        return base | {"status": "n/a", "note": str(reason), "seconds": time.perf_counter() - started}
    except DivergedError as error:
        return base | {"status": "diverged", "note": str(error), "seconds": time.perf_counter() - started}
    row["test_f1"] = macro_f1(output.fused, labels, data.n_classes)
    # the test accuracy of the luckiest epoch: what selecting the epoch on the test split would report
    row["test_acc_best_epoch"] = max(result.history["test_acc"])
    row.update(work)
    row["seconds"] = time.perf_counter() - started
    note = _nonfinite_note(row, result.model)
    if note:
        return base | {"status": "diverged", "note": f"method {job.label!r}: {note}", "seconds": row["seconds"]}
    first = ["best_epoch", "val_acc", "test_acc", "test_f1"]
    last = [k for k in row if k.startswith("shapley_")] + ["imbalance", "test_acc_best_epoch", "optimizer_steps",
                                                          "backward_passes", "seconds"]
    middle = [k for k in row if k not in base and k not in first + last]
    return base | {"status": "ok", "note": ""} | {k: row[k] for k in first + middle + last}


def _warm_up(datasets: Mapping[str, MultimodalDataset], device: Any = None) -> None:
    """One forward/backward pass and optimizer step per data set, so the first timed run does not pay
    for kernel set-up and torch's lazy imports (the first optimizer imports ``torch._dynamo``: seconds)."""
    device = resolve_device(device)
    for data in datasets.values():
        data = data.to(device)
        model = build_model(data).to(device)
        index = data.splits["train"][:8]
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # the first optimizer imports torch._dynamo
        output = model(data.batch(index))
        torch.nn.functional.cross_entropy(output.fused, data.labels[index]).backward()
        optimizer.step()


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
    _warm_up(datasets, fit_kw.get("device"))


def _worker_run(index: int) -> dict[str, Any]:
    job, key = _WORKER["todo"][index]
    return _run_one(_WORKER["datasets"][job.dataset], job, key, _WORKER["fit_kw"])



def _drain(futures: list[Future], finish: Any) -> None:
    """Hand each run's row to ``finish`` as it completes; on the first failure cancel the runs not started."""
    try:
        for future in as_completed(futures):
            finish(future.result())  # a failed run re-raises its error here
    finally:
        for future in futures:
            future.cancel()


def _execute(plan: _Plan, lock: Any = None) -> pd.DataFrame:
    """Train the runs of ``plan`` that its log does not hold yet; return the table (the log is locked by the caller)."""
    out, data, jobs, fit_kw, on_row = plan.out, plan.data, plan.jobs, plan.fit_kw, plan.on_row
    if out is not None:
        _repair_tail(_log_path(out))
    done = {(r["dataset"], r["method"], r["seed"], r["settings"]): r for r in (load_log(out) if out else [])}
    todo = [(job, key) for job, key in jobs if (job.dataset, job.label, job.seed, key) not in done]

    def finish(row: dict[str, Any]) -> None:
        key = (row["dataset"], row["method"], row["seed"], row["settings"])
        if key in done:  # one row per key, whatever an executor returns twice
            return
        done[key] = row
        if out is not None:
            _append(out, row)
        if on_row is not None:
            on_row(row)

    workers = plan.workers
    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # workers inherit the jobs by fork (Windows has none): train here instead
    if plan.executor is not None and todo:
        tasks = [Task(job, key, plan.datasets[job.dataset], plan.fingerprints[job.dataset], fit_kw, library_hash())
                 for job, key in todo]
        _drain([plan.executor.submit(run_task, task) for task in tasks], finish)
    elif workers <= 1 or len(todo) <= 1:
        if todo:
            _warm_up({job.dataset: data[job.dataset] for job, _ in todo}, fit_kw.get("device"))
        for job, key in todo:
            finish(_run_one(data[job.dataset], job, key, fit_kw))
    else:
        context = multiprocessing.get_context("fork")
        lock_fd = getattr(lock, "fd", None)
        pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=context, initializer=_worker_init,
                                   initargs=(data, todo, fit_kw, os.getpid(), lock_fd))
        try:
            _drain([pool.submit(_worker_run, i) for i in range(len(todo))], finish)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    table = pd.DataFrame([done[(job.dataset, job.label, job.seed, key)] for job, key in jobs])
    if out is not None:
        _write_table(out, table)
    return table

