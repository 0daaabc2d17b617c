"""Reference solutions of exercise 02 (tests prove they pass exercises/checks/02_diagnosing_imbalance.py)."""

import math
from itertools import combinations


def shapley_two(v: dict[frozenset, float]) -> float:
    """Shapley contribution of modality 'a' in a two-modality game."""
    first = v[frozenset({"a"})] - v[frozenset()]
    last = v[frozenset({"a", "v"})] - v[frozenset({"v"})]
    return (first + last) / 2


def shapley(value, modalities: list[str]) -> dict[str, float]:
    """Exact Shapley value of every modality."""
    n = len(modalities)
    result = {}
    for m in modalities:
        others = [o for o in modalities if o != m]
        result[m] = sum(
            math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            * (value(frozenset(s) | {m}) - value(frozenset(s)))
            for k in range(n) for s in combinations(others, k))
    return result


def imbalance(contributions: dict[str, float]) -> float:
    """Normalised spread of the contributions, in [0, 1] for non-negative ones."""
    total = sum(abs(c) for c in contributions.values())
    return 0.0 if total == 0 else (max(contributions.values()) - min(contributions.values())) / total
