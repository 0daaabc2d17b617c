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

"Relative balance" (the chapter 7 frontier): a method is on the Pareto frontier of a
data set when no other method is at least as accurate *and* at least as balanced and
strictly better in one of the two::

    i is dominated  <=>  exists j: acc_j >= acc_i and imb_j <= imb_i and (acc_j > acc_i or imb_j < imb_i)

From a shell::

    python -m mmlib.benchmark --methods baseline ogm_ge --datasets synthetic mfeat \
        --seeds 0 1 2 --epochs 20 --out _build/benchmark.csv
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import multiprocessing
import numpy as np
import pandas as pd
import torch

from . import data as datasets_module
from .data import MultimodalDataset
from .experiment import run_row
from .methods import FAMILIES, REGISTRY, Method, NotApplicable, get, names
from .metrics import macro_f1, predict
from .models import build_model

__all__ = ["Job", "benchmark", "data_fingerprint", "default_out", "family_averages", "family_order",
           "frontier_table", "job_key", "library_hash", "load_log", "main", "method_means", "ordered_methods",
           "pareto_frontier", "plot_relative_balance", "summary_table"]

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


def library_hash() -> str:
    """A short hash of every source file of mmlib: a result is reused only if the code that made it is unchanged."""
    root = Path(__file__).parent
    return _source_hash(sorted(root.rglob("*.py")))


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
    """``<repo>/_build/<name>.csv`` (the course root is found from the working directory)."""
    from .bookfile import repo_root

    return repo_root() / "_build" / f"{name}.csv"


def _log_path(out: Path) -> Path:
    return out.with_suffix(".jsonl")


def load_log(out: str | Path) -> list[dict[str, Any]]:
    """The finished rows recorded for ``out`` (a torn last line from a crash is dropped)."""
    log = _log_path(Path(out))
    if not log.is_file():
        return []
    rows = []
    with open(log, "rb") as f:
        raw = f.read()
    good_end = 0
    for line in raw.split(b"\n"):
        if not line.strip():
            good_end += len(line) + 1
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # an interrupted write: keep everything before it
        good_end += len(line) + 1
    if good_end < len(raw):
        with open(log, "r+b") as f:
            f.truncate(min(good_end, len(raw)))
    return rows


