# %% [markdown]
# # Exercise 00 — warming up (and how exercises work)
#
# Every chapter has an exercise notebook like this one. Each task is a function whose
# body is a stub:
#
# ```python
#     # --- your code below ---
#     raise NotImplementedError("Task 1")
#     # --- your code above ---
# ```
#
# Replace the `raise` line with your code (between the markers), run the cell, and run
# the **check** cell at the end. It prints, for every task, `pass`, `fail` with a hint,
# or `not done yet`. From a terminal the same grading is
# `python -m mmlib.course.exercises check 00` (it runs this notebook from top to bottom).
#
# These three tasks are the arithmetic the whole course leans on: accuracy from
# logits, the gradient of cross-entropy with respect to the logits, and accuracy
# per modality.

# %%
import torch

# %% [markdown]
# ## Task 1 — accuracy from logits
#
# `logits` is an `N × C` tensor of class scores, `labels` holds `N` class indices.
# Return the fraction of rows whose highest score is at the true label, as a Python
# `float` between 0 and 1.

# %%
def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples whose arg-max logit is the true label."""
    # --- your code below ---
    raise NotImplementedError("Task 1: accuracy")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — the gradient of cross-entropy is softmax minus one-hot
#
# For one sample with logits $z$ and label $y$, the cross-entropy loss is
# $\ell = -\log \mathrm{softmax}(z)_y$ and its gradient is
# $\partial \ell / \partial z = \mathrm{softmax}(z) - e_y$.
# Return that `N × C` matrix (one row per sample, not averaged).
# Chapter 01 splits exactly this quantity between the modalities.

# %%
def softmax_minus_onehot(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample gradient of cross-entropy with respect to the logits."""
    # --- your code below ---
    raise NotImplementedError("Task 2: softmax minus one-hot")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — accuracy of each modality
#
# A multimodal model in this course returns one logit matrix per modality, and the
# fused logits are their sum. Given a dict `{modality name: N × C logits}`, return a
# dict `{modality name: accuracy}` — and add the key `"fused"` for the accuracy of the
# summed logits. Reuse your `accuracy`.

# %%
def per_modality_accuracy(logits: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, float]:
    """Accuracy of each modality's logits and of their sum (key "fused")."""
    # --- your code below ---
    raise NotImplementedError("Task 3: per-modality accuracy")
    # --- your code above ---


# %% [markdown]
# ## Check your work
#
# Run this cell after each task.

# %%
from mmlib.course.exercises import check

check("00")
