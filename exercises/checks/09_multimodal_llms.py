"""Checks of exercise 09. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
Expected values of the random cases are computed in float64, written out in this file.
"""

import math
import secrets

import torch

from mmlib import mllm


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _ints(gen: torch.Generator, *ranges: tuple[int, int]) -> list[int]:
    return [int(torch.randint(lo, hi + 1, (1,), generator=gen)) for lo, hi in ranges]


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else type(t).__name__


def _random_lora_delta(seed: int):
    """Tokens (N, S, k) with N >= 2 (the hand-made case is (1, 2)), rank 1-5, a random scale."""
    gen = torch.Generator().manual_seed(seed)
    n, s, k, r, d = _ints(gen, (2, 4), (2, 6), (3, 10), (1, 5), (2, 9))
    x, a, b = torch.randn(n, s, k, generator=gen), torch.randn(r, k, generator=gen), torch.randn(d, r, generator=gen)
    return x, a, b, round(0.25 + 2 * torch.rand(1, generator=gen).item(), 3)


def check_lora_delta(lora_delta):
    """lora_delta(x, A, B, s): LoRA's low-rank update"""
    x = torch.tensor([[1.0, 2.0]])
    a = torch.tensor([[1.0, 1.0]])
    b = torch.tensor([[2.0], [0.0], [1.0]])
    got = lora_delta(x, a, b, 0.5)
    assert tuple(got.shape) == (1, 3), f"expected shape (1, 3) — one d-vector per token; got {tuple(got.shape)}"
    assert torch.allclose(got, torch.tensor([[3.0, 0.0, 1.5]])), (
        f"expected [[3, 0, 1.5]], got {got.tolist()}: A x first (r numbers), then B, then the scale")
    seed = _fresh_seed()
    x, a, b, scale = _random_lora_delta(seed)
    got = lora_delta(x.clone(), a.clone(), b.clone(), scale)
    want = scale * x.double() @ (b.double() @ a.double()).T  # s (B A) x, the full d x k update
    where = f"random case (seed {seed}): x {tuple(x.shape)}, A {tuple(a.shape)}, B {tuple(b.shape)}, s = {scale}"
    assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
        f"{where}: expected shape {tuple(want.shape)}, got {_shape(got)} — multiply on the last axis, "
        "x @ A.T then @ B.T")
    assert torch.allclose(got.double(), want, rtol=1e-4, atol=1e-4), (
        f"{where}: differs from s * x (B A)^T; largest difference {(got.double() - want).abs().max().item():.3g}")


def _random_modality_low_rank_update(seed: int):
    """2-4 modalities, a batch of 2-4 sequences (the hand-made one has 1) with random modality ids."""
    gen = torch.Generator().manual_seed(seed)
    m, n, s, k, r, d = _ints(gen, (2, 4), (2, 4), (3, 8), (2, 6), (1, 4), (2, 6))
    x, ids = torch.randn(n, s, k, generator=gen), torch.randint(0, m, (n, s), generator=gen)
    a, b = torch.randn(m, r, k, generator=gen), torch.randn(d, r, generator=gen)
    return x, ids, a, b, round(0.25 + 2 * torch.rand(1, generator=gen).item(), 3)


def check_modality_low_rank_update(modality_low_rank_update):
    """modality_low_rank_update(x, ids, A per modality, B, s): MokA's unimodal A and shared B"""
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    ids = torch.tensor([[0, 1, 1]])
    a = torch.stack([torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 3.0]])])
    b = torch.tensor([[1.0], [-1.0]])
    got = modality_low_rank_update(x, ids, a, b, 1.0)
    expected = torch.tensor([[[2.0, -2.0], [3.0, -3.0], [3.0, -3.0]]])
    assert tuple(got.shape) == (1, 3, 2), f"expected shape (1, 3, 2), got {tuple(got.shape)}"
    assert torch.allclose(got, expected), (
        f"expected {expected.tolist()}, got {got.tolist()}: token i must use A[ids[i]], not A[0] for all")
    seed = _fresh_seed()
    x, ids, a, b, scale = _random_modality_low_rank_update(seed)
    got = modality_low_rank_update(x.clone(), ids.clone(), a.clone(), b.clone(), scale)
    codes = torch.einsum("nsrk,nsk->nsr", a.double()[ids], x.double())  # token i through A[ids[i]]
    want = scale * codes @ b.double().T
    where = (f"random case (seed {seed}): x {tuple(x.shape)}, {a.shape[0]} modalities (A {tuple(a.shape)}), "
             f"B {tuple(b.shape)}, s = {scale}")
    assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
        f"{where}: expected shape {tuple(want.shape)}, got {_shape(got)}")
    assert torch.allclose(got.double(), want, rtol=1e-4, atol=1e-4), (
        f"{where}: differs from s B A_m(i) x_i token by token — does every modality id in [0, M) get its own A?")
    gen = torch.Generator().manual_seed(1)
    x2, a1, b2 = torch.randn(3, 4, 5, generator=gen), torch.randn(1, 2, 5, generator=gen), torch.randn(5, 2, generator=gen)
    single = modality_low_rank_update(x2, torch.zeros(3, 4, dtype=torch.long), a1, b2, 0.5)
    assert torch.allclose(single, mllm.lora_delta(x2, a1[0], b2, 0.5), atol=1e-5), (
        "with one modality the update must equal plain LoRA's s B A x")


