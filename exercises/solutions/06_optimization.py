"""Reference solutions of exercise 06 (OGM-GE's coefficient and generalization-enhancement noise)."""

import math

import torch


def ogm_coefficients(scores: dict[str, float], alpha: float) -> dict[str, float]:
    """OGM's coefficients for two modalities: 1 - tanh(alpha * rho) for the dominant one, 1 for the other."""
    (m1, s1), (m2, s2) = scores.items()
    s1, s2 = float(s1), float(s2)
    if s1 == s2:
        return {m1: 1.0, m2: 1.0}
    dominant, other = (m1, m2) if s1 > s2 else (m2, m1)
    s_dom, s_other = max(s1, s2), min(s1, s2)
    rho = math.inf if s_other == 0 else s_dom / s_other
    return {dominant: 1.0 - math.tanh(alpha * rho) if alpha > 0 else 1.0, other: 1.0}


def ge_noise(grad: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise shaped like grad, mean 0, standard deviation std(grad) + 1e-8."""
    std = grad.std() if grad.numel() > 1 else torch.zeros(())
    return torch.randn(grad.shape, generator=generator) * (std + 1e-8)


def modulate(grad: torch.Tensor, coefficient: float, ge: bool, generator: torch.Generator | None = None
             ) -> torch.Tensor:
    """OGM: coefficient * grad; OGM-GE: plus noise whose std is that of the unmodulated grad."""
    out = coefficient * grad
    return out + ge_noise(grad, generator) if ge else out
