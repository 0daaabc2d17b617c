# %% [markdown]
# # Exercise 05 — the two-gradient min-norm combination (MMPareto)
#
# Chapter 5 trains each encoder with two losses, the multimodal one and the
# modality's own, so each encoder receives two gradients $g_{mm}$ and $g_u$.
# MMPareto combines them without conflict. In these three tasks you implement that
# combination yourself, on flat gradient vectors, and the checks compare your
# functions with `mmlib.methods.mmpareto` on aligned, conflicting and degenerate
# (zero, exactly opposite) gradients.

# %%
import torch

# %% [markdown]
# ## Task 1 — the cosine test
#
# Return $\cos(a, b) = \langle a, b\rangle / (\lVert a\rVert\,\lVert b\rVert)$ as a 0-d tensor.
# A zero vector has no direction: return `0.0` when either vector is zero (never NaN).

# %%
def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine of two flat vectors; 0 when either is zero."""
    # --- your code below ---
    raise NotImplementedError("Task 1: cosine")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — the min-norm weight, in closed form
#
# Among the points $d(\alpha) = \alpha g_1 + (1-\alpha) g_2$, $\alpha \in [0, 1]$, find the
# shortest. Expand $\lVert d(\alpha)\rVert^2$ — a parabola in $\alpha$ — set its derivative
# to zero, and clip the result to $[0, 1]$. (You should find
# $\alpha^* = \langle g_2 - g_1, g_2\rangle / \lVert g_1 - g_2\rVert^2$ before clipping.)
# When $g_1 = g_2$ every $\alpha$ is optimal: return 0.5.
# Return $\alpha^*$ as a 0-d tensor.

# %%
def min_norm_weight(g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
    """alpha in [0, 1] minimising |alpha g1 + (1 - alpha) g2|."""
    # --- your code below ---
    raise NotImplementedError("Task 2: min-norm weight")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — MMPareto's update
#
# Combine one encoder's gradients the way MMPareto does:
#
# 1. if both are non-zero and $\cos(g_{mm}, g_u) \le 0$ (conflict), $\alpha$ is your min-norm
#    weight of $(g_{mm}, g_u)$; otherwise $\alpha = 0.5$;
# 2. $\text{new} = 2\alpha\, g_{mm} + 2(1-\alpha)\, g_u$;
# 3. return $\gamma \cdot \max\!\left(1, \lVert g_{mm} + g_u\rVert / \lVert\text{new}\rVert\right)\cdot \text{new}$,
#    and a zero vector when $\text{new}$ is zero (exactly opposite gradients) — no NaN.

# %%
def pareto_update(g_mm: torch.Tensor, g_u: torch.Tensor, gamma: float = 1.5) -> torch.Tensor:
    """MMPareto's combined gradient of one encoder."""
    # --- your code below ---
    raise NotImplementedError("Task 3: Pareto update")
    # --- your code above ---


# %% [markdown]
# Try it: with conflicting gradients, the plain sum lowers one loss but raises the other
# (negative inner product with $g_u$); your update should have a positive inner product
# with both.
#
# ```python
# g_mm, g_u = torch.tensor([2.0, 0.0]), torch.tensor([-0.8, 0.6])
# d = pareto_update(g_mm, g_u, gamma=1.0)
# print((g_mm + g_u) @ g_u, d @ g_mm, d @ g_u)
# ```
#
# ## Check your work
#
# Run this cell after each task.

# %%
from mmlib.course.exercises import check

check("05")
