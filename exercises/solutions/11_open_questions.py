"""Reference solutions of exercise 11 (tests prove they pass exercises/checks/11_open_questions.py)."""

import torch


def product_scores(logits: dict[str, torch.Tensor], temperatures: dict[str, float]) -> torch.Tensor:
    """The scores whose argmax is the product-of-experts decision."""
    return sum(z / temperatures[m] for m, z in logits.items())


def shapley_two(acc_a: float, acc_v: float, acc_both: float, chance: float) -> dict[str, float]:
    """Exact Shapley values of two modalities from the four accuracies."""
    return {"a": 0.5 * (acc_a - chance) + 0.5 * (acc_both - acc_v),
            "v": 0.5 * (acc_v - chance) + 0.5 * (acc_both - acc_a)}


def imbalance(contributions: dict[str, float]) -> float:
    """0 = shared evenly, 1 = one modality has everything."""
    values = list(contributions.values())
    total = sum(abs(v) for v in values)
    return 0.0 if total == 0 else (max(values) - min(values)) / total
