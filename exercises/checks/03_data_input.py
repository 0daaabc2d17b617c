"""Checks of exercise 03. Each takes the learner's function and raises AssertionError(hint)."""

import torch

from mmlib.methods.valuation import modality_gaps, modality_resample_count
from mmlib.methods.valuation import resample_copies as reference_copies
from mmlib.methods.valuation import sample_contribution as reference_contribution


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
    shapley = sample_contribution(c_all, c_m, c_o, full_value=1.0)
    assert torch.allclose(shapley.float(), reference_contribution(c_all, c_m, c_o, full_value=1.0)), (
        "with full_value=1 the joint prediction is worth 1, not 2: use full_value")


def check_resample_copies(resample_copies):
    """resample_copies: extra copies from the contribution"""
    phi = torch.tensor([-0.5, -0.1, 0.0, 0.39, 0.4, 0.5, 0.99, 1.0, 1.5])
    got = resample_copies(phi)
    expected = reference_copies(phi)
    assert torch.equal(torch.as_tensor(got).long(), expected), (
        f"expected {expected.tolist()}, got {torch.as_tensor(got).tolist()}: the thresholds are "
        "-0.1, 0.4 and 1.0; a value equal to a threshold belongs to the band above it")


def check_modality_resampling(modality_resampling):
    """modality_resampling: which modality and how many copies"""
    for means, n, alpha in [({"audio": 1.3, "visual": 0.4}, 600, 1.0), ({"fac": 0.9, "zer": 0.95}, 100, 2.0),
                            ({"a": 3.0, "b": -2.0}, 50, 1.0)]:
        got = modality_resampling(means, n, alpha)
        expected = modality_resample_count(modality_gaps(means), n, alpha)
        assert tuple(got)[0] == expected[0], (
            f"for mean contributions {means} enhance {expected[0]!r} (largest gap 1 - phi), got {got[0]!r}")
        assert int(tuple(got)[1]) == expected[1], (
            f"for {means}, N={n}, alpha={alpha}: expected {expected[1]} copies, got {got[1]} — "
            "round(|g_max - g_min| * 2/3 * alpha * N), capped at N")


CHECKS = {
    "sample_contribution": check_sample_contribution,
    "resample_copies": check_resample_copies,
    "modality_resampling": check_modality_resampling,
}
