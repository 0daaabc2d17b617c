# %% [markdown]
# # Exercise 06 — OGM-GE by hand
#
# Chapter 6 trains with `mmlib.methods.ogm`. Here you write its two pieces yourself:
# the modulation coefficient that slows the dominant encoder down, and the
# generalization-enhancement (GE) noise. The check compares your functions with the
# library's on random scores and on the edge cases that break naive code: a tie
# (ρ = 1) and a modality whose score is zero.
#
# Recall (Peng et al., CVPR 2022). On a batch, modality m's score is
# $s_m = \sum_i \mathrm{softmax}(z_{m,i})[y_i]$. With two modalities and
# $\rho = s_\text{dom} / s_\text{other} > 1$,
#
# $$k_\text{dom} = 1 - \tanh(\alpha \rho), \qquad k_\text{other} = 1,$$
#
# and every encoder gradient becomes $k_m g_m$ (OGM) or
# $k_m g_m + \mathcal N\big(0, \operatorname{std}(g_m)^2\big)$ (OGM-GE), where the
# standard deviation is that of the **unmodulated** gradient.

# %%
import math

import torch

# %% [markdown]
# ## Task 1 — the coefficients
#
# `scores` holds exactly two modalities (`{"audio": 41.3, "visual": 12.0}`), `alpha ≥ 0`.
# Return `{modality: coefficient}` as Python floats: `1 - tanh(alpha * rho)` for the
# modality with the larger score, `1.0` for the other.
#
# * a tie (ρ = 1) is no imbalance: both get 1;
# * if the weaker score is 0, ρ is infinite: `tanh(inf) = 1`, so the dominant one
#   gets 0 — without dividing by zero, and without NaN when `alpha` is 0 too.

# %%
def ogm_coefficients(scores: dict[str, float], alpha: float) -> dict[str, float]:
    """OGM's coefficients for two modalities: 1 - tanh(alpha * rho) for the dominant one, 1 for the other."""
    # --- your code below ---
    raise NotImplementedError("Task 1: OGM coefficients")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — the GE noise
#
# Return Gaussian noise with the shape of `grad`, mean 0 and standard deviation
# `std(grad) + 1e-8` (the authors add 1e-8). Draw it with `torch.randn(...,
# generator=generator)` so that a seeded generator gives reproducible noise. A
# one-element tensor has no spread: `torch.std` would return NaN there, use 0.

# %%
def ge_noise(grad: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian noise shaped like grad, mean 0, standard deviation std(grad) + 1e-8."""
    # --- your code below ---
    raise NotImplementedError("Task 2: GE noise")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — one modulated gradient
#
# Put them together: `coefficient * grad`, plus `ge_noise(grad)` when `ge` is true.
# Which gradient sets the noise scale matters (an early version of the authors' code
# drew it from the scaled gradient; see OGM-GE issue #5): here it is the unscaled one.

# %%
def modulate(grad: torch.Tensor, coefficient: float, ge: bool, generator: torch.Generator | None = None
             ) -> torch.Tensor:
    """OGM: coefficient * grad; OGM-GE: plus noise whose std is that of the unmodulated grad."""
    # --- your code below ---
    raise NotImplementedError("Task 3: modulate")
    # --- your code above ---


# %% [markdown]
# ## Going further
#
# * Plot `ogm_coefficients({"a": rho, "b": 1.0}, alpha)["a"]` against ρ for a few α:
#   where is it discontinuous, and what does that mean for two nearly equal modalities?
# * Chapter 6 extends the rule to M > 2 modalities (each against the mean of the
#   others); read `mmlib/methods/ogm.py` and check that it reduces to yours for M = 2.

# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("06")
