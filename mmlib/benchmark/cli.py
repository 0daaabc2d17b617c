"""The command line, ``python -m mmlib.benchmark`` (see :func:`main`; run by ``__main__.py``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .. import data as datasets_module
from ..methods import names
from ..models import ENCODERS
from ..results import diverged_runs, summary_table
from .checks import _check_datasets
from .cluster import HOW_TO_START, ClusterExtraMissing, dask_executor
from .keys import FIT_DEFAULTS
from .log import BenchmarkLocked, default_out
from .pool import _execute
from .run import _plan

__all__ = ["main"]


def _description() -> str:
    """The first paragraph of the package's docstring."""
    from .. import benchmark as package

    return (package.__doc__ or "").split("\n\n")[0]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mmlib.benchmark", description=_description(),
                                     epilog=HOW_TO_START + " Exit status: 0 done, 2 bad input, no scheduler or "
                                            "the log is in use by another benchmark (see --wait), 1 a run failed.")
    parser.add_argument("--methods", nargs="*", default=None, help="registered names (default: all)")
    parser.add_argument("--datasets", nargs="+", default=["synthetic", "mfeat"],
                        help=f"loader names ({', '.join(datasets_module.names())})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=FIT_DEFAULTS["epochs"])
    parser.add_argument("--lr", type=float, default=FIT_DEFAULTS["lr"])
    parser.add_argument("--batch-size", type=int, default=FIT_DEFAULTS["batch_size"])
    parser.add_argument("--optimizer", default=FIT_DEFAULTS["optimizer"])
    parser.add_argument("--encoder", default=FIT_DEFAULTS["encoder"], choices=ENCODERS,
                        help="encoders of image-like modalities: the small CNN (auto) or ResNet-18")
    parser.add_argument("--feature-dim", type=int, default=FIT_DEFAULTS["feature_dim"],
                        help="features per modality (ResNet-18's own: 512)")
    parser.add_argument("--device", default=None,
                        help="train every run there (cpu, cuda, cuda:N); default: each worker's own device "
                             "($MMLIB_DEVICE, else CUDA when visible, else cpu)")
    parser.add_argument("--root", default=None, help="data root for cremad / kinetics_sounds")
    parser.add_argument("--option", action="append", default=[], metavar="DATASET:KEY=VALUE",
                        help="a loader option, e.g. synthetic:n_samples=600 (repeatable)")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (without --scheduler)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="train on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://127.0.0.1:8786; "
                             "needs requirements-cluster.txt); the log is written here, by this process only")
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
                                     optimizer=args.optimizer, encoder=args.encoder, feature_dim=args.feature_dim,
                                     **({"device": args.device} if args.device else {})))
    except (TypeError, ValueError, KeyError) as error:
        return _fail(_message(error))
    try:
        with plan.lock() as lock:
            try:
                plan.load()
            except (TypeError, ValueError, KeyError, OSError) as error:  # a loader's options, a missing root
                return _fail(_message(error))
            with contextlib.ExitStack() as stack:
                if args.scheduler:
                    if plan.workers != 1:
                        return _fail("--workers sets the local pool; with --scheduler the cluster's workers "
                                     "train the runs (leave --workers out)")
                    try:
                        plan.executor = stack.enter_context(dask_executor(args.scheduler))
                    except (ClusterExtraMissing, OSError) as error:
                        return _fail(str(error))
                    print(f"training on the Dask cluster at {args.scheduler}", flush=True)
                table = _execute(plan, lock)
    except BenchmarkLocked as error:
        return _fail(str(error))
    print(f"{len(table)} runs in {out} ({len(trained)} new, {time.perf_counter() - started:.0f}s)")
    diverged = diverged_runs(table)
    print(f"{len(diverged)} of {len(table)} runs diverged (kept in the log, left out of every mean and the frontier)"
          + "".join(f"\n  {r.dataset} {r.method} seed {r.seed}" for r in diverged.itertuples()))
    print(summary_table(table).to_string())
    return 0
