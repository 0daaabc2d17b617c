"""Data sets of the course: ``mmlib.data.load(name, **options)`` -> :class:`MultimodalDataset`.

Names: ``synthetic`` (generated), ``mfeat`` (real, shipped in ``data/``), and
``cremad`` / ``kinetics_sounds`` (the seed papers' data sets, read from the
layouts their authors' repositories use; they take ``root=``). An unknown name or
option is an error that lists the valid ones; a bad option value is a ``TypeError`` or
``ValueError`` stating the valid range; a file that cannot be read, or a data set with
an empty or overlapping split, is a :class:`DataError` naming the file or the split.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .checks import DataError
from .cremad import load_cremad
from .dataset import SPLITS, Batch, MultimodalDataset, stratified_split
from .kinetics_sounds import load_kinetics_sounds
from .mfeat import load_mfeat
from .synthetic import load_synthetic

LOADERS: dict[str, Callable[..., MultimodalDataset]] = {
    "synthetic": load_synthetic,
    "mfeat": load_mfeat,
    "cremad": load_cremad,
    "kinetics_sounds": load_kinetics_sounds,
}


def names() -> list[str]:
    """The data sets ``load`` knows."""
    return sorted(LOADERS)


def options(name: str) -> list[str]:
    """The keyword options a loader accepts."""
    return list(inspect.signature(_loader(name)).parameters)


def _loader(name: str) -> Callable[..., MultimodalDataset]:
    if not isinstance(name, str) or name not in LOADERS:
        raise KeyError(f"unknown data set {name!r}; valid names: {names()}")
    return LOADERS[name]


def load(name: str, **opts: Any) -> MultimodalDataset:
    """Load data set ``name`` with loader options ``opts`` (see each loader's docstring)."""
    loader = _loader(name)
    valid = options(name)
    unknown = [k for k in opts if k not in valid]
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for data set {name!r}; valid options: {valid}")
    return loader(**opts)


__all__ = ["Batch", "DataError", "MultimodalDataset", "SPLITS", "load", "names", "options", "stratified_split"]
