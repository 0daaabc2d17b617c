"""Checks of exercise 05. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
(``RANDOM`` below is a fixed set of pairs, the same at every grading.)
"""

import secrets

import torch

from mmlib.methods import mmpareto

_gen = torch.Generator().manual_seed(5)
ALIGNED = (torch.tensor([1.0, 0.2, 0.0]), torch.tensor([0.5, 0.5, 0.1]))
CONFLICTING = (torch.tensor([2.0, 0.0, 0.0]), torch.tensor([-0.8, 0.6, 0.0]))
RANDOM = [(torch.randn(20, generator=_gen), torch.randn(20, generator=_gen)) for _ in range(6)]


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _cos64(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return (a.dot(b) / (a.norm() * b.norm())).item()


def _random_pair(seed: int, not_near: float | None = None):
    """Two gradients of length 4-30 (the hand-made ones have 3), well conditioned: |cos| >= 0.05,
    cos >= -0.9 and |g1 - g2|^2 >= 0.1 (|g1|^2 + |g2|^2); cos not within 1e-3 of ``not_near``."""
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(4, 31, (1,), generator=gen))
    while True:
        g1, g2 = torch.randn(n, generator=gen), torch.randn(n, generator=gen) * (0.2 + 2 * torch.rand(1, generator=gen))
        c = _cos64(g1, g2)
        spread = (g1 - g2).double().pow(2).sum() >= 0.1 * (g1.double().pow(2).sum() + g2.double().pow(2).sum())
        if abs(c) >= 0.05 and c >= -0.9 and spread and (not_near is None or abs(c - not_near) > 1e-3):
            return g1, g2


def _number(value, name):
    assert isinstance(value, torch.Tensor) or isinstance(value, float), (
        f"{name} should return a 0-d tensor (or a float), got {type(value).__name__}")
    value = torch.as_tensor(value, dtype=torch.float32)
    assert value.numel() == 1, f"{name} should return one number, got shape {tuple(value.shape)}"
    assert torch.isfinite(value), f"{name} returned {value.item()} — guard the zero-norm case"
    return value.item()


def check_cosine(cosine):
    """cosine(a, b), zero-safe"""
    for i, (a, b) in enumerate([ALIGNED, CONFLICTING, *RANDOM]):
        got = _number(cosine(a, b), "cosine")
        want = mmpareto.gradient_cosine(a, b).item()
        assert abs(got - want) < 1e-5, f"cos({a.tolist()[:3]}..., {b.tolist()[:3]}...) should be {want:.4f}, got {got:.4f}"
        if i == 0:
            seed = _fresh_seed()
            g1, g2 = _random_pair(seed, not_near=want)
            got, want_r = _number(cosine(g1.clone(), g2.clone()), "cosine"), _cos64(g1, g2)
            assert abs(got - want_r) < 1e-5, (
                f"random case (seed {seed}): two random vectors of length {len(g1)}; expected "
                f"a.b / (|a| |b|) = {want_r:.6f}, got {got:.6f}")
    got = _number(cosine(torch.zeros(3), torch.ones(3)), "cosine")
    assert got == 0.0, f"with a zero vector the cosine should be 0 (no direction), got {got}"


def _alpha64(g1: torch.Tensor, g2: torch.Tensor) -> float:
    """The closed form: alpha = <g2 - g1, g2> / |g1 - g2|^2, clipped to [0, 1]."""
    g1, g2 = g1.double(), g2.double()
    diff = g1 - g2
    return min(1.0, max(0.0, ((g2 - g1).dot(g2) / diff.dot(diff)).item()))


