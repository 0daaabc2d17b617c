# %% [markdown]
# # Exercise 10 — measuring and correcting the decision layer
#
# Chapter 10 found that a decision layer learned on balanced, frozen encoders still hands
# the weaker modality less of the decision than its capability warrants. Here you write the
# three measurements and the remedy the chapter used: the per-class weight norms of a fitted
# concatenation head, each modality's share of the decisions, and capability-based weights.
# The check compares your functions with `mmlib.decision` on random inputs and on the edge
# cases that break naive code: a modality whose logits are all zero, and ties.
#
# Recall. With concatenation fusion and head weight $W = [W_1 \dots W_M]$ (one block of
# columns per modality) the fused logits are $z = \sum_m z_m$, $z_m = h_m W_m^\top + b/M$.

# %%
import torch
from torch import nn

# %% [markdown]
# ## Task 1 — per-class weight norms of a fitted head
#
# `head` is an `nn.Linear(sum(dims.values()), C)` trained on the concatenated features, in
# the order of `dims` (`{"audio": 64, "visual": 16}` means columns 0–63 read audio and
# 64–79 visual). Return `{modality: tensor of shape (C,)}` with the L2 norm of every row of
# that modality's block of columns, `‖W_m[c]‖`.

# %%
def per_class_weight_norms(head: nn.Linear, dims: dict[str, int]) -> dict[str, torch.Tensor]:
    """||W_m[c]|| for every modality m and class c."""
    # --- your code below ---
    raise NotImplementedError("Task 1: per-class weight norms")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — each modality's share of the decisions
#
# `logits` is `{modality: N × C tensor}` and the fused decision is
# $\hat y = \arg\max_c \sum_m z_{m,c}$. For each sample, modality m pushes towards that
# decision by $c_m = z_m[\hat y] - \frac1C \sum_c z_m[c]$. Its share for the sample is
# $\max(c_m, 0) / \sum_k \max(c_k, 0)$, and **if no modality pushes (the sum is 0) every
# modality gets $1/M$**. Return the mean share over samples as `{modality: float}`; the
# shares sum to 1. A modality whose logits are all zero must get 0 — not NaN.

# %%
def decision_shares(logits: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean over samples of each modality's share of the push towards the fused decision."""
    # --- your code below ---
    raise NotImplementedError("Task 2: decision shares")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — capability-based weights
#
# On a validation split, modality m's capability is how far its own logits' accuracy
# exceeds chance: $g_m = \max(\mathrm{acc}_m - 1/C,\ 0)$. Return weights
# $w_m = g_m / \sum_k g_k$ as `{modality: float}` (they sum to 1); if no modality beats
# chance, return uniform weights $1/M$. (Ties in `argmax` go to the lowest class index,
# as `torch.argmax` does.) Chapter 10 then predicts with $\sum_m M\, w_m\, z_m / T_m$.

# %%
def capability_weights(logits: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    """Weights proportional to each modality's accuracy above chance; uniform if none beats chance."""
    # --- your code below ---
    raise NotImplementedError("Task 3: capability weights")
    # --- your code above ---


# %% [markdown]
# ## Going further
#
# * Train a decision layer on frozen features (`mmlib.studies.decision_layer.feature_dataset`,
#   `mmlib.models.head_model`) and feed its head to your Task 1: which classes does the weak modality
#   get read for?
# * Multiply one modality's logits by 3 and recompute Task 2 and Task 3. Which of the two
#   changes, and why does that make calibration (a temperature per modality) necessary
#   before summing outputs?

# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("10")
