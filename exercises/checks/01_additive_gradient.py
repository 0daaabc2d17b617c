"""Checks of exercise 01. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
"""

import math
import random
import secrets

import torch
import torch.nn.functional as F

from mmlib import theory

_POOL = ("audio", "visual", "text", "depth", "imu")


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _expected_modality_logits(features, weight, bias):
    """Closed form: modality m gets its own block of columns of W, plus b / M."""
    out, start = {}, 0
    for m, h in features.items():
        out[m] = h @ weight[:, start:start + h.shape[1]].T + bias / len(features)
        start += h.shape[1]
    return out


def _random_modality_logits(seed: int):
    """2-5 modalities in a random order, 5-9 samples (the hand-made case has 4)."""
    gen = torch.Generator().manual_seed(seed)
    names = random.Random(seed).sample(_POOL, random.Random(seed + 1).randint(2, 5))
    n, c = int(torch.randint(5, 10, (1,), generator=gen)), int(torch.randint(2, 7, (1,), generator=gen))
    features = {m: torch.randn(n, int(torch.randint(1, 5, (1,), generator=gen)), generator=gen) for m in names}
    d = sum(h.shape[1] for h in features.values())
    return features, torch.randn(c, d, generator=gen), torch.randn(c, generator=gen)


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
    seed = _fresh_seed()
    features, weight, bias = _random_modality_logits(seed)
    got = modality_logits(features, weight, bias)
    want = _expected_modality_logits(features, weight, bias)
    dims = {m: h.shape[1] for m, h in features.items()}
    assert set(got) == set(want), (
        f"random case (seed {seed}): modalities {list(features)} need one entry each, got {sorted(got)}")
    for m in want:
        assert tuple(got[m].shape) == tuple(want[m].shape) and torch.allclose(got[m], want[m], atol=1e-5), (
            f"random case (seed {seed}): feature sizes {dims} in this order, so {m!r} owns its own block of "
            f"{dims[m]} columns; its logits (shape {tuple(want[m].shape)}) differ from features @ W_m.T + b / M")


def _expected_feature_gradients(labels, h, w):
    """dL/dh_m by autograd, for the mean cross-entropy."""
    h = {m: x.clone().requires_grad_(True) for m, x in h.items()}
    logits = sum(h[m] @ w[m].T for m in h)
    F.cross_entropy(logits, labels).backward()
    return logits.detach(), {m: x.grad for m, x in h.items()}


def _random_feature_gradients(seed: int):
    """2-4 modalities, a batch of 7-12 (the hand-made case has 6)."""
    gen = torch.Generator().manual_seed(seed)
    names = random.Random(seed).sample(_POOL, random.Random(seed + 1).randint(2, 4))
    b, c = int(torch.randint(7, 13, (1,), generator=gen)), int(torch.randint(2, 7, (1,), generator=gen))
    dims = {m: int(torch.randint(1, 6, (1,), generator=gen)) for m in names}
    h = {m: torch.randn(b, d, generator=gen) for m, d in dims.items()}
    w = {m: torch.randn(c, d, generator=gen) for m, d in dims.items()}
    return torch.randint(0, c, (b,), generator=gen), h, w


def check_feature_gradients(feature_gradients):
    """feature_gradients: the closed form of dL/dh_m"""
    gen = torch.Generator().manual_seed(2)
    h = {"audio": torch.randn(6, 3, generator=gen), "visual": torch.randn(6, 4, generator=gen)}
    w = {"audio": torch.randn(5, 3, generator=gen), "visual": torch.randn(5, 4, generator=gen)}
    labels = torch.tensor([0, 1, 2, 3, 4, 4])
    logits, want = _expected_feature_gradients(labels, h, w)
    got = feature_gradients(logits, labels, w)
    for m in h:
        assert got[m].shape == h[m].shape, f"{m}: expected shape {tuple(h[m].shape)}, got {tuple(got[m].shape)}"
        assert torch.allclose(got[m], want[m], atol=1e-6), (
            f"{m}: does not match autograd — the shared term is softmax(f) - onehot(y), "
            "multiplied by W_m (C x d_m) and divided by the batch size")
    seed = _fresh_seed()
    labels, h, w = _random_feature_gradients(seed)
    logits, want = _expected_feature_gradients(labels, h, w)
    got = feature_gradients(logits, labels, w)
    assert set(got) == set(want), f"random case (seed {seed}): expected keys {sorted(want)}, got {sorted(got)}"
    for m in want:
        assert tuple(got[m].shape) == tuple(want[m].shape) and torch.allclose(got[m], want[m], atol=1e-6), (
            f"random case (seed {seed}): {m}'s gradient for a batch of {len(labels)} with "
            f"{logits.shape[1]} classes differs from autograd's (expected shape {tuple(want[m].shape)})")
    confident = torch.zeros(2, 5)
    confident[0, 0] = confident[1, 1] = 50.0
    quiet = feature_gradients(confident, torch.tensor([0, 1]), {m: torch.ones(5, 3) for m in ("audio", "visual")})
    assert all(q.abs().max() < 1e-6 for q in quiet.values()), (
        "when the fused prediction is confident and right, every encoder's gradient should vanish")


def _random_shared_term_size(seed: int):
    """Margins of 1-4 modalities, each in [0.1, 3], and 2-12 classes; never the first case's 5/6."""
    rng = random.Random(seed)
    while True:
        margins = {m: rng.uniform(0.1, 3.0) for m in rng.sample(_POOL, rng.randint(1, 4))}
        classes = rng.randint(2, 12)
        if abs((classes - 1) / (math.exp(sum(margins.values())) + classes - 1) - 5 / 6) > 1e-3:
            return margins, classes


def check_shared_term_size(shared_term_size):
    """shared_term_size: 1 - p_y from per-modality margins"""
    for margins, classes in [({"audio": 0.0}, 6), ({"audio": 2.0, "visual": 1.0}, 4), ({"a": 6.0, "v": 0.5}, 10), ({}, 3)]:
        got = shared_term_size(margins, classes)
        expected = theory.shared_term_size(margins, classes)
        assert abs(got - expected) < 1e-6, (
            f"for margins {margins} and {classes} classes expected {expected:.4f}, got {got}: "
            "p_y = e^z / (e^z + C - 1) with z the sum of the margins")
    seed = _fresh_seed()
    margins, classes = _random_shared_term_size(seed)
    expected = (classes - 1) / (math.exp(sum(margins.values())) + classes - 1)  # 1 - p_y, closed form
    got = shared_term_size(dict(margins), classes)
    assert abs(float(got) - expected) < 1e-6, (
        f"random case (seed {seed}): margins {({m: round(v, 4) for m, v in margins.items()})} and {classes} "
        f"classes give 1 - p_y = {expected:.6f}, got {got}")
    assert shared_term_size({"audio": 8.0, "visual": 0.0}, 6) < 0.01, "a very confident modality should make it tiny"


CHECKS = {
    "modality_logits": check_modality_logits,
    "feature_gradients": check_feature_gradients,
    "shared_term_size": check_shared_term_size,
}
