# %% [markdown]
# # Exercise 11 — a reference for true balance
#
# Chapter 11 holds every method against a reference: well-trained unimodal models whose
# calibrated posteriors are multiplied, and the Shapley contributions that combiner implies.
# Here you write its three pieces. Replace each `raise` line between the markers, run the
# cell, then run the **check** cell (or `python -m mmlib.course.exercises check 11` from a
# terminal).

# %%
import torch

# %% [markdown]
# ## Task 1 — the product of calibrated experts
#
# With conditionally independent modalities and balanced classes,
# $p(y\mid x_1,\dots,x_M) \propto \prod_m \mathrm{softmax}(z_m/T_m)_y$, whose argmax is the
# argmax of $\sum_m z_m / T_m$. Given `logits = {modality: N × C tensor}` and
# `temperatures = {modality: T_m}`, return the `N × C` tensor $\sum_m z_m/T_m$.

# %%
def product_scores(logits: dict[str, torch.Tensor], temperatures: dict[str, float]) -> torch.Tensor:
    """The scores whose argmax is the product-of-experts decision."""
    # --- your code below ---
    raise NotImplementedError("Task 1: product of calibrated experts")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — Shapley contributions of two modalities
#
# With $v(S)$ the accuracy using the modalities in $S$ and $v(\varnothing)$ = chance,
# $\phi_a = \tfrac12\,[v(\{a\}) - v(\varnothing)] + \tfrac12\,[v(\{a,v\}) - v(\{v\})]$, and
# symmetrically for $v$. Return `{"a": phi_a, "v": phi_v}` as floats.

# %%
def shapley_two(acc_a: float, acc_v: float, acc_both: float, chance: float) -> dict[str, float]:
    """Exact Shapley values of two modalities from the four accuracies."""
    # --- your code below ---
    raise NotImplementedError("Task 2: Shapley values of two modalities")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — the imbalance of a set of contributions
#
# The course's imbalance is $(\max_m \phi_m - \min_m \phi_m) / \sum_m |\phi_m|$
# (0 when every contribution is 0). Given `{modality: phi_m}`, return it as a float.

# %%
def imbalance(contributions: dict[str, float]) -> float:
    """0 = shared evenly, 1 = one modality has everything."""
    # --- your code below ---
    raise NotImplementedError("Task 3: imbalance")
    # --- your code above ---


# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("11")
