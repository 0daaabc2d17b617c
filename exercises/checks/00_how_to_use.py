"""Checks of exercise 00. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
"""

import secrets

import torch
import torch.nn.functional as F


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _clear_argmax(z: torch.Tensor, gap: float = 1e-3) -> bool:
    """True when every row's largest entry beats the runner-up by ``gap`` (no near-ties)."""
    top2 = z.topk(2, dim=1).values
    return bool((top2[:, 0] - top2[:, 1] >= gap).all())


def _random_accuracy(seed: int):
    """Logits with exactly k arg-max hits among an odd number N of rows (so k / N is never 0.5)."""
    gen = torch.Generator().manual_seed(seed)
    n = 2 * int(torch.randint(10, 30, (1,), generator=gen)) + 1
    c = int(torch.randint(3, 8, (1,), generator=gen))
    k = int(torch.randint(1, n, (1,), generator=gen))
    logits = torch.randn(n, c, generator=gen)
    top = logits.argmax(dim=1)
    logits[torch.arange(n), top] += 0.5  # a clear winner in every row
    hit = torch.randperm(n, generator=gen)[:k]
    labels = (top + torch.randint(1, c, (n,), generator=gen)) % c  # a wrong label ...
    labels[hit] = top[hit]  # ... except in the k rows that are hits
    return logits, labels, k, n


def check_accuracy(accuracy):
    """accuracy(logits, labels) from logits"""
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [4.0, 0.0, 1.0]])
    labels = torch.tensor([0, 1, 0, 2])
    got = accuracy(logits, labels)
    assert isinstance(got, float), (
        f"return a Python float (got {type(got).__name__}); `.item()` turns a 0-d tensor into one")
    assert abs(got - 0.5) < 1e-6, (
        f"expected 0.5 for 2 correct rows out of 4, got {got}: compare logits.argmax(dim=1) "
        "with labels, then average")
    seed = _fresh_seed()
    logits, labels, k, n = _random_accuracy(seed)
    got = accuracy(logits, labels)
    assert isinstance(got, float), f"random case (seed {seed}): return a Python float, got {type(got).__name__}"
    assert abs(got - k / n) < 1e-6, (
        f"random case (seed {seed}): {n} rows of {logits.shape[1]} classes, {k} of them with the arg-max at "
        f"the label, so expected {k}/{n} = {k / n:.6f}, got {got}. Compute it from the inputs: "
        "a fixed number cannot pass")


def _random_softmax_minus_onehot(seed: int):
    """An N x C batch whose shape differs from the hand-made 5 x 4 one."""
    gen = torch.Generator().manual_seed(seed)
    n, c = int(torch.randint(6, 13, (1,), generator=gen)), int(torch.randint(2, 9, (1,), generator=gen))
    return 3 * torch.randn(n, c, generator=gen), torch.randint(0, c, (n,), generator=gen)


def _expected_gradient(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    z = logits.clone().requires_grad_(True)
    F.cross_entropy(z, labels, reduction="sum").backward()
    return z.grad


def check_softmax_minus_onehot(softmax_minus_onehot):
    """softmax_minus_onehot(logits, labels): the cross-entropy gradient"""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=gen)
    labels = torch.tensor([0, 3, 1, 1, 2])
    got = softmax_minus_onehot(logits, labels)
    assert tuple(got.shape) == (5, 4), f"expected one row per sample, shape (5, 4); got {tuple(got.shape)}"
    assert torch.allclose(got, _expected_gradient(logits, labels), atol=1e-5), (
        "rows should be softmax(logits) minus the one-hot label; each row sums to 0 — "
        "did you use softmax over dim=1 and subtract 1 at the label?")
    seed = _fresh_seed()
    logits, labels = _random_softmax_minus_onehot(seed)
    got = softmax_minus_onehot(logits, labels)
    shape = tuple(logits.shape)
    assert tuple(got.shape) == shape, (
        f"random case (seed {seed}): logits of shape {shape} need a gradient of the same shape, "
        f"got {tuple(got.shape)}")
    want = _expected_gradient(logits, labels)
    assert torch.allclose(got, want, atol=1e-5), (
        f"random case (seed {seed}): compared with autograd's gradient of the summed cross-entropy for "
        f"{shape[0]} samples and {shape[1]} classes; largest difference "
        f"{(got - want).abs().max().item():.3g}")


def _random_per_modality_accuracy(seed: int):
    """Three modalities (the hand-made case has two), no near-ties in any arg-max."""
    gen = torch.Generator().manual_seed(seed)
    n, c = int(torch.randint(15, 40, (1,), generator=gen)), int(torch.randint(2, 6, (1,), generator=gen))
    while True:
        logits = {m: torch.randn(n, c, generator=gen) for m in ("audio", "video", "text")}
        if all(_clear_argmax(z) for z in [*logits.values(), sum(logits.values())]):
            return logits, torch.randint(0, c, (n,), generator=gen)


def check_per_modality_accuracy(per_modality_accuracy):
    """per_modality_accuracy(logits by modality, labels), fused included"""
    labels = torch.tensor([0, 1, 1, 0])
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # 3 of 4
    video = torch.tensor([[0.0, 2.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]])  # 2 of 4
    got = per_modality_accuracy({"audio": audio, "video": video}, labels)
    assert set(got) == {"audio", "video", "fused"}, (
        f"expected keys audio, video and fused; got {sorted(got)}")
    assert abs(got["audio"] - 0.75) < 1e-6 and abs(got["video"] - 0.5) < 1e-6, (
        f"per-modality accuracies should be audio 0.75 and video 0.5, got {got}")
    assert abs(got["fused"] - 0.5) < 1e-6, (
        f"fused accuracy is the accuracy of audio + video logits (0.5 here), got {got['fused']}")
    seed = _fresh_seed()
    logits, labels = _random_per_modality_accuracy(seed)
    got = per_modality_accuracy(logits, labels)
    want = {m: (z.argmax(dim=1) == labels).float().mean().item() for m, z in logits.items()}
    want["fused"] = (sum(logits.values()).argmax(dim=1) == labels).float().mean().item()
    assert set(got) == set(want), (
        f"random case (seed {seed}): three modalities {sorted(logits)} need keys {sorted(want)}, got {sorted(got)}"
        " — loop over the dict you are given")
    wrong = {m: (round(float(got[m]), 4), round(want[m], 4)) for m in want if abs(float(got[m]) - want[m]) >= 1e-6}
    assert not wrong, (
        f"random case (seed {seed}): {len(labels)} samples, three modalities; (got, expected) per key: {wrong}")


CHECKS = {
    "accuracy": check_accuracy,
    "softmax_minus_onehot": check_softmax_minus_onehot,
    "per_modality_accuracy": check_per_modality_accuracy,
}