def _append(out: Path, row: Mapping[str, Any]) -> None:
    """Append one row as one JSON line with a single write, then flush it to disk."""
    log = _log_path(out)
    log.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, default=float) + "\n").encode()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_table(out: Path, table: pd.DataFrame) -> None:
    """Write the tidy table atomically (temporary file, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)


# --------------------------------------------------------------------------- one run
def _run_one(data: MultimodalDataset, job: Job, key: str, fit_kw: Mapping[str, Any]) -> dict[str, Any]:
    """Train one run and return its row (``status`` 'ok', or 'n/a' with the method's reason)."""
    base = {"dataset": job.dataset, "method": job.label, "family": job.method_cls.family,
            "seed": job.seed, "settings": key}
    started = time.perf_counter()
    try:
        row, result = run_row(data, job.dataset, job.label, job.build(), {}, job.seed, **fit_kw)
        output, labels = predict(result.model, data, "test", result.method)
    except NotApplicable as reason:
        return base | {"status": "n/a", "note": str(reason), "seconds": time.perf_counter() - started}
    row["test_f1"] = macro_f1(output.fused, labels, data.n_classes)
    row["seconds"] = time.perf_counter() - started
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


def _worker_init(datasets: Mapping[str, MultimodalDataset], todo: list[tuple[Job, str]],
                 fit_kw: Mapping[str, Any]) -> None:
    """Runs in each forked worker: the jobs are inherited, not pickled (a notebook's class cannot be)."""
    torch.set_num_threads(1)  # the workers share the cores (mmlib's default is one thread anyway)
    os.environ["MMLIB_PROGRESS"] = "0"
    _WORKER.update(datasets=datasets, todo=todo, fit_kw=fit_kw)
    _warm_up(datasets)


def _worker_run(index: int) -> dict[str, Any]:
    job, key = _WORKER["todo"][index]
    return _run_one(_WORKER["datasets"][job.dataset], job, key, _WORKER["fit_kw"])


# --------------------------------------------------------------------------- the benchmark
def _resolve_datasets(datasets: Mapping[str, Any] | Iterable[str]) -> dict[str, MultimodalDataset]:
    if not isinstance(datasets, Mapping):
        datasets = {name: name for name in datasets}
    resolved = {}
    for label, spec in datasets.items():
        if isinstance(spec, MultimodalDataset):
            resolved[label] = spec
        elif isinstance(spec, str):
            resolved[label] = datasets_module.load(spec)
        else:
            name, options = spec
            resolved[label] = datasets_module.load(name, **dict(options))
    return resolved


def _resolve_methods(methods: Mapping[str, MethodSpec] | Iterable[str | type[Method]] | None
                     ) -> dict[str, tuple[type[Method], dict[str, Any]]]:
    if methods is None:
        methods = names()
    if not isinstance(methods, Mapping):
        methods = {(m if isinstance(m, str) else m.name): m for m in methods}
    resolved = {}
    for label, spec in methods.items():
        target, kw = (spec, {}) if not isinstance(spec, tuple) else (spec[0], dict(spec[1]))
        if isinstance(target, str):
            get(target, **kw)  # unknown names / hyperparameters fail here, listing the valid ones
            target = REGISTRY[target]
        elif not (isinstance(target, type) and issubclass(target, Method)):
            raise TypeError(f"method {label!r}: expected a registered name or a Method subclass, got {target!r}")
        resolved[label] = (target, kw)
    return resolved


def benchmark(
    datasets: Mapping[str, MultimodalDataset | str | tuple[str, Mapping[str, Any]]] | Iterable[str],
    methods: Mapping[str, MethodSpec] | Iterable[str | type[Method]] | None = None,
    seeds: Iterable[int] = (0, 1, 2),
    *,
    out: str | Path | None = None,
    workers: int = 1,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    **fit_kw: Any,
) -> pd.DataFrame:
    """Train every method on every data set with every seed; return the tidy table (one row per run).

    Args:
        datasets: label -> data set (or loader name, or (loader name, options)); a list of names.
        methods: registered names, ``Method`` subclasses, or label -> name / class /
            (name or class, hyperparameters). Default: every registered method.
        seeds: one run per seed.
        out: the table's CSV path (its run log is the same path with ``.jsonl``). Finished
            runs recorded there are reused, never recomputed; new ones are appended one by
            one as they finish. ``None`` keeps everything in memory.
        workers: processes training runs in parallel (1: in this process; where the platform
            cannot fork, always 1). The rows do not depend on it.
        on_row: called with each newly finished row, after it is saved.
        fit_kw: options of :func:`mmlib.train.run` / :func:`mmlib.train.fit` (epochs, lr, ...).

    Columns: dataset, method, family, seed, settings, status ('ok' or 'n/a'), note,
    best_epoch, val_acc, test_acc, test_f1 (macro), val_acc_<m>, test_acc_<m>,
    shapley_<m> (test), imbalance (of the Shapley values), seconds.
    """
    fit_kw.setdefault("progress", False)
    data = _resolve_datasets(datasets)
    specs = _resolve_methods(methods)
    seeds = list(seeds)
    out = Path(out) if out is not None else None
    key_kw = {k: v for k, v in fit_kw.items() if k != "progress"}
    fingerprints = {label: data_fingerprint(d) for label, d in data.items()}
    jobs: list[tuple[Job, str]] = []
    for dataset in data:
        for label, (cls, kw) in specs.items():
            for seed in seeds:
                job = Job(dataset, label, cls, tuple(sorted(kw.items())), int(seed))
                jobs.append((job, job_key(job, key_kw, fingerprints[dataset])))

    done = {(r["dataset"], r["method"], r["seed"], r["settings"]): r for r in (load_log(out) if out else [])}
    todo = [(job, key) for job, key in jobs if (job.dataset, job.label, job.seed, key) not in done]

    def finish(row: dict[str, Any]) -> None:
        done[(row["dataset"], row["method"], row["seed"], row["settings"])] = row
        if out is not None:
            _append(out, row)
        if on_row is not None:
            on_row(row)

    if "fork" not in multiprocessing.get_all_start_methods():
        workers = 1  # workers inherit the jobs by fork (Windows has none): train here instead
    if workers <= 1 or len(todo) <= 1:
        if todo:
            _warm_up({job.dataset: data[job.dataset] for job, _ in todo})
        for job, key in todo:
            finish(_run_one(data[job.dataset], job, key, fit_kw))
    else:
        context = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=context, initializer=_worker_init,
                                   initargs=(data, todo, fit_kw))
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


