# %% [markdown]
# # Exercise 04 — the feed-forward remedies
#
# Chapter 04 changes how the forward pass combines modalities. Here you write the
# three small formulas the methods hang on: OPM's drop probability, MLA's entropy
# weights at test time, and Greedy's conditional utilisation rate. Replace each
# `raise` line between the markers, run the cell, then run the **check** cell
# (or `python -m mmlib.course.exercises check 04` from a terminal).

# %%
import math

import torch

# %% [markdown]
# ## Task 1 — OPM: how often to drop the dominant modality
#
# With the batch's true-class scores $s_m$ (sum over the batch of $\mathrm{softmax}(z_m)[y]$),
# OPM drops modality $m$'s features with probability
#
# $$r_m = \tanh(\mathrm{relu}(s_m / s_{\text{others}} - 1)),\qquad
#   q_m = \mathrm{clip}(q_{\text{base}}(1 + \lambda r_m), 0, 1)\ \text{if } r_m > 0,\ \text{else } 0,$$
#
# where $s_{\text{others}}$ is the sum of the other modalities' scores. Given
# `scores = {modality: s_m}`, return `{modality: q_m}` as floats. If the others' scores
# are all 0, treat the ratio as infinite when $s_m > 0$ ($r_m = 1$) and as "no lead"
# when $s_m = 0$.

# %%
def drop_probabilities(scores: dict[str, float], q_base: float = 0.5, lam: float = 0.5) -> dict[str, float]:
    """OPM's drop probability of each modality from its true-class score."""
    # --- your code below ---
    raise NotImplementedError("Task 1: OPM drop probability")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — MLA: trust the confident modality at test time
#
# MLA fuses the unimodal predictions with weights that grow as a modality's
# prediction gets sharper: $w_m \propto \exp(H_{\max} - H(\mathrm{softmax}(z_m)))$, with
# $H$ the entropy in nats and $H_{\max} = \log C$; the weights sum to 1 over modalities,
# per sample. Given `{modality: N × C logits}`, return `{modality: N weights}`.

# %%
def entropy_fusion_weights(logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-sample entropy-based fusion weights of every modality."""
    # --- your code below ---
    raise NotImplementedError("Task 2: entropy fusion weights")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — Greedy: how much does the model use a modality?
#
# The conditional utilisation rate of $m$ is the share of the fused accuracy lost when
# $m$ is removed: $u(m \mid \text{rest}) = (A_{\text{all}} - A_{\text{without } m}) / A_{\text{all}}$.
# Return it as a float (0 when $A_{\text{all}} = 0$).

# %%
def conditional_utilization_rate(acc_all: float, acc_without: float) -> float:
    """Share of the fused accuracy that removing the modality costs."""
    # --- your code below ---
    raise NotImplementedError("Task 3: conditional utilisation rate")
    # --- your code above ---


# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("04")
