"""Checks of exercise 03. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
"""

import random
import secrets

import torch

from mmlib.methods.valuation import modality_gaps, modality_resample_count
from mmlib.methods.valuation import resample_copies as reference_copies
from mmlib.methods.valuation import sample_contribution as reference_contribution

_POOL = ("audio", "visual", "text", "depth", "imu")
_THRESHOLDS = (-0.1, 0.4, 1.0)


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _random_sample_contribution(seed: int):
    """8-40 samples (the hand-made case has 7) of random outcomes, and a random full_value."""
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(8, 41, (1,), generator=gen))
    c_all, c_m, c_o = (torch.rand(n, generator=gen) < 0.5 for _ in range(3))
    full_value = round(random.Random(seed).uniform(0.5, 3.0), 2)
    return c_all, c_m, c_o, full_value


def check_sample_contribution(sample_contribution):
    """sample_contribution: a modality's Shapley contribution to each sample"""
    c_all = torch.tensor([1, 1, 1, 1, 0, 0, 0], dtype=torch.bool)
    c_m = torch.tensor([1, 1, 0, 0, 0, 1, 0], dtype=torch.bool)
    c_o = torch.tensor([1, 0, 1, 0, 0, 0, 1], dtype=torch.bool)
    got = sample_contribution(c_all, c_m, c_o)
    assert isinstance(got, torch.Tensor) and got.shape == (7,), "return one value per sample as a tensor"
    expected = torch.tensor([1.0, 1.5, 0.5, 1.0, 0.0, 0.5, -0.5])
    assert torch.allclose(got.float(), expected), (
        f"expected {expected.tolist()}, got {got.tolist()}: average the gain of m joining the empty set "
        "(v({m}) - 0) and joining o (full_value * correct_all - v({o}))")
    seed = _fresh_seed()
    c_all, c_m, c_o, full_value = _random_sample_contribution(seed)
    got = sample_contribution(c_all.clone(), c_m.clone(), c_o.clone(), full_value=full_value)
    want = 0.5 * c_m.float() + 0.5 * (full_value * c_all.float() - c_o.float())
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(want.shape), (
        f"random case (seed {seed}): {len(want)} samples need {len(want)} values, got "
        f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
    assert torch.allclose(got.float(), want, atol=1e-6), (
        f"random case (seed {seed}): {len(want)} random outcomes with full_value={full_value}; compared with "
        "0.5 * v({m}) + 0.5 * (full_value * correct_all - v({o})) sample by sample; first mismatch at "
        f"index {int((got.float() - want).abs().argmax())}")
    shapley = sample_contribution(c_all, c_m, c_o, full_value=1.0)
    assert torch.allclose(shapley.float(), reference_contribution(c_all, c_m, c_o, full_value=1.0)), (
        "with full_value=1 the joint prediction is worth 1, not 2: use full_value")


def _random_resample_copies(seed: int) -> torch.Tensor:
    """10-60 contributions in [-1, 2] (the hand-made case has 9), none within 1e-3 of a threshold."""
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(10, 61, (1,), generator=gen))
    phi = torch.rand(n, generator=gen) * 3 - 1
    for t in _THRESHOLDS:
        near = (phi - t).abs() < 1e-3
        phi[near] = t + 0.01  # off the boundary: float32 and float64 agree on the band
    return phi


def check_resample_copies(resample_copies):
    """resample_copies: extra copies from the contribution"""
    # float64, so that the values on a threshold are exactly -0.1 and 0.4 in either precision
    phi = torch.tensor([-0.5, -0.1, 0.0, 0.39, 0.4, 0.5, 0.99, 1.0, 1.5], dtype=torch.float64)
    got = resample_copies(phi)
    expected = reference_copies(phi)
    assert torch.equal(torch.as_tensor(got).long(), expected), (
        f"expected {expected.tolist()}, got {torch.as_tensor(got).tolist()}: the thresholds are "
        "-0.1, 0.4 and 1.0, compared strictly; a value exactly on a threshold gets no copies")
    seed = _fresh_seed()
    phi = _random_resample_copies(seed)
    got = torch.as_tensor(resample_copies(phi.clone())).long()
    want = sum((phi < t).long() for t in _THRESHOLDS)  # off the thresholds: 3 below -0.1, 2 below 0.4, 1 below 1.0
    assert tuple(got.shape) == tuple(want.shape), (
        f"random case (seed {seed}): {len(phi)} contributions need {len(phi)} counts, got shape {tuple(got.shape)}")
    bad = (got != want).nonzero().flatten()
    assert len(bad) == 0, (
        f"random case (seed {seed}): {len(phi)} random contributions in [-1, 2]; e.g. phi = "
        f"{phi[bad[0]].item():.3f} should get {want[bad[0]].item()} copies, got {got[bad[0]].item()} "
        f"({len(bad)} wrong in all)")


def _random_modality_resampling(seed: int):
    """2-4 modalities, distinct gaps, a copy count never near an integer (where truncation is fragile);
    not the first answer."""
    rng = random.Random(seed)
    while True:
        means = {m: round(rng.uniform(-0.5, 1.5), 4) for m in rng.sample(_POOL, rng.randint(2, 4))}
        n, alpha = rng.randint(20, 2000), round(rng.uniform(0.5, 2.0), 3)
        gaps = sorted(1.0 - v for v in means.values())
        raw = (gaps[-1] - gaps[0]) * 2 / 3 * alpha * n
        if gaps[-1] - gaps[-2] > 1e-3 and abs(raw - round(raw)) > 1e-3:
            weak = max(means, key=lambda m: 1.0 - means[m])
            if (weak, int(raw)) != ("visual", 360):  # the hand-made case's answer
                return means, n, alpha, (weak, int(raw))


def check_modality_resampling(modality_resampling):
    """modality_resampling: which modality and how many copies"""
    # 0.9 * 2/3 * 601 = 360.6 -> 360; 0.05 * 2/3 * 2 * 100 = 6.67 -> 6 (truncated);
    # 5 * 2/3 * 50 = 166.7 -> 166 (more than N: no cap)
    for means, n, alpha in [({"audio": 1.3, "visual": 0.4}, 601, 1.0), ({"fac": 0.9, "zer": 0.95}, 100, 2.0),
                            ({"a": 3.0, "b": -2.0}, 50, 1.0)]:
        got = modality_resampling(means, n, alpha)
        expected = modality_resample_count(modality_gaps(means), n, alpha)
        assert tuple(got)[0] == expected[0], (
            f"for mean contributions {means} enhance {expected[0]!r} (largest gap 1 - phi), got {got[0]!r}")
        assert int(tuple(got)[1]) == expected[1], (
            f"for {means}, N={n}, alpha={alpha}: expected {expected[1]} copies, got {got[1]} — "
            "int(|g_max - g_min| * 2/3 * alpha * N), truncated and not capped at N")
        if n == 601:
            seed = _fresh_seed()
            r_means, r_n, r_alpha, r_want = _random_modality_resampling(seed)
            r_got = tuple(modality_resampling(dict(r_means), r_n, r_alpha))
            assert (r_got[0], int(r_got[1])) == r_want, (
                f"random case (seed {seed}): mean contributions {r_means}, N={r_n}, alpha={r_alpha}: expected "
                f"{r_want}, got {r_got} — enhance the largest gap 1 - phi, "
                "int(|g_max - g_min| * 2/3 * alpha * N) copies, truncated, no cap at N")


CHECKS = {
    "sample_contribution": check_sample_contribution,
    "resample_copies": check_resample_copies,
    "modality_resampling": check_modality_resampling,
}