# --------------------------------------------------------------------------- relative balance
def pareto_frontier(accuracy: Sequence[float], imbalance: Sequence[float]) -> np.ndarray:
    """Which points are not dominated (higher accuracy and lower imbalance are both better).

    Point ``i`` is dominated when some ``j`` has ``acc_j >= acc_i`` and ``imb_j <= imb_i``
    with at least one inequality strict. Identical points do not dominate each other
    (both are on the frontier). Points with a NaN coordinate are never on it and dominate
    nothing. Returns a boolean array, one entry per point.
    """
    acc = np.asarray(accuracy, dtype=float)
    imb = np.asarray(imbalance, dtype=float)
    if acc.shape != imb.shape or acc.ndim != 1:
        raise ValueError(f"accuracy and imbalance must be 1-D of the same length, got {acc.shape} and {imb.shape}")
    valid = ~(np.isnan(acc) | np.isnan(imb))
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
    """Mean ± std over seeds, one row per (dataset, family, method) in benchmark order; n/a kept as 'n/a'."""
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
                    row[c] = "n/a"
                elif values.isna().all():
                    row[c] = "—"
                else:
                    std = values.std(ddof=1) if len(values) > 1 else 0.0
                    row[c] = f"{values.mean():.{digits}f} ± {std:.{digits}f}"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "family", "method"])


def method_means(table: pd.DataFrame, columns: Sequence[str] = ("test_acc", "imbalance")) -> pd.DataFrame:
    """Numeric mean and std over seeds of ``columns`` per (dataset, method) (runs that were n/a dropped)."""
    ok = _ok(table)
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
    parser = argparse.ArgumentParser(prog="python -m mmlib.benchmark", description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--out", default=None, help="the CSV table (default: _build/benchmark.csv)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    options: dict[str, dict[str, Any]] = {d: {} for d in args.datasets}
    for d in args.datasets:
        if d in ("cremad", "kinetics_sounds") and args.root:
            options[d]["root"] = args.root
    for item in args.option:
        dataset, _, pair = item.partition(":")
        key, _, value = pair.partition("=")
        if dataset not in options or not key:
            raise SystemExit(f"--option {item!r}: expected DATASET:KEY=VALUE with DATASET in {list(options)}")
        try:
            options[dataset][key] = json.loads(value)
        except json.JSONDecodeError:
            options[dataset][key] = value
    out = Path(args.out) if args.out else default_out()
    n_before = len(load_log(out))
    started = time.perf_counter()

    def report(row: dict[str, Any]) -> None:
        score = row.get("test_acc", math.nan)
        print(f"{row['dataset']:>16s} {row['method']:>22s} seed {row['seed']}: {row['status']:3s} "
              f"test_acc={score:.3f} ({row['seconds']:.1f}s)", flush=True)

    table = benchmark({d: (d, o) for d, o in options.items()}, args.methods, args.seeds, out=out,
                      workers=args.workers, on_row=report, epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, optimizer=args.optimizer)
    print(f"{len(table)} runs in {out} ({len(load_log(out)) - n_before} new, "
          f"{time.perf_counter() - started:.0f}s)")
    print(summary_table(table).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