def check_min_norm_weight(min_norm_weight):
    """min_norm_weight(g1, g2): the closed-form Pareto weight"""
    g1, g2 = CONFLICTING
    got = _number(min_norm_weight(g1, g2), "min_norm_weight")
    want = mmpareto.min_norm_weight(g1, g2).item()
    assert abs(got - want) < 1e-5, (
        f"for the conflicting pair expected alpha = {want:.4f}, got {got:.4f}: "
        "minimise |alpha g1 + (1 - alpha) g2|^2, a parabola in alpha")
    seed = _fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    while True:  # a random pair whose alpha is not the hand-made one
        r1, r2 = _random_pair(int(torch.randint(0, 2**31, (1,), generator=gen)))
        if abs(_alpha64(r1, r2) - want) > 1e-3:
            break
    got, want_r = _number(min_norm_weight(r1.clone(), r2.clone()), "min_norm_weight"), _alpha64(r1, r2)
    assert abs(got - want_r) < 1e-5, (
        f"random case (seed {seed}): two random gradients of length {len(r1)} (cos {_cos64(r1, r2):.3f}); "
        f"expected alpha = clip(<g2 - g1, g2> / |g1 - g2|^2, 0, 1) = {want_r:.6f}, got {got:.6f}")
    for g1, g2 in RANDOM + [ALIGNED, (torch.tensor([0.1, 0.0]), torch.tensor([0.5, 2.0]))]:
        got = _number(min_norm_weight(g1, g2), "min_norm_weight")
        want = mmpareto.min_norm_weight(g1, g2).item()
        assert 0.0 <= got <= 1.0, f"alpha must lie in [0, 1] (clip it), got {got:.4f}"
        assert abs(got - want) < 1e-5, f"expected alpha = {want:.4f}, got {got:.4f} (did you clip to [0, 1]?)"
    g = torch.tensor([1.0, 2.0])
    got = _number(min_norm_weight(g, g.clone()), "min_norm_weight")
    assert got == 0.5, f"for two equal gradients return 0.5 (|g1 - g2| = 0), got {got}"


def check_pareto_update(pareto_update):
    """pareto_update(g_mm, g_u, gamma): aligned, conflicting and degenerate gradients"""
    cases = {"aligned": ALIGNED, "conflicting": CONFLICTING, **{f"random #{i}": c for i, c in enumerate(RANDOM)},
             "zero unimodal gradient": (torch.tensor([1.0, 2.0]), torch.zeros(2)),
             "zero multimodal gradient": (torch.zeros(2), torch.tensor([1.0, 2.0])),
             "exactly opposite": (torch.tensor([1.0, -2.0]), torch.tensor([-1.0, 2.0]))}
    for label, (g_mm, g_u) in cases.items():
        for gamma in (1.0, 1.5):
            got = pareto_update(g_mm, g_u, gamma)
            assert isinstance(got, torch.Tensor) and got.shape == g_mm.shape, (
                f"{label}: return a tensor shaped like the gradients {tuple(g_mm.shape)}")
            assert torch.isfinite(got).all(), f"{label}: your update contains NaN or inf — guard |new| = 0"
            want = mmpareto.pareto_combine(g_mm, g_u, gamma).update
            assert torch.allclose(got, want, atol=1e-5), (
                f"{label}, gamma={gamma}: expected {[round(v, 4) for v in want.tolist()[:4]]}, "
                f"got {[round(v, 4) for v in got.tolist()[:4]]}"
                + (" — aligned gradients use alpha = 0.5, then only gamma scales" if label == "aligned" else "")
                + (" — in conflict use your min-norm weight, then rescale to at least |g_mm + g_u|"
                   if label == "conflicting" else ""))
        if label == "aligned":
            _random_pareto_update(pareto_update)
    g_mm, g_u = CONFLICTING
    d = pareto_update(g_mm, g_u, 1.0)
    assert d @ g_mm > 0 and d @ g_u > 0, "in conflict the update must help both losses"


def _random_pareto_update(pareto_update):
    """Two random pairs from a fresh seed, one aligned and one in conflict, a random gamma in [1, 2]."""
    seed = _fresh_seed()
    gen = torch.Generator().manual_seed(seed)
    found = {}
    while len(found) < 2:
        g_mm, g_u = _random_pair(int(torch.randint(0, 2**31, (1,), generator=gen)))
        found.setdefault("aligned" if _cos64(g_mm, g_u) > 0 else "in conflict", (g_mm, g_u))
    gamma = round(1.0 + torch.rand(1, generator=gen).item(), 3)
    for kind, (g_mm, g_u) in sorted(found.items()):
        got = pareto_update(g_mm.clone(), g_u.clone(), gamma)
        want = mmpareto.pareto_combine(g_mm.double(), g_u.double(), gamma).update
        assert isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(g_mm.shape), (
            f"random case (seed {seed}): gradients of length {len(g_mm)} need an update of the same shape, got "
            f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
        assert torch.allclose(got.double(), want, rtol=1e-4, atol=1e-5), (
            f"random case (seed {seed}): {kind} gradients (cos {_cos64(g_mm, g_u):.3f}), gamma={gamma}; "
            f"largest difference from MMPareto's update {(got.double() - want).abs().max().item():.3g}"
            + (" — aligned: alpha = 0.5" if kind == "aligned"
               else " — in conflict: the min-norm alpha, then rescale"))


CHECKS = {
    "cosine": check_cosine,
    "min_norm_weight": check_min_norm_weight,
    "pareto_update": check_pareto_update,
}
