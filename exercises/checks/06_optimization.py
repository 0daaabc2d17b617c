"""Checks of exercise 06. Each takes the learner's function and raises AssertionError(hint).

The reference is the library's own code (mmlib.methods.ogm), the code chapter 6 trains with.
"""

import math

import numpy as np
import torch

from mmlib.methods.ogm import ge_noise as reference_noise
from mmlib.methods.ogm import ogm_coefficients as reference_coefficients


def _close(got: dict, want: dict) -> bool:
    return set(got) == set(want) and all(abs(float(got[m]) - want[m]) < 1e-6 for m in want)


def check_ogm_coefficients(ogm_coefficients):
    """ogm_coefficients(scores, alpha): 1 - tanh(alpha * rho) for the dominant modality"""
    got = ogm_coefficients({"audio": 30.0, "visual": 10.0}, 0.5)
    assert set(got) == {"audio", "visual"}, f"return one coefficient per modality; got keys {sorted(got)}"
    assert abs(float(got["visual"]) - 1.0) < 1e-9, "the weaker modality keeps coefficient 1"
    if abs(float(got["audio"]) - (1 - math.tanh(0.5 * 2.0))) < 1e-6:
        raise AssertionError("you used tanh(alpha * (rho - 1)); the authors' code uses 1 - tanh(alpha * rho)")
    rng = np.random.default_rng(6)
    for _ in range(100):
        scores = {"audio": float(rng.uniform(0, 64)), "visual": float(rng.uniform(0, 64))}
        alpha = float(rng.uniform(0.05, 2.0))
        got, want = ogm_coefficients(dict(scores), alpha), reference_coefficients(scores, alpha)
        assert _close(got, want), f"for scores {scores} and alpha {alpha:.3f} expected {want}, got {got}"
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
    again = ge_noise(grad, torch.Generator().manual_seed(1))
    assert torch.equal(noise, again), "draw the noise from the generator you are given (same seed, same noise)"
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
