"""Checks of exercise 10. Each takes the learner's function and raises AssertionError(hint).

The reference is the library's own code (mmlib.decision), the code chapter 10 measures and weights with.
Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it; its
expected values are written out in this file in float64.
"""

import math
import random
import secrets

import torch
from torch import nn

from mmlib import decision as D


_POOL = ("audio", "visual", "text", "depth", "imu")


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _close(got: dict, want: dict, tol: float = 1e-5) -> bool:
    return set(got) == set(want) and all(abs(float(got[m]) - float(want[m])) < tol for m in want)


def _names(seed: int, low: int, high: int) -> list[str]:
    rng = random.Random(seed)
    return rng.sample(_POOL, rng.randint(low, high))


def _clear_argmax(z: torch.Tensor, gap: float = 1e-3) -> bool:
    """True when every row's largest entry beats the runner-up by ``gap`` (no near-ties)."""
    top2 = z.topk(2, dim=1).values
    return bool((top2[:, 0] - top2[:, 1] >= gap).all())


def _random_per_class_weight_norms(seed: int):
    """2-4 modalities of random sizes in a random order, 3-8 classes (the hand-made case has 2)."""
    gen = torch.Generator().manual_seed(seed)
    dims = {m: int(torch.randint(1, 9, (1,), generator=gen)) for m in _names(seed, 2, 4)}
    c = int(torch.randint(3, 9, (1,), generator=gen))
    head = nn.Linear(sum(dims.values()), c)
    with torch.no_grad():
        head.weight.copy_(torch.randn(c, sum(dims.values()), generator=gen))
    return head, dims


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
    seed = _fresh_seed()
    head, dims = _random_per_class_weight_norms(seed)
    got = per_class_weight_norms(head, dict(dims))
    w, start, want = head.weight.detach().double(), 0, {}
    for m, d in dims.items():
        want[m] = w[:, start:start + d].pow(2).sum(dim=1).sqrt()
        start += d
    where = f"random case (seed {seed}): dims {dims} (in this order), {head.out_features} classes"
    assert set(got) == set(want), f"{where}: expected keys {sorted(want)}, got {sorted(got)}"
    for m in want:
        g = torch.as_tensor(got[m]).detach().double()
        assert g.shape == want[m].shape and torch.allclose(g, want[m], atol=1e-5), (
            f"{where}: {m!r} should get the norms of the rows of its own block of columns, "
            f"shape ({head.out_features},); expected {[round(v, 4) for v in want[m].tolist()]}, "
            f"got {[round(v, 4) for v in g.flatten().tolist()]}")
    torch.manual_seed(0)
    head = nn.Linear(80, 6)
    got = per_class_weight_norms(head, {"visual": 16, "audio": 64})
    want = {"visual": head.weight[:, :16].norm(dim=1), "audio": head.weight[:, 16:].norm(dim=1)}
    assert all(torch.allclose(torch.as_tensor(got[m]).float(), want[m].detach(), atol=1e-5) for m in want), (
        "the blocks follow the order of dims (here visual first): did you hard-code the order?")


def _random_decision_shares(seed: int) -> dict:
    """3-4 modalities (the hand-made case has 2) of different scales; the fused arg-max has no near-ties."""
    gen = torch.Generator().manual_seed(seed)
    names = _names(seed, 3, 4)
    n, c = int(torch.randint(10, 60, (1,), generator=gen)), int(torch.randint(2, 7, (1,), generator=gen))
    while True:
        logits = {m: torch.randn(n, c, generator=gen) * (0.3 + 3 * torch.rand(1, generator=gen)) for m in names}
        if _clear_argmax(sum(logits.values()), gap=1e-2):
            return logits


def _shares64(logits: dict) -> dict:
    """The decision shares written out in float64 (every row has a clear decided class)."""
    z = {m: v.double() for m, v in logits.items()}
    decided = sum(z.values()).argmax(dim=1)
    rows = torch.arange(len(decided))
    push = {m: (v[rows, decided] - v.mean(dim=1)).clamp_min(0) for m, v in z.items()}
    total = sum(push.values())  # >= the fused push towards the decided class > 0
    return {m: (p / total).mean().item() for m, p in push.items()}


def check_decision_shares(decision_shares):
    """decision_shares(logits): each modality's share of the decisions"""
    logits = {"a": torch.tensor([[1.0, 0.0, 0.0]]), "b": torch.tensor([[1.0, 0.0, 0.0]])}
    got = decision_shares(logits)
    assert _close(got, {"a": 0.5, "b": 0.5}), f"two identical modalities share equally; got {got}"
    seed = _fresh_seed()
    r_logits = _random_decision_shares(seed)
    got = decision_shares({m: z.clone() for m, z in r_logits.items()})
    want = _shares64(r_logits)
    n, c = next(iter(r_logits.values())).shape
    assert isinstance(got, dict) and _close(got, want), (
        f"random case (seed {seed}): {len(r_logits)} modalities {list(r_logits)}, {n} samples, {c} classes; "
        f"expected {({m: round(v, 4) for m, v in want.items()})}, got {got}: per sample, the decided class is "
        "the arg-max of the summed logits, c_m = z_m[decided] - mean_c z_m, keep the positive parts, divide by "
        "their sum, then average over samples")
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


def _random_capability_weights(seed: int):
    """2-4 modalities (the hand-made ones are named strong/weak), 3-6 classes, 40-200 samples, at least one
    modality clearly above chance; no near-ties in any arg-max."""
    gen = torch.Generator().manual_seed(seed)
    names = _names(seed, 2, 4)
    n, c = int(torch.randint(40, 201, (1,), generator=gen)), int(torch.randint(3, 7, (1,), generator=gen))
    while True:
        labels = torch.randint(0, c, (n,), generator=gen)
        onehot = torch.nn.functional.one_hot(labels, c).float()
        logits = {m: torch.randn(n, c, generator=gen) + 2.5 * torch.rand(1, generator=gen) * onehot for m in names}
        best = max((z.argmax(dim=1) == labels).float().mean().item() for z in logits.values())
        if best - 1 / c > 0.1 and all(_clear_argmax(z) for z in logits.values()):
            return logits, labels


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
    seed = _fresh_seed()
    r_logits, r_labels = _random_capability_weights(seed)
    got = capability_weights({m: z.clone() for m, z in r_logits.items()}, r_labels.clone())
    n, c = next(iter(r_logits.values())).shape
    acc = {m: (z.argmax(dim=1) == r_labels).sum().item() / n for m, z in r_logits.items()}
    gains = {m: max(a - 1 / c, 0.0) for m, a in acc.items()}
    r_want = {m: g / sum(gains.values()) for m, g in gains.items()}
    assert isinstance(got, dict) and _close(got, r_want), (
        f"random case (seed {seed}): {n} samples, {c} classes, accuracies "
        f"{({m: round(a, 4) for m, a in acc.items()})}; expected max(acc - 1/C, 0) normalised = "
        f"{({m: round(v, 4) for m, v in r_want.items()})}, got {got}")
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
