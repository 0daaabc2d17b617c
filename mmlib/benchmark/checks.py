"""Checking every input of the benchmark before anything is loaded or trained.

Each bad input raises a ``TypeError``, ``ValueError`` or ``KeyError`` naming it and what
is valid. Numbers, integers and flags are checked with :mod:`mmlib.validation`'s checks
(one message format: ``benchmark: <name> must be <what>, got <value>``); data sets,
methods, seeds lists, options and paths have their own checks, since they list the valid
names (``KeyError`` for an unknown name or choice).
"""

from __future__ import annotations

import inspect
import os
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Iterable, Mapping

from .. import data as datasets_module
import torch

from .. import models as models_module
from .. import train as train_module
from ..data import MultimodalDataset
from ..methods import REGISTRY, Method, get, names
from ..validation import AnyOf, Flag, Integer, Number, OrNone
from .log import _log_path

OWNER = "benchmark"
SEED = Integer(ge=0, lt=2**63, text="non-negative integers below 2**63")
POSITIVE_INT = Integer(ge=1)
WAIT = AnyOf(Flag(), Number(ge=0, text="a number of seconds >= 0"))
#: Numeric fit options and their checks (the rest are choices, a flag or a function).
FIT_CHECKS = {"epochs": POSITIVE_INT, "batch_size": POSITIVE_INT, "feature_dim": POSITIVE_INT,
              "lr": Number(gt=0), "weight_decay": Number(ge=0), "progress": OrNone(Flag())}


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
        SEED(seed, "seeds", OWNER)
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
    for name, check in FIT_CHECKS.items():
        if name in fit_kw:
            check(fit_kw[name], name, OWNER)
    choices_of = {"optimizer": train_module.OPTIMIZERS, "fusion": models_module.FUSIONS, "select": ("val", "last"),
                  "encoder": models_module.ENCODERS,
                  "on_nonfinite": getattr(train_module, "ON_NONFINITE", ("raise",))}
    for name, choices in choices_of.items():
        if name not in fit_kw:
            continue
        if not isinstance(fit_kw[name], str):
            raise TypeError(f"{name} must be one of {sorted(choices)}, got {fit_kw[name]!r} "
                            f"({type(fit_kw[name]).__name__})")
        if fit_kw[name] not in choices:
            raise KeyError(f"unknown {name} {fit_kw[name]!r}; valid: {sorted(choices)}")
    device = fit_kw.get("device")
    if device is not None:  # its availability is checked where the runs train (a cluster's workers)
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be None, a string such as 'cpu' or 'cuda:0', or a torch.device; "
                            f"got {device!r} ({type(device).__name__})")
        try:
            torch.device(device)
        except RuntimeError:
            raise ValueError(f"unknown device {device!r}; valid: 'cpu', 'cuda', 'cuda:N'") from None
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
    WAIT(wait, "wait_for_lock", OWNER)
    return wait if isinstance(wait, bool) else float(wait)


def _check_workers(workers: Any) -> int:
    POSITIVE_INT(workers, "workers", OWNER)
    return int(workers)


def _check_executor(executor: Any, workers: int) -> Executor | None:
    if executor is None:
        return None
    if not isinstance(executor, Executor):
        raise TypeError(f"executor must be None (the local pool) or a concurrent.futures.Executor, e.g. "
                        f"distributed.Client(address).get_executor(); got {executor!r} ({type(executor).__name__})")
    if workers != 1:
        raise ValueError(f"workers={workers} sets the local pool's size; with an executor its workers train "
                         "the runs: leave workers at 1")
    return executor
