"""Reference solutions of exercise 04 (tests prove they pass exercises/checks/04_feed_forward.py)."""

import math

import torch


def drop_probabilities(scores: dict[str, float], q_base: float = 0.5, lam: float = 0.5) -> dict[str, float]:
    """OPM's drop probability of each modality from its true-class score."""
    q = {}
    for m, s in scores.items():
        others = sum(v for k, v in scores.items() if k != m)
        if others > 0:
            r = math.tanh(max(0.0, s / others - 1.0))
        else:
            r = 1.0 if s > 0 else 0.0
        q[m] = min(1.0, max(0.0, q_base * (1 + lam * r))) if r > 0 else 0.0
    return q


def entropy_fusion_weights(logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-sample entropy-based fusion weights of every modality."""
    names = list(logits)
    confidence = []
    for m in names:
        log_p = logits[m].log_softmax(dim=1)
        h = -(log_p.exp() * log_p).sum(dim=1)
        confidence.append(math.log(logits[m].shape[1]) - h)
    w = torch.stack(confidence).softmax(dim=0)
    return {m: w[i] for i, m in enumerate(names)}


def conditional_utilization_rate(acc_all: float, acc_without: float) -> float:
    """Share of the fused accuracy that removing the modality costs."""
    return 0.0 if acc_all <= 0 else (acc_all - acc_without) / acc_all
