# %% [markdown]
# # Exercise 07 — your own method on the frontier
#
# Chapter 07 benchmarked every registered method and drew the Pareto frontier of accuracy
# against imbalance. Here you write the frontier yourself, add a method **of your own** to the
# benchmark through the `Method` hooks, and find out where it lands: on the frontier, or
# dominated — and by whom. Replace each `raise` line between the markers, run the cell, and
# run the **check** cell at the end (or `python -m mmlib.course.exercises check 07` from a terminal).

# %%
import math

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mmlib.methods import Method

# %% [markdown]
# ## Task 1 — the Pareto frontier
#
# Higher accuracy is better, lower imbalance is better. Point `i` is **dominated** when some
# other point `j` has `acc[j] >= acc[i]` and `imb[j] <= imb[i]`, with at least one of the two
# strict. Return one boolean per point: `True` if it is *not* dominated (on the frontier).
#
# * two identical points do not dominate each other (both are on the frontier);
# * a point with a NaN coordinate (a method that could not run) is never on the frontier,
#   and dominates nothing.

# %%
def pareto_frontier(accuracy: list[float], imbalance: list[float]) -> list[bool]:
    """True for each point that no other point beats on both accuracy (higher) and imbalance (lower)."""
    # --- your code below ---
    raise NotImplementedError("Task 1: Pareto frontier")
    # --- your code above ---


# %% [markdown]
# ## Task 2 — a method of your own
#
# A method is a subclass of `mmlib.methods.Method` that overrides one or more hooks of the one
# training loop (`sample`, `forward`, `loss`, `after_backward`, `on_epoch_end`, ... — read
# `mmlib/methods/base.py`). Its hyperparameters are keyword arguments of `__init__`, stored as
# attributes of the same names. Set `family` to the stage of training it changes.
#
# A suggestion, if you want one: **unimodal assistance**. Keep the fused cross-entropy and add
# each modality's own cross-entropy on its slice of the head, so the weak modality's slice
# gets a gradient that does not vanish when the fused prediction is already confident:
#
# $$ L = \mathrm{CE}(f, y) + w \sum_m \mathrm{CE}(z^m, y), \qquad f = \sum_m z^m . $$
#
# (`output.fused` is $f$, `output.logits[m]` is $z^m$, `batch.y` the labels.) Any other idea is
# welcome — a warm-up, a different weight per modality, a gradient rule; the check only asks
# that it trains, gives a valid benchmark row, and differs from plain joint training.

# %%
class MyMethod(Method):
    """My method: fused cross-entropy plus `weight` times each modality's own cross-entropy."""

    name = "my_method"
    family = "learning objective"
    paper = "exercise 07"

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def loss(self, output, batch):
        # --- your code below ---
        raise NotImplementedError("Task 2: your method's loss (or override another hook instead)")
        # --- your code above ---


# %% [markdown]
# ## Task 3 — who dominates it?
#
# `means` has one row per (dataset, method) with the columns `dataset`, `method`,
# `test_acc_mean` and `imbalance_mean` (what `mmlib.results.method_means` returns). For each
# data set, return the sorted list of methods that dominate `method` there — an empty list means
# it is on that data set's frontier. Use the definition of Task 1.

# %%
def dominated_by(means: pd.DataFrame, method: str) -> dict[str, list[str]]:
    """Per data set, the methods that dominate `method` (empty: it is on the frontier)."""
    # --- your code below ---
    raise NotImplementedError("Task 3: dominated by")
    # --- your code above ---


# %% [markdown]
# ## Place it on the frontier
#
# Run your method in the benchmark next to every registered method. With the chapter's
# settings and results file, the registered methods' runs are read from the log chapter 07
# wrote (if you ran it), so only your method trains (seconds); otherwise everything trains
# (about 3 minutes on a 2-core laptop).
#
# The frontier compares means. Whether your method is *clearly* more accurate or more balanced
# than the baseline is the course's rule of evidence (`mmlib.results.versus_baseline`: a paired
# t-test over the seeds, Holm-corrected, reported as the mean difference with its 95 % interval
# and n); with three seeds a real difference can stay "not established".

# %%
from mmlib.benchmark import benchmark
from mmlib.course.book import repo_root
from mmlib.data import load
from mmlib.plots import plot_relative_balance
from mmlib.results import method_means, versus_baseline
import mmlib.methods

RESULTS = repo_root() / "_build/benchmark/07_default.csv"
data = {name: load(name) for name in ["synthetic", "mfeat"]}
mine = {"mine": MyMethod, **{m: m for m in mmlib.methods.names()}}
table = benchmark(data, mine, [0, 1, 2], out=RESULTS, workers=2, epochs=20)
print(dominated_by(method_means(table), "mine"))
plot_relative_balance(table, n_classes={name: d.n_classes for name, d in data.items()});
print(versus_baseline(table, "test_acc", methods=["mine"]).round(3).to_string(index=False))
print(versus_baseline(table, "imbalance", methods=["mine"], higher_is_better=False).round(3).to_string(index=False))

# %% [markdown]
# ## Going further
#
# * Change your method's hyperparameter and re-run the cell: only the new runs train (the
#   settings are part of each run's key). Which value moves it onto the frontier?
# * Is your method on the frontier of both data sets? What would you need to know about a new
#   data set before choosing a method for it?

# %% [markdown]
# ## Check your work

# %%
from mmlib.course.exercises import check

check("07")
