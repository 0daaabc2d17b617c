# %% [markdown]
# # Exercise 01 — the additive gradient
#
# Chapter 01 derived that, with concatenation fusion and cross-entropy, every encoder
# receives the *same* shared term `softmax(f) − onehot(y)`, multiplied by its own slice
# of the head. Here you write those pieces yourself. Replace each
# `raise NotImplementedError` between the markers, then run the check cell at the end
# (or `python -m mmlib.course.exercises check 01` from a terminal).

# %%
import torch

# %% [markdown]
# ## Task 1 — per-modality logits from the fused head
#
# The head is one linear layer on the concatenated features: weight `W` of shape
# `C × (d_1 + … + d_M)`, bias `b` of shape `C`. Modality `m` owns the columns of `W` that
# read its features (in the order of the `features` dict). Return
# `{m: features[m] @ W_m.T + b / M}` — so that the values sum to the fused logits.

# %%
def modality_logits(features: dict[str, torch.Tensor], weight: torch.Tensor,
                    bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each modality's share of the fused logits: its slice of the head plus b / M."""
    # --- your code below ---
    raise NotImplementedError("Task 1: per-modality logits")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — what each encoder receives
#
# For the *mean* cross-entropy over a batch of `B` samples with fused logits `f`, the
# gradient with respect to modality `m`'s features is
# $\frac{1}{B}\,(\mathrm{softmax}(f) - \mathrm{onehot}(y))\,W_m$.
# Return it for every modality as a dict of `B × d_m` tensors. Do not call autograd:
# the check compares your closed form with it.

# %%
def feature_gradients(fused_logits: torch.Tensor, labels: torch.Tensor,
                      weight_slices: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """dL/dh_m = (softmax(f) - onehot(y)) W_m / B for each modality m."""
    # --- your code below ---
    raise NotImplementedError("Task 2: feature gradients")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — how much the shared term shrinks
#
# The shared term of one sample has size `1 − p_y`. Suppose every logit is 0 except the
# true class's, which gets a *margin* from each modality: `z_y = Σ_m margins[m]`.
# Return `1 − p_y` for `n_classes` classes as a float. (With one confident modality this
# is small, whatever the other modality's margin — the heart of chapter 01.)

# %%
def shared_term_size(margins: dict[str, float], n_classes: int) -> float:
    """1 - softmax(f)_y when the true class has logit sum(margins) and the others 0."""
    # --- your code below ---
    raise NotImplementedError("Task 3: size of the shared term")
    # --- your code above ---


# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("01")
