"""Checks of exercise 09. Each takes the learner's function and raises AssertionError(hint)."""

import torch

from mmlib import mllm


def check_lora_delta(lora_delta):
    """lora_delta(x, A, B, s): LoRA's low-rank update"""
    x = torch.tensor([[1.0, 2.0]])
    a = torch.tensor([[1.0, 1.0]])
    b = torch.tensor([[2.0], [0.0], [1.0]])
    got = lora_delta(x, a, b, 0.5)
    assert tuple(got.shape) == (1, 3), f"expected shape (1, 3) — one d-vector per token; got {tuple(got.shape)}"
    assert torch.allclose(got, torch.tensor([[3.0, 0.0, 1.5]])), (
        f"expected [[3, 0, 1.5]], got {got.tolist()}: A x first (r numbers), then B, then the scale")
    gen = torch.Generator().manual_seed(0)
    x3, a3, b3 = torch.randn(2, 5, 8, generator=gen), torch.randn(4, 8, generator=gen), torch.randn(6, 4, generator=gen)
    assert torch.allclose(lora_delta(x3, a3, b3, 2.0), mllm.lora_delta(x3, a3, b3, 2.0), atol=1e-5), (
        "wrong on a batch (N, S, k): multiply on the last axis, x @ A.T then @ B.T")


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
    gen = torch.Generator().manual_seed(1)
    x2, a1, b2 = torch.randn(3, 4, 5, generator=gen), torch.randn(1, 2, 5, generator=gen), torch.randn(5, 2, generator=gen)
    single = modality_low_rank_update(x2, torch.zeros(3, 4, dtype=torch.long), a1, b2, 0.5)
    assert torch.allclose(single, mllm.lora_delta(x2, a1[0], b2, 0.5), atol=1e-5), (
        "with one modality the update must equal plain LoRA's s B A x")


def check_text_to_visual_attention(text_to_visual_attention):
    """text_to_visual_attention(codes, ids): MokA's cross-attention in the low-rank space"""
    codes = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    ids = torch.tensor([[1, 1, 0]])
    got = text_to_visual_attention(codes, ids)
    assert torch.equal(got[0, :2], codes[0, :2]), "visual codes must stay unchanged"
    assert torch.allclose(got[0, 2], torch.tensor([5.5, 5.5]), atol=1e-5), (
        f"a tie between the two visual codes adds their mean: expected [5.5, 5.5], got {got[0, 2].tolist()}; "
        "keep the text code and add the attention output (a residual)")
    gen = torch.Generator().manual_seed(2)
    codes2 = torch.randn(2, 6, 3, generator=gen)
    ids2 = torch.tensor([[1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    got2 = text_to_visual_attention(codes2, ids2)
    assert not torch.isnan(got2).any(), "a sample without visual tokens gave NaN: softmax over nothing — skip it"
    assert torch.allclose(got2, mllm.text_to_modality_attention(codes2, ids2), atol=1e-5), (
        "wrong on a random batch: softmax over the visual tokens only, scaled by 1/sqrt(r), text rows only")


CHECKS = {
    "lora_delta": check_lora_delta,
    "modality_low_rank_update": check_modality_low_rank_update,
    "text_to_visual_attention": check_text_to_visual_attention,
}
