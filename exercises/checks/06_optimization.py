"""Checks of exercise 06. Each takes the learner's function and raises AssertionError(hint).

The reference is the library's own code (mmlib.methods.ogm), the code chapter 6 trains with.
Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
The noise checks are statistical on at least 20 000 draws: 3 % on a standard deviation is
more than six standard errors, so a correct answer does not fail by bad luck.
"""

import math
import secrets

import numpy as np
import torch

from mmlib.methods.ogm import ge_noise as reference_noise
from mmlib.methods.ogm import ogm_coefficients as reference_coefficients

_POOL = ("audio", "visual", "text", "depth", "imu")


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _close(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(abs(float(got[m]) - want[m]) < 1e-6 for m in want)


def _ogm(scores: dict, alpha: float) -> dict:
    """1 - tanh(alpha * s_dom / s_other) for the dominant modality, 1 for the other (strictly positive scores)."""
    (m1, s1), (m2, s2) = scores.items()
    dominant, other = (m1, m2) if s1 > s2 else (m2, m1)
    return {dominant: 1.0 - math.tanh(alpha * max(s1, s2) / min(s1, s2)), other: 1.0}


def _random_ogm_coefficients(seed: int) -> list:
    """100 draws: two random modality names, scores in [0.5, 64] (never tied), alpha in [0.05, 2]."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < 100:
        names = [str(m) for m in rng.choice(_POOL, 2, replace=False)]
        s = rng.uniform(0.5, 64, 2)
        if abs(s[0] - s[1]) > 1e-3:
            cases.append(({names[0]: float(s[0]), names[1]: float(s[1])}, float(rng.uniform(0.05, 2.0))))
    return cases


def check_ogm_coefficients(ogm_coefficients):
    """ogm_coefficients(scores, alpha): 1 - tanh(alpha * rho) for the dominant modality"""
    got = ogm_coefficients({"audio": 30.0, "visual": 10.0}, 0.5)
    assert set(got) == {"audio", "visual"}, f"return one coefficient per modality; got keys {sorted(got)}"
    assert abs(float(got["visual"]) - 1.0) < 1e-9, "the weaker modality keeps coefficient 1"
    if abs(float(got["audio"]) - (1 - math.tanh(0.5 * 2.0))) < 1e-6:
        raise AssertionError("you used tanh(alpha * (rho - 1)); the authors' code uses 1 - tanh(alpha * rho)")
    assert _close(got, reference_coefficients({"audio": 30.0, "visual": 10.0}, 0.5)), (
        f"scores audio 30, visual 10 and alpha 0.5: rho = 3, so audio gets 1 - tanh(1.5) = "
        f"{1 - math.tanh(1.5):.4f} and visual 1; got {got}")
    seed = _fresh_seed()
    for scores, alpha in _random_ogm_coefficients(seed):
        got, want = ogm_coefficients(dict(scores), alpha), _ogm(scores, alpha)
        assert _close(got, want), (
            f"random case (seed {seed}): for scores {scores} and alpha {alpha:.3f} expected {want}, got {got}")
    tie = ogm_coefficients({"a": 12.0, "b": 12.0}, 0.8)
    assert _close(tie, {"a": 1.0, "b": 1.0}), (
        f"a tie (rho = 1) is not an imbalance: both coefficients stay 1; got {tie}")
    for scores in ({"a": 5.0, "b": 0.0}, {"a": 0.0, "b": 5.0}, {"a": 0.0, "b": 0.0}):
        try:
            got = ogm_coefficients(dict(scores), 0.3)
        except ZeroDivisionError:
            raise AssertionError(f"scores {scores} divide by zero: treat a zero score of the weaker "
                                 "modality as rho = infinity (tanh(inf) = 1)") from None
        assert all(math.isfinite(float(v)) for v in got.values()), f"scores {scores} gave {got}: no NaN or inf"
        want = reference_coefficients(scores, 0.3)
        assert _close(got, want), f"for scores {scores} expected {want}, got {got}"


def _random_gradient(seed: int) -> torch.Tensor:
    """20 000-40 000 entries in a random shape (the hand-made ones differ), std in [0.1, 10], not near 1 or 2.5."""
    gen = torch.Generator().manual_seed(seed)
    rows = int(torch.randint(100, 201, (1,), generator=gen))
    scale = 0.1
    while 0.8 < scale < 3.2:  # far from the hand-made scales (1 and 2.5): a hard-coded std is caught
        scale = float(10 ** (torch.rand(1, generator=gen) * 2 - 1))
    return torch.randn(rows, 201, generator=gen) * scale + torch.randn(1, generator=gen) * 0.1


def _noise_agrees(noise: torch.Tensor, grad: torch.Tensor) -> str:
    """'' if noise looks like N(0, std(grad)^2), else what is off."""
    want, got = grad.std().item(), noise.std().item()
    if not abs(got - want) < 0.03 * want:
        return f"its std is {got:.4g}, expected std(grad) = {want:.4g}"
    if not abs(noise.mean().item()) < 0.05 * want:
        return f"its mean is {noise.mean().item():.4g}, expected 0"
    return ""


def check_ge_noise(ge_noise):
    """ge_noise(grad, generator): N(0, std(grad)^2) noise"""
    grad = torch.randn(300, 200, generator=torch.Generator().manual_seed(0)) * 2.5
    before = grad.clone()
    noise = ge_noise(grad, torch.Generator().manual_seed(1))
    assert isinstance(noise, torch.Tensor) and noise.shape == grad.shape, "return a tensor shaped like grad"
    assert torch.equal(grad, before), "do not change grad in place"
    want_std = reference_noise(grad, torch.Generator().manual_seed(1)).std().item()
    assert abs(noise.std().item() - want_std) < 0.03 * want_std, (
        f"the noise's std should be std(grad) = {grad.std().item():.3f}; got {noise.std().item():.3f}")
    assert abs(noise.mean().item()) < 0.05, f"the noise should have mean 0; got {noise.mean().item():.3f}"
    seed = _fresh_seed()
    grad = _random_gradient(seed)
    noise = ge_noise(grad, torch.Generator().manual_seed(seed))
    assert isinstance(noise, torch.Tensor) and tuple(noise.shape) == tuple(grad.shape), (
        f"random case (seed {seed}): a gradient of shape {tuple(grad.shape)} needs noise of the same shape, got "
        f"{tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__}")
    off = _noise_agrees(noise, grad)
    assert not off, f"random case (seed {seed}): noise for a gradient of shape {tuple(grad.shape)}: {off}"
    again = ge_noise(grad, torch.Generator().manual_seed(seed))
    assert torch.equal(noise, again), (
        f"random case (seed {seed}): the same generator seed must give the same noise: draw it from the "
        "generator you are given")
    other = ge_noise(grad, torch.Generator().manual_seed(seed + 1))
    assert not torch.equal(noise, other), (
        f"random case (seed {seed}): generators with different seeds gave the same noise: draw it from the "
        "generator you are given (torch.randn(..., generator=generator))")
    for small in (torch.zeros(8, 8), torch.tensor([3.0])):
        got = ge_noise(small, torch.Generator().manual_seed(0))
        assert torch.isfinite(got).all() and got.abs().max() < 1e-6, (
            f"for a gradient {tuple(small.shape)} with no spread the noise must be finite and ~0 "
            "(std of one element is NaN in torch: treat it as 0; add 1e-8 as the authors do)")


def check_modulate(modulate):
    """modulate(grad, k, ge, generator): k * g (+ noise from the unmodulated g)"""
    grad = torch.randn(2000, generator=torch.Generator().manual_seed(2))
    plain = modulate(grad, 0.25, False, torch.Generator().manual_seed(0))
    assert torch.allclose(plain, 0.25 * grad), "OGM alone (ge=False) is just coefficient * grad"
    seed = _fresh_seed()
    r_grad = _random_gradient(seed)
    k = round(0.1 + 0.8 * torch.rand(1, generator=torch.Generator().manual_seed(seed)).item(), 3)
    got = modulate(r_grad.clone(), k, False, torch.Generator().manual_seed(seed))
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(r_grad.shape), (
        f"random case (seed {seed}): a gradient of shape {tuple(r_grad.shape)} needs a result of the same shape")
    assert torch.allclose(got, k * r_grad, rtol=1e-5, atol=1e-6), (
        f"random case (seed {seed}): with ge=False and coefficient {k} the result is coefficient * grad")
    noisy = modulate(r_grad.clone(), k, True, torch.Generator().manual_seed(seed))
    off = _noise_agrees(noisy - k * r_grad, r_grad)
    assert not off, (
        f"random case (seed {seed}): with ge=True and coefficient {k}, result - coefficient * grad should be "
        f"noise with the std of the unmodulated grad: {off}")
    noisy = modulate(grad, 0.0, True, torch.Generator().manual_seed(0))
    assert noisy.std().item() > 0.9 * grad.std().item(), (
        "with k = 0 the result should still be noise with std(grad): draw the noise from the "
        "*unmodulated* gradient (std of k * g would be 0 here)")
    assert noisy.std().item() < 1.1 * grad.std().item(), "the noise std should be std(grad), not larger"


CHECKS = {
    "ogm_coefficients": check_ogm_coefficients,
    "ge_noise": check_ge_noise,
    "modulate": check_modulate,
}
