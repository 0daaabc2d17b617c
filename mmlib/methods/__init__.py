"""Every balancing method of the course, one file each, behind one registry.

``mmlib.methods.get(name, **hyperparameters)`` returns a :class:`Method`;
``mmlib.methods.names()`` lists them; ``mmlib.methods.ledger()`` tabulates each one's
paper, the public code it was checked against and its stated differences from that code. Each module in this package registers its
methods with :func:`register` when imported; all of them are imported here, so
adding a method is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import FAMILIES, REGISTRY, REMEDY_FAMILIES, Baseline, Method, NotApplicable, encoder_parameters, feature_widths, get, names, register
from .provenance import THIS_COURSE, Difference, Paper, Source, ledger

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "provenance"):
        importlib.import_module(f"{__name__}.{_module.name}")


def by_family() -> dict[str, list[str]]:
    """Registered method names grouped by the survey's stage of training."""
    groups: dict[str, list[str]] = {family: [] for family in FAMILIES}
    for name in names():
        groups[REGISTRY[name].family].append(name)
    return {family: members for family, members in groups.items() if members}


__all__ = ["FAMILIES", "REMEDY_FAMILIES", "THIS_COURSE", "Baseline", "Difference", "Method", "NotApplicable", "Paper", "Source",
           "by_family", "encoder_parameters", "feature_widths", "get", "ledger", "names", "register"]
