"""Argument checks with one message format: typed, finite, in range.

Each check is a small object that states what it accepts (``describe()``) and
raises, for a value it does not accept::

    <owner>: <name> must be <description>, got <value>

``TypeError`` when the value has the wrong type (``True`` is not an int here, nor a
number), ``ValueError`` when the type is right but the value is not (NaN, inf, out
of range, not one of the options). :func:`mmlib.train.fit` and :func:`~mmlib.train.run`
check their arguments with them, and every method declares its hyperparameters' checks
in ``hyperparameter_ranges`` (see :class:`mmlib.methods.Method`)::

    Number(ge=0)          a finite number >= 0
    Number(gt=0, le=1)    a finite number in (0, 1]
    Integer(ge=1)         an int >= 1
    Flag()                True or False
    Choice(("a", "b"))    one of 'a', 'b'
    OrNone(Integer(ge=1)) None or an int >= 1
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence


def _fmt(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


class Check:
    """A rule for one argument: :meth:`describe` says what passes, :meth:`__call__` enforces it."""

    def describe(self) -> str:
        raise NotImplementedError

    def type_ok(self, value: Any) -> bool:
        """Whether ``value`` has an accepted type (a wrong type is a ``TypeError``)."""
        return True

    def value_ok(self, value: Any) -> bool:
        """Whether ``value`` (of an accepted type) is in range."""
        return True

    def __call__(self, value: Any, name: str, owner: str) -> None:
        if not self.type_ok(value):
            raise TypeError(f"{owner}: {name} must be {self.describe()}, got {value!r} ({type(value).__name__})")
        if not self.value_ok(value):
            raise ValueError(f"{owner}: {name} must be {self.describe()}, got {value!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.describe()}>"


def is_number(value: Any) -> bool:
    """A real number that is not a bool (ints, floats, NumPy scalars)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    """An integer that is not a bool (Python or NumPy)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class _Bounded(Check):
    kind = "number"

    def __init__(self, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
                 lt: float | None = None, text: str | None = None) -> None:
        if ge is not None and gt is not None or le is not None and lt is not None:
            raise ValueError("give at most one lower bound (ge or gt) and one upper bound (le or lt)")
        self.ge, self.gt, self.le, self.lt, self.text = ge, gt, le, lt, text

    @property
    def low(self) -> float | None:
        return self.ge if self.ge is not None else self.gt

    @property
    def high(self) -> float | None:
        return self.le if self.le is not None else self.lt

    def range_text(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None:
            return (f"in {'[' if self.ge is not None else '('}{_fmt(low)}, "
                    f"{_fmt(high)}{']' if self.le is not None else ')'}")
        if low is not None:
            return f"{'>=' if self.ge is not None else '>'} {_fmt(low)}"
        if high is not None:
            return f"{'<=' if self.le is not None else '<'} {_fmt(high)}"
        return ""

    def describe(self) -> str:
        if self.text:
            return self.text
        return f"{self.kind} {self.range_text()}".rstrip()

    def value_ok(self, value: Any) -> bool:
        return ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))


class Number(_Bounded):
    """A finite real number (int or float, not bool), optionally bounded: ``ge``/``gt`` below, ``le``/``lt`` above."""

    kind = "a finite number"

    def type_ok(self, value: Any) -> bool:
        return is_number(value)

    def value_ok(self, value: Any) -> bool:
        return math.isfinite(value) and super().value_ok(value)


class Integer(_Bounded):
    """An int (not bool; a float such as ``2.0`` is refused), optionally bounded."""

    kind = "an int"

    def type_ok(self, value: Any) -> bool:
        return is_int(value)


class Flag(Check):
    """``True`` or ``False`` (``0``/``1`` and strings are refused)."""

    def describe(self) -> str:
        return "True or False"

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, bool)


class Choice(Check):
    """One of a fixed set of options (a value outside them is a ``ValueError``)."""

    def __init__(self, options: Sequence[Any]) -> None:
        self.options = tuple(options)

    def describe(self) -> str:
        return "one of " + ", ".join(map(repr, self.options)) if len(self.options) > 1 else repr(self.options[0])

    def value_ok(self, value: Any) -> bool:
        try:
            return any(value == option and type(value) is type(option) for option in self.options)
        except Exception:  # noqa: BLE001 - e.g. an array compared with a string
            return False


class OrNone(Check):
    """``None`` or a value ``inner`` accepts."""

    def __init__(self, inner: Check) -> None:
        self.inner = inner

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def type_ok(self, value: Any) -> bool:
        return value is None or self.inner.type_ok(value)

    def value_ok(self, value: Any) -> bool:
        return value is None or self.inner.value_ok(value)


class AnyOf(Check):
    """A value any one of ``checks`` accepts (a ``TypeError`` only if no check accepts its type)."""

    def __init__(self, *checks: Check) -> None:
        self.checks = checks

    def describe(self) -> str:
        return " or ".join(c.describe() for c in self.checks)

    def type_ok(self, value: Any) -> bool:
        return any(c.type_ok(value) for c in self.checks)

    def value_ok(self, value: Any) -> bool:
        return any(c.type_ok(value) and c.value_ok(value) for c in self.checks)


class Increasing(Check):
    """A tuple or list of ``n`` finite numbers, strictly increasing."""

    def __init__(self, n: int) -> None:
        self.n = n

    def describe(self) -> str:
        return f"a tuple of {self.n} strictly increasing finite numbers"

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, (tuple, list)) and all(is_number(v) for v in value)

    def value_ok(self, value: Any) -> bool:
        return (len(value) == self.n and all(math.isfinite(v) for v in value)
                and all(a < b for a, b in zip(value, value[1:])))


__all__ = ["AnyOf", "Check", "Choice", "Flag", "Increasing", "Integer", "Number", "OrNone", "is_int", "is_number"]
