"""Checks of exercise 02. Each takes the learner's function and raises AssertionError(hint)."""

import random

from mmlib.metrics import imbalance as reference_imbalance
from mmlib.metrics import shapley_values


def check_shapley_two(shapley_two):
    """shapley_two: the two-modality Shapley value"""
    v = {frozenset(): 0.1, frozenset({"a"}): 0.6, frozenset({"v"}): 0.3, frozenset({"a", "v"}): 0.9}
    got = shapley_two(v)
    assert abs(got - 0.55) < 1e-9, (
        f"expected (0.6 - 0.1 + 0.9 - 0.3) / 2 = 0.55, got {got}: average 'a comes first' and 'a comes last'")


def check_shapley(shapley):
    """shapley: exact Shapley values for any number of modalities"""
    rng = random.Random(0)
    players = ["audio", "visual", "text"]
    table = {}

    def value(subset):
        return table.setdefault(frozenset(subset), rng.random())

    got = shapley(value, players)
    expected = shapley_values(value, players)
    for m in players:
        assert abs(got[m] - expected[m]) < 1e-9, (
            f"{m}: expected {expected[m]:.4f}, got {got[m]:.4f} — weight each marginal gain by "
            "|S|! (n - |S| - 1)! / n! and sum over every subset S of the other modalities")
    total = value(frozenset(players)) - value(frozenset())
    assert abs(sum(got.values()) - total) < 1e-9, "the values must add up to v(all) - v(empty)"
    dummy = shapley(lambda s: float("x" in s), ["x", "y"])
    assert abs(dummy["y"]) < 1e-12 and abs(dummy["x"] - 1) < 1e-12, "a modality that never changes v gets 0"


def check_imbalance(imbalance):
    """imbalance: normalised spread of the contributions"""
    for case in [{"a": 0.4, "v": 0.4}, {"a": 0.8, "v": 0.0}, {"a": 0.6, "v": 0.2, "t": 0.1}, {"a": 0.3, "v": -0.1}]:
        assert abs(imbalance(case) - reference_imbalance(case)) < 1e-9, (
            f"for {case} expected {reference_imbalance(case):.4f}, got {imbalance(case)}")
    assert imbalance({"a": 0.0, "v": 0.0}) == 0.0, "all-zero contributions: return 0.0, not a division by zero"


CHECKS = {
    "shapley_two": check_shapley_two,
    "shapley": check_shapley,
    "imbalance": check_imbalance,
}
