"""Checks of exercise 01. Each takes the learner's function and raises AssertionError(hint)."""

import torch
import torch.nn.functional as F

from mmlib import theory


def check_modality_logits(modality_logits):
    """modality_logits: per-modality logits that sum to the fused logits"""
    gen = torch.Generator().manual_seed(1)
    features = {"audio": torch.randn(4, 3, generator=gen), "visual": torch.randn(4, 2, generator=gen),
                "text": torch.randn(4, 1, generator=gen)}
    weight, bias = torch.randn(5, 6, generator=gen), torch.randn(5, generator=gen)
    got = modality_logits(features, weight, bias)
    assert set(got) == set(features), f"return one entry per modality {sorted(features)}, got {sorted(got)}"
    fused = torch.cat(list(features.values()), dim=1) @ weight.T + bias
    assert torch.allclose(sum(got.values()), fused, atol=1e-5), (
        "the per-modality logits must add up to the fused logits: did every modality get b / M "
        "(M = number of modalities), not the whole bias?")
    expected_visual = features["visual"] @ weight[:, 3:5].T + bias / 3
    assert torch.allclose(got["visual"], expected_visual, atol=1e-5), (
        "modality m owns the head columns that read its features, in dict order: "
        "audio columns 0-2, visual 3-4, text 5")


def check_feature_gradients(feature_gradients):
    """feature_gradients: the closed form of dL/dh_m"""
    gen = torch.Generator().manual_seed(2)
    h = {"audio": torch.randn(6, 3, generator=gen).requires_grad_(), "visual": torch.randn(6, 4, generator=gen).requires_grad_()}
    w = {"audio": torch.randn(5, 3, generator=gen), "visual": torch.randn(5, 4, generator=gen)}
    labels = torch.tensor([0, 1, 2, 3, 4, 4])
    logits = h["audio"] @ w["audio"].T + h["visual"] @ w["visual"].T
    F.cross_entropy(logits, labels).backward()
    got = feature_gradients(logits.detach(), labels, w)
    for m in h:
        assert got[m].shape == h[m].shape, f"{m}: expected shape {tuple(h[m].shape)}, got {tuple(got[m].shape)}"
        assert torch.allclose(got[m], h[m].grad, atol=1e-6), (
            f"{m}: does not match autograd — the shared term is softmax(f) - onehot(y), "
            "multiplied by W_m (C x d_m) and divided by the batch size")
    confident = torch.zeros(2, 5)
    confident[0, 0] = confident[1, 1] = 50.0
    quiet = feature_gradients(confident, torch.tensor([0, 1]), w)
    assert all(q.abs().max() < 1e-6 for q in quiet.values()), (
        "when the fused prediction is confident and right, every encoder's gradient should vanish")


def check_shared_term_size(shared_term_size):
    """shared_term_size: 1 - p_y from per-modality margins"""
    for margins, classes in [({"audio": 0.0}, 6), ({"audio": 2.0, "visual": 1.0}, 4), ({"a": 6.0, "v": 0.5}, 10), ({}, 3)]:
        got = shared_term_size(margins, classes)
        expected = theory.shared_term_size(margins, classes)
        assert abs(got - expected) < 1e-6, (
            f"for margins {margins} and {classes} classes expected {expected:.4f}, got {got}: "
            "p_y = e^z / (e^z + C - 1) with z the sum of the margins")
    assert shared_term_size({"audio": 8.0, "visual": 0.0}, 6) < 0.01, "a very confident modality should make it tiny"


CHECKS = {
    "modality_logits": check_modality_logits,
    "feature_gradients": check_feature_gradients,
    "shared_term_size": check_shared_term_size,
}
