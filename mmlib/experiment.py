"""Comparing methods honestly: every method x data set x seed, then mean ± std.

``compare`` trains each combination from scratch with :func:`mmlib.train.run` and
returns a tidy table (one row per run); ``summarize`` turns it into the
"mean ± std over seeds" tables every chapter shows. Scores come from the model
selected on the validation split; the test split is only ever reported.

A run whose loss stops being finite raises :class:`mmlib.train.DivergedError` (fit's
default); trained with ``on_nonfinite="record"`` it becomes a row with ``status ==
"diverged"`` and no scores, which ``summarize`` and ``mean_std`` leave out.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping

import pandas as pd

from .data import MultimodalDataset
from .metrics import imbalance, probe_encoders, shapley_contributions
from .train import Run, run

MethodSpec = str | tuple[str, Mapping[str, Any]]


def _method_spec(spec: MethodSpec) -> tuple[str, dict[str, Any]]:
    return (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))


def run_row(data: MultimodalDataset, dataset: str, label: str, method: str, method_kw: Mapping[str, Any],
            seed: int, probes: bool = False, **fit_kw: Any) -> tuple[dict[str, Any], Run]:
    """Train one run and summarise it as one table row (and return the run itself).

    A run that diverged (``on_nonfinite="record"``) is summarised as ``status ==
    "diverged"`` with the divergence in ``note`` and no scores (its model is not evaluated).
    """
    started = time.perf_counter()
    result = run(data, method, seed=seed, method_kw=dict(method_kw), **fit_kw)
    row: dict[str, Any] = {"dataset": dataset, "method": label, "seed": seed}
    if getattr(result.history, "status", "ok") == "diverged":
        where = getattr(result.history, "diverged", None) or {}
        row.update(status="diverged", note=f"method {result.history.method!r} diverged: the training loss became "
                   f"{where.get('loss')} at epoch {where.get('epoch')}, step {where.get('step')}",
                   seconds=time.perf_counter() - started)
        return row, result
    row["best_epoch"] = result.history.best_epoch
    row.update({k: v for k, v in result.history.final.items() if "loss" not in k})
    shapley = shapley_contributions(result.model, data, "test")
    row.update({f"shapley_{m}": v for m, v in shapley.items()})
    row["imbalance"] = imbalance(shapley)
    if probes:
        row.update({f"probe_{m}": v for m, v in probe_encoders(result.model, data).items()})
    row["seconds"] = time.perf_counter() - started
    return row, result


def compare(
    datasets: Mapping[str, MultimodalDataset],
    methods: Mapping[str, MethodSpec] | Iterable[str],
    seeds: Iterable[int] = (0, 1, 2),
    probes: bool = False,
    **fit_kw: Any,
) -> pd.DataFrame:
    """Train every method on every data set with every seed; one row per run.

    ``methods`` is a list of registered names, or a mapping label -> name or
    label -> (name, hyperparameters). Columns: dataset, method, seed, best_epoch,
    ``val_acc``, ``test_acc``, ``test_acc_<m>``, ``shapley_<m>`` (test), ``imbalance``
    (of the Shapley values), ``probe_<m>`` (if ``probes``), seconds.
    """
    specs = dict(methods) if isinstance(methods, Mapping) else {m: m for m in methods}
    rows = []
    for dataset, data in datasets.items():
        for label, spec in specs.items():
            name, method_kw = _method_spec(spec)
            for seed in seeds:
                rows.append(run_row(data, dataset, label, name, method_kw, seed, probes, **fit_kw)[0])
    return pd.DataFrame(rows)


def _finished(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the runs that diverged (a table without a ``status`` column is returned as is)."""
    return table[table["status"] != "diverged"] if "status" in table else table


def summarize(table: pd.DataFrame, columns: Iterable[str] | None = None, digits: int = 3,
              by: tuple[str, ...] = ("dataset", "method")) -> pd.DataFrame:
    """Mean ± std over seeds of the numeric columns (or ``columns``), as strings, in first-seen order.

    Runs that diverged (``status == "diverged"``) are left out.
    """
    table = _finished(table)
    numeric = [c for c in (columns or table.columns) if c not in (*by, "seed") and pd.api.types.is_numeric_dtype(table[c])]
    grouped = table.groupby(list(by), sort=False)[numeric]
    mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    def cell(m: float, s: float) -> str:
        return "—" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}"

    return pd.DataFrame({c: [cell(m, s) for m, s in zip(mean[c], std[c])] for c in numeric}, index=mean.index)


def mean_std(table: pd.DataFrame, column: str, by: tuple[str, ...] = ("dataset", "method")) -> pd.DataFrame:
    """Numeric mean and std over seeds of one column (for plots and checks); diverged runs left out."""
    return _finished(table).groupby(list(by), sort=False)[column].agg(["mean", "std"]).fillna(0.0)
