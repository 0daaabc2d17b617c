"""Run keys: what decides a benchmark run's result, hashed.

A run is identified by (data set, method, seed, ``settings``); ``settings`` is
:func:`job_key`'s hash of the fit options, the method's full hyperparameters, a
fingerprint of the data (:func:`data_fingerprint`) and the source of the library
(:func:`library_hash`) and of the method's class. Change any of them and the run is redone.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..data import MultimodalDataset
from ..methods import Method

__all__ = ["FIT_DEFAULTS", "Job", "data_fingerprint", "job_key", "library_hash", "library_sources"]

#: Fit options recorded in every key (their defaults are mmlib.train's).
FIT_DEFAULTS: dict[str, Any] = {"epochs": 20, "lr": 0.05, "batch_size": 64, "optimizer": "sgd",
                                "weight_decay": 1e-4, "fusion": "concat", "feature_dim": 32,
                                "encoder": "auto"}


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _source_hash(paths: Iterable[Path]) -> str:
    digest = hashlib.sha1()
    for path in paths:
        digest.update(path.read_bytes() if path.is_file() else path.name.encode())
    return digest.hexdigest()[:12]


_LIBRARY_HASH: list[str] = []


#: Modules that draw and train nothing (no module a run imports reads them; a test checks it):
#: restyling a figure must not make chapter 07 retrain every run.
PRESENTATION = ("plots.py", "widgets.py")


def library_sources() -> list[Path]:
    """The files :func:`library_hash` reads: every ``.py`` under ``mmlib/`` but ``mmlib/course/``
    and the presentation modules (:data:`PRESENTATION`)."""
    root = Path(__file__).parent.parent  # mmlib/
    return [path for path in sorted(root.rglob("*.py"))
            if path.relative_to(root).parts[0] != "course" and path.relative_to(root).as_posix() not in PRESENTATION]


def library_hash() -> str:
    """A short hash of mmlib's source files: a result is reused only if the code that made it is unchanged.

    Every ``.py`` under ``mmlib/`` counts, this package included, except the course tooling
    (``mmlib/course/``: book runner and grader) and the figures and widgets, which train nothing. Read once per process
    (the code this process runs is the code it imported), so the runs of one benchmark, and
    of its worker processes, all carry the same hash.
    """
    if not _LIBRARY_HASH:
        _LIBRARY_HASH.append(_source_hash(library_sources()))
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

