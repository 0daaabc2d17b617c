"""Checks of exercise 04. Each takes the learner's function and raises AssertionError(hint)."""

import math

import torch

from mmlib.methods.greedy import conditional_utilization_rate as reference_rate
from mmlib.methods.mla import entropy_fusion_weights as reference_weights
from mmlib.methods.opm import drop_probabilities as reference_q


def check_drop_probabilities(drop_probabilities):
    """drop_probabilities: OPM's drop probability from the scores"""
    cases = [({"audio": 30.0, "visual": 10.0}, 0.5, 0.5), ({"audio": 10.0, "visual": 10.0}, 0.5, 0.5),
             ({"a": 12.0, "v": 4.0, "t": 4.0}, 0.4, 1.0), ({"a": 3.0, "v": 0.0}, 0.5, 0.5),
             ({"a": 0.0, "v": 0.0}, 0.5, 0.5), ({"a": 100.0, "v": 1.0}, 0.9, 1.0)]
    for scores, q_base, lam in cases:
        got = drop_probabilities(scores, q_base, lam)
        expected = reference_q(scores, q_base, lam)
        assert set(got) == set(scores), f"return one probability per modality, got keys {sorted(got)}"
        for m in scores:
            assert not math.isnan(float(got[m])), f"q[{m!r}] is NaN for scores {scores}: guard the division"
            assert abs(float(got[m]) - expected[m]) < 1e-6, (
                f"scores {scores}, q_base={q_base}, lam={lam}: expected q[{m!r}] = {expected[m]:.4f}, "
                f"got {float(got[m]):.4f} — a modality that does not lead is never dropped (q = 0), and "
                "q is clipped to [0, 1]")


def check_entropy_fusion_weights(entropy_fusion_weights):
    """entropy_fusion_weights: MLA's confidence weights"""
    gen = torch.Generator().manual_seed(0)
    logits = {"audio": 3 * torch.randn(6, 5, generator=gen), "visual": torch.randn(6, 5, generator=gen)}
    logits["visual"][0] = 0.0  # a flat prediction: maximal entropy
    got = entropy_fusion_weights(logits)
    expected = reference_weights(logits)
    assert set(got) == set(logits), f"return one weight vector per modality, got keys {sorted(got)}"
    total = sum(torch.as_tensor(w) for w in got.values())
    assert torch.allclose(total, torch.ones(6), atol=1e-5), "the weights of a sample must sum to 1"
    for m in logits:
        assert torch.allclose(torch.as_tensor(got[m]).float(), expected[m], atol=1e-5), (
            f"weights of {m!r} differ from exp(log C - H) normalised over modalities: expected "
            f"{expected[m][:3].tolist()}..., got {torch.as_tensor(got[m])[:3].tolist()}...")


def check_conditional_utilization_rate(conditional_utilization_rate):
    """conditional_utilization_rate: Greedy's utilisation of a modality"""
    for acc_all, acc_without in [(0.8, 0.6), (0.9, 0.9), (0.5, 0.7), (0.0, 0.3), (1.0, 0.1)]:
        got = conditional_utilization_rate(acc_all, acc_without)
        expected = reference_rate(acc_all, acc_without)
        assert abs(float(got) - expected) < 1e-9, (
            f"A_all={acc_all}, A_without={acc_without}: expected {expected:.4f}, got {got} "
            "((A_all - A_without) / A_all, and 0 when A_all = 0)")


CHECKS = {
    "drop_probabilities": check_drop_probabilities,
    "entropy_fusion_weights": check_entropy_fusion_weights,
    "conditional_utilization_rate": check_conditional_utilization_rate,
}
