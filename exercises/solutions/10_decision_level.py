"""Reference solutions of exercise 10 (tests prove they pass exercises/checks/10_decision_level.py)."""

import torch
from torch import nn


def per_class_weight_norms(head: nn.Linear, dims: dict[str, int]) -> dict[str, torch.Tensor]:
    """||W_m[c]|| for every modality m and class c."""
    norms, start = {}, 0
    for m, d in dims.items():
        norms[m] = head.weight.detach()[:, start:start + d].norm(dim=1)
        start += d
    return norms


def decision_shares(logits: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean over samples of each modality's share of the push towards the fused decision."""
    z = torch.stack(list(logits.values()), dim=1)  # (N, M, C)
    decided = z.sum(1).argmax(1)
    centred = z - z.mean(2, keepdim=True)
    push = centred[torch.arange(len(z)), :, decided].clamp_min(0)  # (N, M)
    total = push.sum(1, keepdim=True)
    share = torch.where(total > 0, push / total.clamp_min(1e-12), torch.full_like(push, 1 / z.shape[1]))
    return dict(zip(logits, share.mean(0).tolist()))


def capability_weights(logits: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    """Weights proportional to each modality's accuracy above chance; uniform if none beats chance."""
    gains = {}
    for m, z in logits.items():
        accuracy = (z.argmax(1) == labels).float().mean().item()
        gains[m] = max(accuracy - 1.0 / z.shape[1], 0.0)
    total = sum(gains.values())
    return {m: (g / total if total > 0 else 1.0 / len(gains)) for m, g in gains.items()}
