"""Checks of exercise 11. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass.
"""

import math
import random
import secrets

import torch

from mmlib.decision import calibrate
from mmlib.metrics import imbalance as reference_imbalance
from mmlib.metrics import shapley_values

_POOL = ("audio", "visual", "text", "depth")


def _fresh_seed() -> int:
    return secrets.randbits(32)


def check_product_scores(product_scores):
    """product_scores: the product of calibrated experts"""
    logits = {"audio": torch.tensor([[2.0, 0.0, -2.0]]), "visual": torch.tensor([[0.0, 3.0, 0.0]])}
    got = product_scores(logits, {"audio": 1.0, "visual": 3.0})
    assert torch.is_tensor(got) and tuple(got.shape) == (1, 3), "return one N x C tensor (the sum over modalities)"
    assert torch.allclose(got, torch.tensor([[2.0, 1.0, -2.0]])), \
        "divide each modality's logits by ITS temperature, then add: 2/1 + 0/3, 0/1 + 3/3, -2/1 + 0/3"
    seed = _fresh_seed()
    g = torch.Generator().manual_seed(seed % 2**31)
    rng = random.Random(seed)
    names = rng.sample(_POOL, rng.randint(2, 4))
    logits = {m: torch.randn(7, 5, generator=g) * 3 for m in names}
    temps = {m: rng.uniform(0.3, 4.0) for m in names}
    want = torch.stack(list(calibrate(logits, temps).values())).sum(0)
    got = torch.as_tensor(product_scores(logits, temps), dtype=want.dtype)
    assert tuple(got.shape) == tuple(want.shape), \
        f"random case (seed {seed}, modalities {names}): expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    assert torch.allclose(got, want, atol=1e-5), \
        f"random case (seed {seed}, modalities {names}) differs from sum_m z_m / T_m"


def check_shapley_two(shapley_two):
    """shapley_two: Shapley contributions of two modalities"""
    got = shapley_two(0.8, 0.5, 0.9, 0.2)
    assert set(got) == {"a", "v"}, f"return {{'a': ..., 'v': ...}}, got keys {sorted(got)}"
    assert math.isclose(got["a"], 0.5, abs_tol=1e-9) and math.isclose(got["v"], 0.2, abs_tol=1e-9), \
        f"for v(a)=0.8, v(v)=0.5, v(av)=0.9, chance 0.2 expected a=0.5, v=0.2 (half of each marginal gain), got {got}"
    seed = _fresh_seed()
    rng = random.Random(seed)
    chance = 1 / rng.randint(2, 10)
    acc = {frozenset(): chance, frozenset("a"): rng.uniform(0, 1), frozenset("v"): rng.uniform(0, 1),
           frozenset("av"): rng.uniform(0, 1)}
    want = shapley_values(lambda s: acc[s], ["a", "v"])
    got = shapley_two(acc[frozenset("a")], acc[frozenset("v")], acc[frozenset("av")], chance)
    assert all(math.isclose(got[m], want[m], abs_tol=1e-9) for m in want), \
        f"random case (seed {seed}): expected {want}, got {got}; the two must add up to v(av) - chance"


def check_imbalance(imbalance):
    """imbalance: the imbalance of the contributions"""
    cases = [({"a": 0.3, "v": 0.3}, 0.0), ({"a": 0.6, "v": 0.0}, 1.0), ({"a": 0.0, "v": 0.0}, 0.0),
             ({"a": 0.5, "v": -0.1}, 1.0), ({"a": 0.3, "v": 0.1}, 0.5)]
    for scores, want in cases:
        got = imbalance(scores)
        assert math.isclose(got, want, abs_tol=1e-9), \
            f"imbalance({scores}) should be {want} ((max - min) / sum of |phi|, 0 if all are 0), got {got}"
    seed = _fresh_seed()
    rng = random.Random(seed)
    scores = {m: rng.uniform(-0.2, 0.8) for m in rng.sample(_POOL, rng.randint(2, 4))}
    want = reference_imbalance(scores)
    got = imbalance(scores)
    assert math.isclose(got, want, abs_tol=1e-9), f"random case (seed {seed}, {scores}): expected {want}, got {got}"


CHECKS = {"product_scores": check_product_scores, "shapley_two": check_shapley_two, "imbalance": check_imbalance}
