# %% [markdown]
# # Exercise 03 — valuing samples and modalities
#
# Chapter 03 values every modality on every sample with a Shapley contribution and
# gives each modality extra training copies of the samples where it contributes little. Here you write the three rules that
# make that method (Wei et al., CVPR 2024) work. Replace each `raise` line between the
# markers, run the cell, and run the **check** cell at the end
# (or `python -m mmlib.course.exercises check 03` from a terminal).

# %%
import torch

# %% [markdown]
# ## Task 1 — a modality's contribution to one sample
#
# Two modalities, `m` and `o`. For each sample you know three outcomes (boolean
# tensors): is the prediction right with both modalities (`correct_all`), with `m`
# alone (`correct_m`), with `o` alone (`correct_other`). The value of a set of
# modalities is 1 if its prediction is right (the full set is worth `full_value`,
# 2 in the authors' code), and the empty set is worth 0. The Shapley contribution of
# `m` averages its marginal gain over the two orders in which `m` can join:
#
# $$\phi_m = \tfrac12\,[v(\{m\}) - v(\varnothing)] + \tfrac12\,[v(\{m, o\}) - v(\{o\})].$$
#
# Return $\phi_m$ per sample as a float tensor.

# %%
def sample_contribution(correct_all: torch.Tensor, correct_m: torch.Tensor, correct_other: torch.Tensor,
                        full_value: float = 2.0) -> torch.Tensor:
    """Per-sample Shapley contribution of modality m (two modalities)."""
    # --- your code below ---
    raise NotImplementedError("Task 1: sample contribution")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — how many extra copies a sample gets
#
# Every modality of a sample gets its own extra copies of that sample (each copy keeps
# that modality alone), and the lower the modality's contribution, the more copies go
# into the next epoch. The authors' rule, with strict comparisons:
# 3 copies if $\phi < -0.1$, 2 if $-0.1 < \phi < 0.4$, 1 if $0.4 < \phi < 1$, and none
# otherwise — so $\phi \ge 1$ gets none, and so does a value exactly on $-0.1$ or $0.4$.
# Return a long tensor of copy counts.

# %%
def resample_copies(contribution: torch.Tensor) -> torch.Tensor:
    """Extra copies per sample from its contribution (thresholds -0.1, 0.4, 1.0)."""
    # --- your code below ---
    raise NotImplementedError("Task 2: copies")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — the modality-level variant
#
# Instead of valuing every sample, value each modality on average: its gap to a full
# share is $g_m = 1 - \bar\phi_m$. The modality with the **largest** gap is enhanced,
# with $\mathrm{int}(|g_{\max} - g_{\min}| \cdot \tfrac23 \cdot \alpha \cdot N)$ extra copies
# (truncated, as the authors' `int(...)` does, and not capped at $N$: the copies are
# drawn with replacement). Given the mean contributions `{modality: mean phi}`, return
# `(modality to enhance, number of copies)`.

# %%
def modality_resampling(mean_contributions: dict[str, float], n_samples: int,
                        alpha: float = 1.0) -> tuple[str, int]:
    """The modality to enhance and how many samples to resample for it."""
    # --- your code below ---
    raise NotImplementedError("Task 3: modality-level resampling")
    # --- your code above ---


# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("03")
