"""Comparing methods honestly: every method x data set x seed, one row per run.

``compare`` trains each combination from scratch with :func:`mmlib.train.run` and
returns a tidy table (one row per run), and the runs themselves with ``keep_runs=True``;
:mod:`mmlib.results` turns the table into "mean ± std over seeds" and judges it by the
course's one rule of evidence. Scores come from the model selected on the validation
split; the test split is only ever reported.

A run whose loss stops being finite raises :class:`mmlib.train.DivergedError` (fit's
default); trained with ``on_nonfinite="record"`` it becomes a row with ``status ==
"diverged"`` and no scores, which every table of :mod:`mmlib.results` leaves out.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Literal, Mapping, overload

import pandas as pd

from .data import MultimodalDataset
from .devices import model_device
from .metrics import imbalance, probe_encoders, shapley_contributions
from .methods import Method
from .train import Run, run

MethodSpec = str | type[Method] | tuple[str | type[Method], Mapping[str, Any]]
"""A registered name, a Method class, or either with its hyperparameters."""


def _method_spec(spec: MethodSpec) -> tuple[str | type[Method], dict[str, Any]]:
    return (spec[0], dict(spec[1])) if isinstance(spec, tuple) else (spec, {})


def run_row(data: MultimodalDataset, dataset: str, label: str, method: str | Method | type[Method],
            method_kw: Mapping[str, Any], seed: int, probes: bool = False, **run_kw: Any) -> tuple[dict[str, Any], Run]:
    """Train one run with :func:`mmlib.train.run` and summarise it as one table row (and return the run).

    ``run_kw`` go to ``run`` (``build=``, ``epochs=``, ``device=``, ...); the trained model
    is scored where it trained (the data are copied to its device). A run that diverged
    (``on_nonfinite="record"``) is summarised as ``status == "diverged"`` with the
    divergence in ``note`` and no scores (its model is not evaluated).
    """
    started = time.perf_counter()
    result = run(data, method, seed=seed, method_kw=dict(method_kw), **run_kw)
    row: dict[str, Any] = {"dataset": dataset, "method": label, "seed": seed}
    if getattr(result.history, "status", "ok") == "diverged":
        where = getattr(result.history, "diverged", None) or {}
        row.update(status="diverged", note=f"method {result.history.method!r} diverged: the training loss became "
                   f"{where.get('loss')} at epoch {where.get('epoch')}, step {where.get('step')}",
                   seconds=time.perf_counter() - started)
        return row, result
    data = data.to(model_device(result.model))
    row["best_epoch"] = result.history.best_epoch
    row.update({k: v for k, v in result.history.final.items() if "loss" not in k})
    shapley = shapley_contributions(result.model, data, "test")
    row.update({f"shapley_{m}": v for m, v in shapley.items()})
    row["imbalance"] = imbalance(shapley)
    if probes:
        row.update({f"probe_{m}": v for m, v in probe_encoders(result.model, data).items()})
    row["seconds"] = time.perf_counter() - started
    return row, result


RunKey = tuple[str, str, int]
"""(data set name, method label, seed): how :func:`compare` files the runs it keeps."""


@overload
def compare(datasets: Mapping[str, MultimodalDataset], methods: Mapping[str, MethodSpec] | Iterable[str],
            seeds: Iterable[int] = ..., probes: bool = ..., *, keep_runs: Literal[False] = ...,
            **run_kw: Any) -> pd.DataFrame: ...


@overload
def compare(datasets: Mapping[str, MultimodalDataset], methods: Mapping[str, MethodSpec] | Iterable[str],
            seeds: Iterable[int] = ..., probes: bool = ..., *, keep_runs: Literal[True],
            **run_kw: Any) -> tuple[pd.DataFrame, dict[RunKey, Run]]: ...


def compare(
    datasets: Mapping[str, MultimodalDataset],
    methods: Mapping[str, MethodSpec] | Iterable[str],
    seeds: Iterable[int] = (0, 1, 2),
    probes: bool = False,
    *,
    keep_runs: bool = False,
    **run_kw: Any,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[RunKey, Run]]:
    """Train every method on every data set with every seed: the course's one methods x seeds loop.

    ``methods`` is a list of registered names, or a mapping label -> spec, where a spec
    is a registered name, a :class:`~mmlib.methods.Method` subclass (built fresh for
    every run), or ``(name or class, hyperparameters)``. ``run_kw`` go to
    :func:`mmlib.train.run` (``build=``, ``epochs=``, ``lr=``, ...).

    Returns one row per run — dataset, method (the label), seed, best_epoch,
    ``val_acc``, ``test_acc``, ``test_acc_<m>``, ``shapley_<m>`` (test), ``imbalance``
    (of the Shapley values), ``probe_<m>`` (if ``probes``), seconds — and, with
    ``keep_runs=True``, also the trained runs as ``{(dataset, label, seed): Run}``.
    """
    specs = dict(methods) if isinstance(methods, Mapping) else {m: m for m in methods}
    seeds = list(seeds)
    rows, runs = [], {}
    for dataset, data in datasets.items():
        for label, spec in specs.items():
            method, method_kw = _method_spec(spec)
            for seed in seeds:
                row, result = run_row(data, dataset, label, method, method_kw, seed, probes, **run_kw)
                rows.append(row)
                if keep_runs:
                    runs[dataset, label, seed] = result
    table = pd.DataFrame(rows)
    return (table, runs) if keep_runs else table
