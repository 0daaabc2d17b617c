"""Reference solutions of exercise 09 (tests prove they pass exercises/checks/09_multimodal_llms.py)."""

import math

import torch


def lora_delta(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """s * B A x for tokens x (..., k)."""
    return scale * (x @ a.T) @ b.T


def modality_low_rank_update(x: torch.Tensor, modality_ids: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                             scale: float) -> torch.Tensor:
    """s * B A_{m(i)} x_i for every token."""
    codes = torch.zeros(*x.shape[:-1], a.shape[1], dtype=x.dtype)
    for m in range(a.shape[0]):
        mask = modality_ids == m
        codes[mask] = x[mask] @ a[m].T
    return scale * codes @ b.T


def visual_to_text_attention(codes: torch.Tensor, modality_ids: torch.Tensor) -> torch.Tensor:
    """Visual codes plus their attention-weighted sum of the text codes."""
    out = codes.clone()
    for n in range(codes.shape[0]):
        text, visual = modality_ids[n] == 0, modality_ids[n] == 1
        if not text.any():
            continue
        scores = codes[n][visual] @ codes[n][text].T / math.sqrt(codes.shape[-1])
        out[n][visual] = codes[n][visual] + torch.softmax(scores, dim=-1) @ codes[n][text]
    return out