def _attention64(codes: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Visual rows plus softmax over the same sample's text rows of r_i . r_j / sqrt(r), times r_j."""
    codes = codes.double()
    out = codes.clone()
    for n in range(codes.shape[0]):
        text = [j for j in range(codes.shape[1]) if ids[n, j] == 0]
        for i in range(codes.shape[1]):
            if ids[n, i] == 1 and text:
                scores = torch.stack([codes[n, i] @ codes[n, j] for j in text]) / math.sqrt(codes.shape[-1])
                out[n, i] = codes[n, i] + (scores.softmax(dim=0)[:, None] * codes[n, text]).sum(dim=0)
    return out


def _random_visual_to_text_attention(seed: int):
    """2-4 samples (the hand-made case has 1); the first mixes text and visual, the last may be visual only."""
    gen = torch.Generator().manual_seed(seed)
    n, s, r = _ints(gen, (2, 4), (3, 8), (2, 5))
    codes = torch.randn(n, s, r, generator=gen)
    ids = torch.randint(0, 2, (n, s), generator=gen)
    ids[0, 0], ids[0, 1] = 1, 0
    if torch.rand(1, generator=gen).item() < 0.5:
        ids[-1] = 1
    return codes, ids


def check_visual_to_text_attention(visual_to_text_attention):
    """visual_to_text_attention(codes, ids): MokA's cross-attention in the low-rank space (the image asks the text)"""
    codes = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [0.0, 2.0]]])
    ids = torch.tensor([[1, 0, 0]])
    got = visual_to_text_attention(codes, ids)
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (1, 3, 2), (
        f"expected shape (1, 3, 2), got {_shape(got)}")
    assert torch.equal(got[0, 1:], codes[0, 1:]), "text codes must stay unchanged: only the visual tokens ask"
    # scores (2, 0) / sqrt(2) -> softmax [0.80443, 0.19557]; gathered (1.60886, 0.39114)
    assert torch.allclose(got[0, 0], torch.tensor([2.60886, 0.39114]), atol=1e-4), (
        f"expected [2.6089, 0.3911] for the visual token, got {got[0, 0].tolist()}: scores r_v . r_t / sqrt(2) "
        "= [1.414, 0], softmax over the two text tokens, weighted sum of their codes, added to the visual code "
        "(a residual)")
    seed = _fresh_seed()
    codes, ids = _random_visual_to_text_attention(seed)
    got = visual_to_text_attention(codes.clone(), ids.clone())
    want = _attention64(codes, ids)
    where = f"random case (seed {seed}): codes {tuple(codes.shape)}, modality ids {ids.tolist()}"
    assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
        f"{where}: expected shape {tuple(want.shape)}, got {_shape(got)}")
    assert not torch.isnan(got).any(), f"{where}: NaN — a sample without text tokens must be left as it is"
    bad = ((got.double() - want).abs() > 1e-5 + 1e-5 * want.abs()).any(dim=-1).nonzero().tolist()
    assert not bad, (
        f"{where}: wrong rows (sample, token) {bad[:5]} — softmax over the text tokens only, scaled by "
        "1/sqrt(r), added to visual rows only")
    gen = torch.Generator().manual_seed(2)
    codes2 = torch.randn(2, 6, 3, generator=gen)
    ids2 = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    got2 = visual_to_text_attention(codes2, ids2)
    assert not torch.isnan(got2).any(), "a sample without text tokens gave NaN: softmax over nothing — skip it"
    assert torch.allclose(got2, mllm.visual_to_text_attention(codes2, ids2), atol=1e-5), (
        "wrong on a random batch: softmax over the text tokens only, scaled by 1/sqrt(r), visual rows only")


CHECKS = {
    "lora_delta": check_lora_delta,
    "modality_low_rank_update": check_modality_low_rank_update,
    "visual_to_text_attention": check_visual_to_text_attention,
}
