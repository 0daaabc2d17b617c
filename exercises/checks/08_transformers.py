"""Checks of exercise 08. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
"""

import math
import secrets

import torch

_HAND_MADE_AIR = ((1 - 0) + (1 / math.sqrt(2) + 1)) / 2


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _random_attention_imbalance_ratio(seed: int):
    """d in 3-16, N in 3-20, every vector of norm >= 0.3; the answer is never the hand-made one."""
    gen = torch.Generator().manual_seed(seed)
    d, n = int(torch.randint(3, 17, (1,), generator=gen)), int(torch.randint(3, 21, (1,), generator=gen))
    while True:
        q, k_a = torch.randn(d, generator=gen), torch.randn(n, d, generator=gen) * 2 + 0.5
        k_b = torch.randn(n, d, generator=gen)
        if min(q.norm(), k_a.norm(dim=1).min(), k_b.norm(dim=1).min()) >= 0.3:
            want = _air64(q, k_a, k_b)
            if abs(want - _HAND_MADE_AIR) > 1e-3:
                return q, k_a, k_b, want


def _air64(q, k_a, k_b) -> float:
    """Mean of cos(q, k_a) - cos(q, k_b), written out in float64."""
    q, k_a, k_b = q.double(), k_a.double(), k_b.double()
    cos_a = k_a @ q / (k_a.norm(dim=1) * q.norm())
    cos_b = k_b @ q / (k_b.norm(dim=1) * q.norm())
    return (cos_a - cos_b).mean().item()


def check_attention_imbalance_ratio(attention_imbalance_ratio):
    """attention_imbalance_ratio(query, keys_a, keys_b): RollingQ's AIR"""
    q = torch.tensor([1.0, 0.0])
    k_a = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    k_b = torch.tensor([[0.0, 3.0], [-1.0, 0.0]])
    got = attention_imbalance_ratio(q, k_a, k_b)
    assert isinstance(got, float), f"return a Python float (got {type(got).__name__})"
    expected = _HAND_MADE_AIR
    assert abs(got - expected) < 1e-5, (
        f"expected {expected:.4f}, got {got:.4f}: cosines (not dot products) of q with each sample's key, "
        "a minus b, averaged over samples")
    seed = _fresh_seed()
    q, k_a, k_b, want = _random_attention_imbalance_ratio(seed)
    got = attention_imbalance_ratio(q.clone(), k_a.clone(), k_b.clone())
    assert isinstance(got, float) and abs(got - want) < 1e-5, (
        f"random case (seed {seed}): a query of size {len(q)} and {len(k_a)} samples; expected the mean of "
        f"cos(q, k_a) - cos(q, k_b) = {want:.6f}, got {got!r}")
    zero = attention_imbalance_ratio(torch.tensor([1.0, 0.0]), torch.zeros(2, 2), torch.zeros(2, 2))
    assert zero == 0.0 and not math.isnan(zero), (
        f"zero keys should give 0, got {zero}: give the cosine a small eps instead of dividing by a zero norm")


def _plane_rotation64(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The closed form of the task, in float64, for u and v that are not (anti-)parallel."""
    u_hat, v_hat = u.double() / u.double().norm(), v.double() / v.double().norm()
    cos = u_hat @ v_hat
    w = v_hat - cos * u_hat
    sin = w.norm()
    w = w / sin
    eye = torch.eye(len(u), dtype=torch.float64)
    return eye + (cos - 1) * (torch.outer(u_hat, u_hat) + torch.outer(w, w)) + sin * (
        torch.outer(w, u_hat) - torch.outer(u_hat, w))


def _random_rotation_matrix(seed: int):
    """u, v of size 4-8 (the hand-made case is 3-d), float64, |cos(u, v)| <= 0.95."""
    gen = torch.Generator().manual_seed(seed)
    d = int(torch.randint(4, 9, (1,), generator=gen))
    while True:
        u = torch.randn(d, generator=gen, dtype=torch.float64) * 3
        v = torch.randn(d, generator=gen, dtype=torch.float64)
        if min(u.norm(), v.norm()) > 0.3 and abs((u @ v / (u.norm() * v.norm())).item()) <= 0.95:
            return u, v


def check_rotation_matrix(rotation_matrix):
    """rotation_matrix(u, v): the rotation taking u_hat onto v_hat"""
    quarter = rotation_matrix(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0]))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert tuple(quarter.shape) == (3, 3), f"expected a 3 x 3 matrix, got shape {tuple(quarter.shape)}"
    assert torch.allclose(quarter, expected, atol=1e-5), (
        f"turning e1 onto e2 should give the quarter turn {expected.tolist()}, got {quarter.tolist()}; "
        "did you normalise u and v first?")
    seed = _fresh_seed()
    u, v = _random_rotation_matrix(seed)
    d = len(u)
    r = rotation_matrix(u.clone(), v.clone())
    where = f"random case (seed {seed}): u and v of size {d} (float64)"
    assert isinstance(r, torch.Tensor) and tuple(r.shape) == (d, d), (
        f"{where}: expected a {d} x {d} matrix, got "
        f"{tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__}")
    r = r.double()
    assert torch.allclose(r @ (u / u.norm()), v / v.norm(), atol=1e-8), f"{where}: R u_hat must equal v_hat"
    assert torch.allclose(r.T @ r, torch.eye(d, dtype=torch.float64), atol=1e-8), (
        f"{where}: R must be orthogonal (R^T R = I)")
    assert abs(torch.linalg.det(r).item() - 1) < 1e-6, f"{where}: a rotation has determinant +1, not -1 (a reflection)"
    basis = torch.linalg.qr(torch.stack([u, v], dim=1), mode="complete").Q[:, 2:]  # directions orthogonal to u and v
    assert torch.allclose(r @ basis, basis, atol=1e-8), (
        f"{where}: a direction orthogonal to both u and v must stay where it is: turn only the plane of u and v")
    assert torch.allclose(r, _plane_rotation64(u, v), atol=1e-8), f"{where}: R differs from the plane rotation"
    same = rotation_matrix(u, 3 * u)
    assert torch.allclose(same, torch.eye(d, dtype=torch.float64), atol=1e-6), "u and 3u: expected the identity"
    w = torch.tensor([1.0, 2.0, 3.0])
    flip = rotation_matrix(w, -w)
    assert not torch.isnan(flip).any(), "opposite vectors gave NaN: handle the case sin(theta) = 0 separately"
    assert torch.allclose(flip @ (w / w.norm()), -w / w.norm(), atol=1e-5), (
        "u and -u: turn by pi in a plane containing u (pick any unit vector orthogonal to u as w)")


CHECKS = {
    "attention_imbalance_ratio": check_attention_imbalance_ratio,
    "rotation_matrix": check_rotation_matrix,
}
