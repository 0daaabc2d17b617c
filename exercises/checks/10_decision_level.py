"""Checks of exercise 10. Each takes the learner's function and raises AssertionError(hint).

The reference is the library's own code (mmlib.decision), the code chapter 10 measures and weights with.
"""

import math

import torch
from torch import nn

from mmlib import decision as D


def _close(got: dict, want: dict, tol: float = 1e-5) -> bool:
    return set(got) == set(want) and all(abs(float(got[m]) - float(want[m])) < tol for m in want)


def check_per_class_weight_norms(per_class_weight_norms):
    """per_class_weight_norms(head, dims): ||W_m[c]|| from a fitted concatenation head"""
    head = nn.Linear(5, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[3.0, 4.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0, 0.0]]))
    got = per_class_weight_norms(head, {"audio": 2, "visual": 3})
    assert set(got) == {"audio", "visual"}, f"expected one entry per modality, got keys {sorted(got)}"
    assert tuple(torch.as_tensor(got["audio"]).shape) == (2,), (
        "return one norm per class (a row of W_m), shape (C,) — not one number per modality")
    assert torch.allclose(torch.as_tensor(got["audio"]).float(), torch.tensor([5.0, 0.0])) and \
        torch.allclose(torch.as_tensor(got["visual"]).float(), torch.tensor([1.0, 2.0])), (
        f"audio reads columns 0-1 and visual columns 2-4; expected audio [5, 0] and visual [1, 2], got {got}")
    torch.manual_seed(0)
    head = nn.Linear(80, 6)
    got = per_class_weight_norms(head, {"visual": 16, "audio": 64})
    want = {"visual": head.weight[:, :16].norm(dim=1), "audio": head.weight[:, 16:].norm(dim=1)}
    assert all(torch.allclose(torch.as_tensor(got[m]).float(), want[m].detach(), atol=1e-5) for m in want), (
        "the blocks follow the order of dims (here visual first): did you hard-code the order?")


def check_decision_shares(decision_shares):
    """decision_shares(logits): each modality's share of the decisions"""
    logits = {"a": torch.tensor([[1.0, 0.0, 0.0]]), "b": torch.tensor([[1.0, 0.0, 0.0]])}
    got = decision_shares(logits)
    assert _close(got, {"a": 0.5, "b": 0.5}), f"two identical modalities share equally; got {got}"
    gen = torch.Generator().manual_seed(3)
    logits = {m: torch.randn(50, 4, generator=gen) * s for m, s in (("a", 3.0), ("b", 1.0), ("c", 0.5))}
    got = decision_shares(logits)
    want = D.decision_shares(logits)
    assert abs(sum(float(v) for v in got.values()) - 1.0) < 1e-5, f"shares should sum to 1, got {got}"
    assert _close(got, want), (
        f"expected {want}, got {got}: per sample, push c_m = z_m[decided] - mean_c z_m, keep the positive "
        "parts, divide by their sum, then average over samples")
    zero = decision_shares({"a": logits["a"], "zero": torch.zeros(50, 4)})
    assert not any(math.isnan(float(v)) for v in zero.values()), "a modality with all-zero logits gave NaN"
    assert _close(zero, {"a": 1.0, "zero": 0.0}), f"an all-zero modality pushes nothing: expected 0, got {zero}"
    tied = decision_shares({"a": torch.zeros(3, 4), "b": torch.zeros(3, 4)})
    assert _close(tied, {"a": 0.5, "b": 0.5}), f"when nobody pushes, every modality gets 1/M; got {tied}"


def check_capability_weights(capability_weights):
    """capability_weights(logits, labels): weights from accuracy above chance"""
    labels = torch.tensor([0, 1, 2, 0])
    strong = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()  # 4/4 correct
    weak = torch.nn.functional.one_hot(torch.tensor([0, 1, 0, 1]), 3).float()  # 2/4 correct
    got = capability_weights({"strong": strong, "weak": weak}, labels)
    gain_s, gain_w = 1.0 - 1 / 3, 0.5 - 1 / 3
    want = {"strong": gain_s / (gain_s + gain_w), "weak": gain_w / (gain_s + gain_w)}
    assert _close(got, want), (
        f"expected {want}: gains are accuracy minus 1/C (1 - 1/3 and 1/2 - 1/3), normalised; got {got}")
    zero = capability_weights({"strong": strong, "zero": torch.zeros(4, 3)}, torch.tensor([1, 1, 2, 1]))
    assert not any(math.isnan(float(v)) for v in zero.values()), "all-zero logits gave NaN"
    assert _close(zero, {"strong": 1.0, "zero": 0.0}), (
        f"all-zero logits predict class 0 (0 of 4 right here): no capability, weight 0; got {zero}")
    none = capability_weights({"x": torch.zeros(4, 3), "y": torch.zeros(4, 3)}, torch.tensor([1, 1, 2, 1]))
    assert _close(none, {"x": 0.5, "y": 0.5}), f"if no modality beats chance the weights are uniform; got {none}"
    gen = torch.Generator().manual_seed(5)
    labels = torch.randint(0, 5, (200,), generator=gen)
    logits = {m: torch.randn(200, 5, generator=gen) + s * torch.nn.functional.one_hot(labels, 5)
              for m, s in (("a", 2.0), ("b", 0.7))}
    assert _close(capability_weights(logits, labels), D.capability_weights(logits, labels)), (
        "your weights differ from the library's on random logits")


CHECKS = {
    "per_class_weight_norms": check_per_class_weight_norms,
    "decision_shares": check_decision_shares,
    "capability_weights": check_capability_weights,
}
