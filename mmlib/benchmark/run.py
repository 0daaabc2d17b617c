"""The benchmark itself: check the inputs, take the log's lock, load the data, train what is missing."""

from __future__ import annotations

import contextlib
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from .. import data as datasets_module
from ..data import MultimodalDataset
from ..experiment import MethodSpec
from ..methods import Method
from .checks import (_check_datasets, _check_executor, _check_fit_options, _check_methods, _check_out, _check_seeds,
                     _check_wait, _check_workers)
from .keys import Job, data_fingerprint, job_key
from .log import _log_path, _LogLock
from .pool import _execute

__all__ = ["benchmark"]


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
    executor: Executor | None = None
    data: dict[str, MultimodalDataset] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
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
        # where a run trains (device) is recorded in its row, not part of its key
        key_kw = {k: v for k, v in self.fit_kw.items() if k not in ("progress", "device")}
        self.fingerprints = fingerprints = {label: data_fingerprint(d) for label, d in self.data.items()}
        self.jobs = []
        for dataset in self.data:
            for label, (cls, kw) in self.specs.items():
                for seed in self.seeds:
                    job = Job(dataset, label, cls, tuple(sorted(kw.items())), seed)
                    self.jobs.append((job, job_key(job, key_kw, fingerprints[dataset])))


def _plan(datasets: Any, methods: Any, seeds: Any, out: Any, workers: Any, on_row: Any, wait_for_lock: Any,
          fit_kw: dict[str, Any], executor: Any = None) -> _Plan:
    """Check every input of :func:`benchmark` (a clear error for each bad one) before anything is loaded or trained."""
    checked_datasets = _check_datasets(datasets)
    specs = _check_methods(methods)
    checked_seeds = _check_seeds(seeds)
    checked_workers = _check_workers(workers)
    checked_executor = _check_executor(executor, checked_workers)
    if on_row is not None and not callable(on_row):
        raise TypeError(f"on_row must be a function of one row (or None), got {on_row!r}")
    wait = _check_wait(wait_for_lock)
    fit_kw = dict(fit_kw)
    fit_kw.setdefault("progress", False)
    _check_fit_options(fit_kw)
    return _Plan(checked_datasets, specs, checked_seeds, _check_out(out), checked_workers, on_row, wait, fit_kw,
                 checked_executor)


def benchmark(
    datasets: Mapping[str, MultimodalDataset | str | tuple[str, Mapping[str, Any]]] | Iterable[str],
    methods: Mapping[str, MethodSpec | type[Method] | tuple[type[Method], Mapping[str, Any]]]
    | Iterable[str | type[Method]] | None = None,
    seeds: Iterable[int] = (0, 1, 2),
    *,
    out: str | Path | None = None,
    workers: int = 1,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    wait_for_lock: bool | float = False,
    executor: Executor | None = None,
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
        executor: any ``concurrent.futures.Executor`` to train the runs on instead of the local
            pool, e.g. a Dask cluster's (``distributed.Client(address).get_executor()``, or
            :func:`mmlib.benchmark.cluster.dask_executor`). Each run is sent as one task
            (:mod:`mmlib.benchmark.remote`: data sets given by name are loaded by the worker,
            checked against this process's by fingerprint); the workers return rows and only
            this process writes the log. The rows equal the local pool's for the same seeds
            on the same kind of device. ``workers`` must then stay 1.
        on_row: called with each newly finished row, after it is saved.
        wait_for_lock: when another benchmark is writing the same log: ``False`` raises
            :class:`BenchmarkLocked` at once, ``True`` waits until it is done, a number
            waits at most that many seconds.
        fit_kw: options of :func:`mmlib.train.run` / :func:`mmlib.train.fit` (epochs, lr, encoder, ...).
            ``device=`` trains every run there; by default each run trains on the device its
            worker owns (``$MMLIB_DEVICE``, else CUDA when visible, else the CPU). The device
            is recorded in each row (``device``, ``host``), not part of the run's key.

    Every input is checked before anything is loaded or trained: a bad one raises a
    ``TypeError``, ``ValueError`` or ``KeyError`` that names it and the valid choices.

    Columns: dataset, method, family, seed, settings, status ('ok', 'n/a' or 'diverged'),
    note, best_epoch, val_acc, test_acc, test_f1 (macro), val_acc_<m>, test_acc_<m>,
    shapley_<m> (test), imbalance (of the Shapley values), test_acc_best_epoch (the test
    accuracy of the luckiest epoch: what test-split selection would report),
    optimizer_steps and backward_passes (:func:`mmlib.benchmark.work.counted_work`),
    seconds, device (``cpu`` or ``cuda:N (name)``), host. A diverged run has no
    scores (NaN) and its error in ``note``; it is left out of every mean and frontier.
    """
    plan = _plan(datasets, methods, seeds, out, workers, on_row, wait_for_lock, fit_kw, executor)
    with plan.lock() as lock:
        plan.load()
        return _execute(plan, lock)
