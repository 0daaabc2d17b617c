"""Checks of exercise 00. Each takes the learner's function and raises AssertionError(hint)."""

import torch
import torch.nn.functional as F


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


def check_softmax_minus_onehot(softmax_minus_onehot):
    """softmax_minus_onehot(logits, labels): the cross-entropy gradient"""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 4, generator=gen)
    labels = torch.tensor([0, 3, 1, 1, 2])
    got = softmax_minus_onehot(logits, labels)
    assert tuple(got.shape) == (5, 4), f"expected one row per sample, shape (5, 4); got {tuple(got.shape)}"
    z = logits.clone().requires_grad_(True)
    F.cross_entropy(z, labels, reduction="sum").backward()
    assert torch.allclose(got, z.grad, atol=1e-5), (
        "rows should be softmax(logits) minus the one-hot label; each row sums to 0 — "
        "did you use softmax over dim=1 and subtract 1 at the label?")


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


CHECKS = {
    "accuracy": check_accuracy,
    "softmax_minus_onehot": check_softmax_minus_onehot,
    "per_modality_accuracy": check_per_modality_accuracy,
}
