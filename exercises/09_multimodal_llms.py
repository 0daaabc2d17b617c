# %% [markdown]
# # Exercise 09 — low-rank updates for a multimodal language model (LoRA and MokA)
#
# Chapter 9 fine-tunes a frozen tiny language model with low-rank adapters. Tokens are
# a batch `x` of shape `(N, S, k)`; `modality_ids` `(N, S)` says which modality each
# position holds (0 = text, 1 = visual).

# %%
import math

import torch

# %% [markdown]
# ## Task 1 — LoRA's update
#
# For `A` `(r, k)`, `B` `(d, r)` and a scale `s`, return `s · B A x` for every token:
# a tensor `(..., d)`. (Write it with matrix products on the last axis — no loops.)

# %%
def lora_delta(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    """s * B A x for tokens x (..., k)."""
    # --- your code below ---
    raise NotImplementedError("Task 1: LoRA update")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — a modality-specific low-rank update (MokA's unimodal A, shared B)
#
# `a` now holds one matrix per modality, shape `(M, r, k)`. Return
# `s · B A_{m(i)} x_i` for every token `i`, where `m(i) = modality_ids[n, i]`: each token
# is compressed by *its own modality's* `A`, then all share `B`. Result `(N, S, d)`.
# With a single modality this must equal Task 1.

# %%
def modality_low_rank_update(x: torch.Tensor, modality_ids: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                             scale: float) -> torch.Tensor:
    """s * B A_{m(i)} x_i for every token."""
    # --- your code below ---
    raise NotImplementedError("Task 2: modality-specific low-rank update")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — the image reads the question, inside the low-rank space
#
# `codes` `(N, S, r)` are the low-rank codes `A_{m(i)} x_i`. As in MokA's code, the image
# tokens ask the question: for every **visual** token `i` add
# `Σ_j softmax_j(r_i · r_j / √r) r_j`, the softmax running over the **text** tokens `j` of
# the same sample only (here every text token is part of the question); leave text codes
# unchanged. A sample without text tokens is returned unchanged (and without NaN).

# %%
def visual_to_text_attention(codes: torch.Tensor, modality_ids: torch.Tensor) -> torch.Tensor:
    """Visual codes plus their attention-weighted sum of the text codes."""
    # --- your code below ---
    raise NotImplementedError("Task 3: cross-attention in the low-rank space")
    # --- your code above ---


# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("09")
