"""Checks of exercise 02. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
"""

import math
import random
import secrets
from itertools import combinations, permutations

from mmlib.metrics import imbalance as reference_imbalance
from mmlib.metrics import shapley_values

_POOL = ("audio", "visual", "text", "depth", "imu")


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _random_shapley_two(seed: int) -> dict:
    """A random two-modality game whose answer is not the hand-made 0.55."""
    rng = random.Random(seed)
    while True:
        v = {frozenset(s): round(rng.uniform(0, 1), 3) for s in ((), ("a",), ("v",), ("a", "v"))}
        first = v[frozenset({"a"})] - v[frozenset()]
        last = v[frozenset({"a", "v"})] - v[frozenset({"v"})]
        if abs((first + last) / 2 - 0.55) > 1e-3:
            return v


def check_shapley_two(shapley_two):
    """shapley_two: the two-modality Shapley value"""
    v = {frozenset(): 0.1, frozenset({"a"}): 0.6, frozenset({"v"}): 0.3, frozenset({"a", "v"}): 0.9}
    got = shapley_two(v)
    assert abs(got - 0.55) < 1e-9, (
        f"expected (0.6 - 0.1 + 0.9 - 0.3) / 2 = 0.55, got {got}: average 'a comes first' and 'a comes last'")
    seed = _fresh_seed()
    v = _random_shapley_two(seed)
    a, e, o, av = v[frozenset({"a"})], v[frozenset()], v[frozenset({"v"})], v[frozenset({"a", "v"})]
    expected = ((a - e) + (av - o)) / 2
    got = shapley_two(dict(v))
    assert abs(got - expected) < 1e-9, (
        f"random case (seed {seed}): v(empty)={e}, v(a)={a}, v(v)={o}, v(a,v)={av} give "
        f"({a} - {e} + {av} - {o}) / 2 = {expected:.4f}, got {got}: read the values from v, do not hard-code them")


def _random_shapley(seed: int):
    """A game on 2, 4 or 5 modalities (the hand-made one has 3) with a random value per subset."""
    rng = random.Random(seed)
    players = rng.sample(_POOL, rng.choice([2, 4, 5]))
    table = {frozenset(s): rng.uniform(-0.5, 1.0) for k in range(len(players) + 1) for s in combinations(players, k)}
    return players, table


def _shapley_by_orders(value, players) -> dict:
    """The Shapley value as the mean marginal gain over every order in which the players join."""
    total = dict.fromkeys(players, 0.0)
    orders = list(permutations(players))
    for order in orders:
        joined = frozenset()
        for m in order:
            total[m] += value(joined | {m}) - value(joined)
            joined = joined | {m}
    return {m: t / len(orders) for m, t in total.items()}


def check_shapley(shapley):
    """shapley: exact Shapley values for any number of modalities"""
    rng = random.Random(0)
    players = ["audio", "visual", "text"]
    table = {frozenset(s): rng.random() for k in range(4) for s in combinations(players, k)}

    def value(subset):
        return table[frozenset(subset)]

    got = shapley(value, players)
    expected = shapley_values(value, players)
    for m in players:
        assert abs(got[m] - expected[m]) < 1e-9, (
            f"{m}: expected {expected[m]:.4f}, got {got[m]:.4f} — weight each marginal gain by "
            "|S|! (n - |S| - 1)! / n! and sum over every subset S of the other modalities")
    total = value(frozenset(players)) - value(frozenset())
    assert abs(sum(got.values()) - total) < 1e-9, "the values must add up to v(all) - v(empty)"
    seed = _fresh_seed()
    players, table = _random_shapley(seed)
    got = shapley(lambda s: table[frozenset(s)], list(players))
    expected = _shapley_by_orders(lambda s: table[frozenset(s)], players)
    assert set(got) == set(players), (
        f"random case (seed {seed}): {len(players)} modalities {players} need one value each, got keys {sorted(got)}")
    wrong = {m: (round(float(got[m]), 4), round(expected[m], 4)) for m in players if abs(got[m] - expected[m]) > 1e-9}
    assert not wrong, (
        f"random case (seed {seed}): a random game on {len(players)} modalities, compared with the mean marginal "
        f"gain over all {math.factorial(len(players))} joining orders; (got, expected): {wrong}")
    dummy = shapley(lambda s: float("x" in s), ["x", "y"])
    assert abs(dummy["y"]) < 1e-12 and abs(dummy["x"] - 1) < 1e-12, "a modality that never changes v gets 0"


def _random_imbalance(seed: int) -> dict:
    """2-5 contributions in [-0.3, 1], clearly unequal and with sum |c| >= 0.1."""
    rng = random.Random(seed)
    while True:
        case = {m: round(rng.uniform(-0.3, 1.0), 4) for m in rng.sample(_POOL, rng.randint(2, 5))}
        if max(case.values()) - min(case.values()) > 0.05 and sum(abs(c) for c in case.values()) >= 0.1:
            return case


def check_imbalance(imbalance):
    """imbalance: normalised spread of the contributions"""
    for case in [{"a": 0.4, "v": 0.4}, {"a": 0.8, "v": 0.0}, {"a": 0.6, "v": 0.2, "t": 0.1}, {"a": 0.3, "v": -0.1}]:
        assert abs(imbalance(case) - reference_imbalance(case)) < 1e-9, (
            f"for {case} expected {reference_imbalance(case):.4f}, got {imbalance(case)}")
    seed = _fresh_seed()
    case = _random_imbalance(seed)
    expected = (max(case.values()) - min(case.values())) / sum(abs(c) for c in case.values())
    got = imbalance(dict(case))
    assert abs(got - expected) < 1e-9, (
        f"random case (seed {seed}): for {case} expected (max - min) / sum |c| = {expected:.6f}, got {got}")
    assert imbalance({"a": 0.0, "v": 0.0}) == 0.0, "all-zero contributions: return 0.0, not a division by zero"


CHECKS = {
    "shapley_two": check_shapley_two,
    "shapley": check_shapley,
    "imbalance": check_imbalance,
}
