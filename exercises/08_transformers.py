# %% [markdown]
# # Exercise 08 — rotating a query (RollingQ)
#
# RollingQ (chapter 8) breaks a fusion transformer's self-reinforcing preference by
# *rotating* the class token's query toward a re-balanced key direction. Two tasks:
# measure the imbalance, then build the rotation.

# %%
import torch
import torch.nn.functional as F

# %% [markdown]
# ## Task 1 — the attention imbalance ratio
#
# `query` is a vector `(d,)`; `keys_a` and `keys_b` hold one mean key per sample,
# `(N, d)`. Return, as a Python `float`,
#
# $$\mathrm{AIR} = \frac1N\sum_x \big[\cos(q, \bar k_a(x)) - \cos(q, \bar k_b(x))\big].$$
#
# A zero key has no direction: count its cosine as 0 (no NaN).

# %%
def attention_imbalance_ratio(query: torch.Tensor, keys_a: torch.Tensor, keys_b: torch.Tensor) -> float:
    """Mean over samples of cos(q, k_a) - cos(q, k_b)."""
    # --- your code below ---
    raise NotImplementedError("Task 1: attention imbalance ratio")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — the rotation that maps one unit vector onto another
#
# Given vectors `u` and `v` of length `d` (not necessarily unit), return the `d × d`
# rotation `R` with `R û = v̂` that turns only the plane spanned by `u` and `v` and
# leaves every direction orthogonal to both unchanged:
#
# $$ w = \frac{\hat v - (\hat u\cdot\hat v)\,\hat u}{\lVert\cdot\rVert},\quad
# R = I + (\cos\theta - 1)(\hat u\hat u^\top + w w^\top) + \sin\theta\,(w\hat u^\top - \hat u w^\top),$$
#
# with $\cos\theta = \hat u\cdot\hat v$ and $\sin\theta = \lVert \hat v - \cos\theta\,\hat u\rVert$.
# Edge cases: if `u` and `v` point the same way return the identity; if they point in
# opposite directions, turn by π in the plane of `û` and any unit vector orthogonal to it.
# (Why is $\sin\theta$ taken from the norm and not from $\sqrt{1-\cos^2\theta}$? Try both
# in float32 with nearly opposite vectors.)

# %%
def rotation_matrix(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The plane rotation R with R u_hat = v_hat."""
    # --- your code below ---
    raise NotImplementedError("Task 2: rotation matrix")
    # --- your code above ---


# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("08")
