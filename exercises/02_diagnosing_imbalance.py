# %% [markdown]
# # Exercise 02 — Shapley contributions and the imbalance measure
#
# Chapter 02 split a multimodal model's accuracy between its modalities with Shapley
# values. Here you compute them yourself from the accuracies of every subset of
# modalities. Replace each `raise NotImplementedError` between the markers, then run the
# check cell (or `python -m mmlib.course.exercises check 02`).

# %%
import math
from itertools import combinations

# %% [markdown]
# ## Task 1 — two modalities
#
# `v` maps each subset of `{"a", "v"}` (a `frozenset`) to an accuracy. Return the Shapley
# contribution of modality `"a"`: the average of what it adds when it comes first,
# `v({a}) − v({})`, and what it adds when it comes last, `v({a, v}) − v({v})`.

# %%
def shapley_two(v: dict[frozenset, float]) -> float:
    """Shapley contribution of modality 'a' in a two-modality game."""
    # --- your code below ---
    raise NotImplementedError("Task 1: two-modality Shapley value")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — any number of modalities
#
# $\phi_m = \sum_{S \subseteq M \setminus \{m\}} \frac{|S|!\,(n-|S|-1)!}{n!}\,[v(S \cup \{m\}) - v(S)]$.
# `value` is a function from a `frozenset` of modality names to a number. Return a dict
# `{m: phi_m}` for every modality in `modalities`. (`itertools.combinations` and
# `math.factorial` are imported above.)

# %%
def shapley(value, modalities: list[str]) -> dict[str, float]:
    """Exact Shapley value of every modality."""
    # --- your code below ---
    raise NotImplementedError("Task 2: Shapley values")
    # --- your code above ---


# %% [markdown]
# ## Task 3 — one number for the imbalance
#
# Return $\frac{\max_m \phi_m - \min_m \phi_m}{\sum_m |\phi_m|}$, and `0.0` when every
# contribution is zero (no evidence of imbalance, and no division by zero).

# %%
def imbalance(contributions: dict[str, float]) -> float:
    """Normalised spread of the contributions, in [0, 1] for non-negative ones."""
    # --- your code below ---
    raise NotImplementedError("Task 3: imbalance measure")
    # --- your code above ---


# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("02")
