"""The data layer's error and the checks of loader options.

Every loader validates its options before it reads or generates anything: a wrong
type is a ``TypeError`` and a value out of range a ``ValueError``, both naming the
option and stating the valid range. Problems with the data themselves — a file that
cannot be read or decoded, an empty or overlapping split, labels out of range,
non-finite features — raise :class:`DataError`, naming the file or the split.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Sequence

#: Seeds go to ``torch.Generator.manual_seed``; the course uses non-negative ones.
MAX_SEED = 2**63 - 1


class DataError(ValueError):
    """A data file that cannot be read, or a data set whose contents are inconsistent.

    The message names the file (with its path) or the split; when a decoder failed,
    its exception is the ``__cause__``. A ``ValueError``, so code that caught the
    loaders' earlier ``ValueError`` keeps working.
    """


def _shown(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def integer(option: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]`` (a bool is not an integer)."""
    valid = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{option} must be {valid}, got {_shown(value)}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{option} must be {valid}, got {value}")
    return value


def number(option: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False,
           high_open: bool = False) -> float:
    """``value`` as a finite ``float`` in the interval from ``low`` to ``high`` (open ends as asked)."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"
    valid = f"a finite number in {interval}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{option} must be {valid}, got {_shown(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{option} must be {valid}, got {value}")
    if value < low or (low_open and value == low) or value > high or (high_open and value == high):
        raise ValueError(f"{option} must be {valid}, got {value}")
    return value


def fractions(option: str, value: Any) -> tuple[float, float, float]:
    """Three fractions (train, val, test), each in (0, 1), summing to 1."""
    valid = "three numbers (train, val, test), each in (0, 1), summing to 1, e.g. (0.6, 0.2, 0.2)"
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise TypeError(f"{option} must be {valid}, got {_shown(value)}")
    parts = []
    for split, part in zip(("train", "val", "test"), value):
        if isinstance(part, bool) or not isinstance(part, numbers.Real):
            raise TypeError(f"{option} must be {valid}; its {split} fraction is {_shown(part)}")
        part = float(part)
        if not (math.isfinite(part) and 0.0 < part < 1.0):
            raise ValueError(f"{option} must be {valid}; its {split} fraction is {part}, "
                             f"which would leave the {split} split empty or everything else empty")
        parts.append(part)
    if abs(sum(parts) - 1.0) > 1e-6:
        raise ValueError(f"{option} must be {valid}; {tuple(parts)} sums to {sum(parts):g}")
    return parts[0], parts[1], parts[2]


def seed(value: Any, option: str = "seed") -> int:
    """A seed: an integer in ``[0, 2**63 - 1]``."""
    return integer(option, value, 0, MAX_SEED)


def flag(option: str, value: Any, allow_none: bool = False) -> bool | None:
    """``True`` or ``False`` (or ``None`` if allowed); ``0``/``1`` or strings are refused."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        valid = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"{option} must be {valid}, got {_shown(value)}")
    return value


def root_path(option: str, value: Any) -> Path | None:
    """A folder option: ``None`` or a ``str`` / ``os.PathLike`` (not checked on disk here)."""
    if value is None:
        return None
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    raise TypeError(f"{option} must be a folder path (str or pathlib.Path), got {_shown(value)}")


def file_name(option: str, value: Any) -> str:
    """A file name relative to a root: a non-empty ``str``."""
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{option} must be a non-empty file name (str), got {_shown(value)}")
    return value


def describe(error: BaseException) -> str:
    """A decoder's exception as a short reason for a :class:`DataError` message."""
    if isinstance(error, PermissionError):
        return "permission denied (check the file's permissions)"
    if isinstance(error, IsADirectoryError):
        return "it is a folder, not a file"
    text = str(error).strip().rstrip(".")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
