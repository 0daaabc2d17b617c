"""Checks of exercise 05. Each takes the learner's function and raises AssertionError(hint)."""

import torch

from mmlib.methods import mmpareto

_gen = torch.Generator().manual_seed(5)
ALIGNED = (torch.tensor([1.0, 0.2, 0.0]), torch.tensor([0.5, 0.5, 0.1]))
CONFLICTING = (torch.tensor([2.0, 0.0, 0.0]), torch.tensor([-0.8, 0.6, 0.0]))
RANDOM = [(torch.randn(20, generator=_gen), torch.randn(20, generator=_gen)) for _ in range(6)]


def _number(value, name):
    assert isinstance(value, torch.Tensor) or isinstance(value, float), (
        f"{name} should return a 0-d tensor (or a float), got {type(value).__name__}")
    value = torch.as_tensor(value, dtype=torch.float32)
    assert value.numel() == 1, f"{name} should return one number, got shape {tuple(value.shape)}"
    assert torch.isfinite(value), f"{name} returned {value.item()} — guard the zero-norm case"
    return value.item()


def check_cosine(cosine):
    """cosine(a, b), zero-safe"""
    for a, b in [ALIGNED, CONFLICTING, *RANDOM]:
        got = _number(cosine(a, b), "cosine")
        want = mmpareto.gradient_cosine(a, b).item()
        assert abs(got - want) < 1e-5, f"cos({a.tolist()[:3]}..., {b.tolist()[:3]}...) should be {want:.4f}, got {got:.4f}"
    got = _number(cosine(torch.zeros(3), torch.ones(3)), "cosine")
    assert got == 0.0, f"with a zero vector the cosine should be 0 (no direction), got {got}"


def check_min_norm_weight(min_norm_weight):
    """min_norm_weight(g1, g2): the closed-form Pareto weight"""
    g1, g2 = CONFLICTING
    got = _number(min_norm_weight(g1, g2), "min_norm_weight")
    want = mmpareto.min_norm_weight(g1, g2).item()
    assert abs(got - want) < 1e-5, (
        f"for the conflicting pair expected alpha = {want:.4f}, got {got:.4f}: "
        "minimise |alpha g1 + (1 - alpha) g2|^2, a parabola in alpha")
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
    g_mm, g_u = CONFLICTING
    d = pareto_update(g_mm, g_u, 1.0)
    assert d @ g_mm > 0 and d @ g_u > 0, "in conflict the update must help both losses"


CHECKS = {
    "cosine": check_cosine,
    "min_norm_weight": check_min_norm_weight,
    "pareto_update": check_pareto_update,
}
