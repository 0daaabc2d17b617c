"""Checks of exercise 08. Each takes the learner's function and raises AssertionError(hint)."""

import math

import torch


def check_attention_imbalance_ratio(attention_imbalance_ratio):
    """attention_imbalance_ratio(query, keys_a, keys_b): RollingQ's AIR"""
    q = torch.tensor([1.0, 0.0])
    k_a = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    k_b = torch.tensor([[0.0, 3.0], [-1.0, 0.0]])
    got = attention_imbalance_ratio(q, k_a, k_b)
    assert isinstance(got, float), f"return a Python float (got {type(got).__name__})"
    expected = ((1 - 0) + (1 / math.sqrt(2) + 1)) / 2
    assert abs(got - expected) < 1e-5, (
        f"expected {expected:.4f}, got {got:.4f}: cosines (not dot products) of q with each sample's key, "
        "a minus b, averaged over samples")
    zero = attention_imbalance_ratio(q, torch.zeros(2, 2), torch.zeros(2, 2))
    assert zero == 0.0 and not math.isnan(zero), (
        f"zero keys should give 0, got {zero}: give the cosine a small eps instead of dividing by a zero norm")


def check_rotation_matrix(rotation_matrix):
    """rotation_matrix(u, v): the rotation taking u_hat onto v_hat"""
    quarter = rotation_matrix(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0]))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert tuple(quarter.shape) == (3, 3), f"expected a 3 x 3 matrix, got shape {tuple(quarter.shape)}"
    assert torch.allclose(quarter, expected, atol=1e-5), (
        f"turning e1 onto e2 should give the quarter turn {expected.tolist()}, got {quarter.tolist()}; "
        "did you normalise u and v first?")
    gen = torch.Generator().manual_seed(0)
    u, v = torch.randn(6, generator=gen, dtype=torch.float64), torch.randn(6, generator=gen, dtype=torch.float64)
    r = rotation_matrix(u, v)
    assert torch.allclose(r @ (u / u.norm()), v / v.norm(), atol=1e-8), "R u_hat must equal v_hat"
    assert torch.allclose(r.T @ r, torch.eye(6, dtype=torch.float64), atol=1e-8), "R must be orthogonal (R^T R = I)"
    assert abs(torch.linalg.det(r).item() - 1) < 1e-6, "a rotation has determinant +1, not -1 (a reflection)"
    same = rotation_matrix(u, 3 * u)
    assert torch.allclose(same, torch.eye(6, dtype=torch.float64), atol=1e-6), "u and 3u: expected the identity"
    w = torch.tensor([1.0, 2.0, 3.0])
    flip = rotation_matrix(w, -w)
    assert not torch.isnan(flip).any(), "opposite vectors gave NaN: handle the case sin(theta) = 0 separately"
    assert torch.allclose(flip @ (w / w.norm()), -w / w.norm(), atol=1e-5), (
        "u and -u: turn by pi in a plane containing u (pick any unit vector orthogonal to u as w)")


CHECKS = {
    "attention_imbalance_ratio": check_attention_imbalance_ratio,
    "rotation_matrix": check_rotation_matrix,
}
