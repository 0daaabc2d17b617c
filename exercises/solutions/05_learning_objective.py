"""Reference solutions of exercise 05 (tests prove they pass exercises/checks/05_learning_objective.py)."""

import torch


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine of two flat vectors; 0 when either is zero."""
    norms = a.norm() * b.norm()
    return torch.zeros(()) if norms == 0 else a.dot(b) / norms


def min_norm_weight(g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
    """alpha in [0, 1] minimising |alpha g1 + (1 - alpha) g2|."""
    # |d|^2 = alpha^2 |g1 - g2|^2 + 2 alpha <g1 - g2, g2> + |g2|^2, minimal where the derivative is 0
    diff = g1 - g2
    if diff.dot(diff) == 0:
        return torch.tensor(0.5)
    return (-diff.dot(g2) / diff.dot(diff)).clamp(0.0, 1.0)


def pareto_update(g_mm: torch.Tensor, g_u: torch.Tensor, gamma: float = 1.5) -> torch.Tensor:
    """MMPareto's combined gradient of one encoder."""
    conflict = g_mm.norm() > 0 and g_u.norm() > 0 and cosine(g_mm, g_u) <= 0
    alpha = min_norm_weight(g_mm, g_u) if conflict else torch.tensor(0.5)
    new = 2 * alpha * g_mm + 2 * (1 - alpha) * g_u
    if new.norm() == 0:
        return torch.zeros_like(g_mm)
    return gamma * torch.clamp((g_mm + g_u).norm() / new.norm(), min=1.0) * new
