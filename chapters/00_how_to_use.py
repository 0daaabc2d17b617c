# %% [markdown]
# # 00 · How to use this course

# %% [markdown]
# **How to run this notebook.** In JupyterLab (`make lab` in the repository root) open this
# `.ipynb`, or right-click its `.py` twin → *Open With → Jupytext Notebook*; then *Run → Run All
# Cells*. The first code cell (tagged `parameters`) holds everything a run may change;
# `.venv/bin/python -m mmlib.course.book params 00` lists those parameters with their types and
# defaults. A cell marked `# NBVAL_CHECK_OUTPUT` has its printed output compared with the
# committed one by nbval in CI, so it prints only seeded, rounded numbers that are the same on
# any machine.

# %% tags=["parameters"]
# Parameters: everything a run of this chapter may change (papermill injects overrides
# right after this cell; `python -m mmlib.course.book params 00` lists them).
SEED = 0  # first seed of the data splits
N_SEEDS = 3  # how many seeded splits the first look at mfeat averages over
VIEWS = ["fou", "fac", "kar", "pix", "zer", "mor"]  # mfeat views to probe

# %% [markdown]
# A multimodal model reads several inputs at once — sound and image, text and video.
# You would expect it to use all of them. Trained jointly, it usually does not: the
# modality that is easiest to learn from takes over, and the others are left
# under-trained, much as most people lean on a dominant hand. This is **modality
# imbalance**. The course shows why it happens (the gradient of a jointly trained
# model is *additive* over modalities, so the winner silences the loser), how to
# measure it, and then every family of remedies — sorted, as the survey this course
# follows sorts them, by the stage of training each one touches.
#
# This first chapter is the map and the manual: what is where, how to run a chapter,
# change its parameters, do an exercise and check it. It ends with a first look at
# real data whose modalities are very unequal.

# %%
import os
import platform
import sys
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression

import mmlib
import mmlib.data
import mmlib.methods
from mmlib import plots
from mmlib.course.book import load_book, record

# %% [markdown]
# ## 1. Check your environment
#
# Everything in the course runs on a laptop CPU in seconds to a minute per chapter.
# A GPU is used when present but never needed for the default parameters.

# %%
threads = torch.get_num_threads()
gpu = torch.cuda.is_available()
print(f"python  {platform.python_version()}   (virtual environment: {sys.prefix != sys.base_prefix})")
print(f"torch   {torch.__version__}   numpy {np.__version__}   mmlib {mmlib.__version__}")
print(f"CPU threads torch uses: {threads}   (os.cpu_count() = {os.cpu_count()})")
print("GPU:", torch.cuda.get_device_name(0) if gpu else "none — fine, the defaults are CPU-sized")

# %% [markdown]
# ## 2. The map of the course
#
# Every method the course teaches is a small change to **one training loop**, at one
# of its four stages. `mmlib.train.fit` is that loop; a method in `mmlib.methods`
# overrides one or more of its hooks:
#
# | stage | what a method changes | chapter |
# |---|---|---|
# | data input | which samples / modalities each step sees | 03 |
# | feed-forward | how the modalities are encoded and fused | 04 |
# | learning objective | the loss | 05 |
# | optimization | the gradients, before the optimizer steps | 06 |
#
# Before the remedies come the problem (01: the additive gradient; 02: how to
# diagnose imbalance); after them a fair benchmark (07), transformers (08),
# multimodal LLMs (09) and weighting at the **decision level** (10).
# The chapter list below is read from `book.yml`, the course's table of contents.

# %%
# NBVAL_CHECK_OUTPUT
book = load_book()
for part in book.parts:
    print(part)
    for ch in (c for c in book.chapters if c.part == part):
        print(f"  {ch.id}  {ch.title}  (budget: about {ch.budget:g} CPU seconds)")
print("profiles:", ", ".join(book.profiles))

# %%
fig, ax = plt.subplots(figsize=(11, 4.2))
ax.set_axis_off()
for col, part in enumerate(book.parts):
    x = col * 2.75
    ax.text(x + 1.25, 0.1, textwrap.fill(part, 22), ha="center", va="bottom", fontsize=10, weight="bold")
    for row, ch in enumerate(c for c in book.chapters if c.part == part):
        y = -row * 1.0
        ax.add_patch(plt.Rectangle((x, y - 0.85), 2.5, 0.8, color=plt.cm.Set2(col), ec="0.3"))
        label = f"{ch.id} · " + textwrap.fill(ch.title, 26)
        ax.text(x + 1.25, y - 0.45, label, ha="center", va="center", fontsize=8)
ax.set_xlim(-0.1, 2.75 * len(book.parts))
ax.set_ylim(-4.1, 0.9)
ax.set_title("The course map: parts left to right, chapters top to bottom", fontsize=10)
plt.show()

# %% [markdown]
# ### Where each method comes from: the ledger
#
# Every method names its paper, the public code its core math was compared with
# (repository, commit, file, function), and **every place where the course's rule differs
# from that code**, with the reason and, where both rules are offered, the option that
# selects the other one. `mmlib.methods.ledger()` gathers them into one table; the same
# list ends each method's docstring (`help(mmlib.methods.get("ogm_ge"))`).

# %%
ledger = mmlib.methods.ledger()
with pd.option_context("display.max_colwidth", 70, "display.width", 200):
    display(ledger[["method", "family", "paper", "checked_against", "n_differences"]])

# %%
# NBVAL_CHECK_OUTPUT
print(f"{len(ledger)} methods, {ledger.n_differences.sum()} stated differences, "
      f"{(ledger.options != '').sum()} methods offering the other rule as an option")
print(ledger.set_index("method").loc["ogm_ge", "differences"])

# %% [markdown]
# ## 3. How to run a chapter
#
# * **Read and run in JupyterLab**: `make lab`, open `chapters/NN_slug.ipynb`, run the
#   cells top to bottom. The `.ipynb` is paired with `chapters/NN_slug.py` by jupytext:
#   saving one updates the other. Every notebook opens with its outputs already there.
# * **Change a parameter**: edit the first cell (tagged `parameters`) and re-run, or from
#   a shell: `python -m mmlib.course.book build --chapter 00 --param N_SEEDS=5`.
#   `python -m mmlib.course.book params 00` lists a chapter's parameters.
# * **Use a profile**: `book.yml` names richer parameter sets, e.g.
#   `python -m mmlib.course.book build --profile full` (more seeds, more epochs).
# * **Run the whole book**: `make book` executes every chapter into `_build/`
#   (`_build/html/index.html`, `_build/report.json`). It never touches `chapters/` or
#   `exercises/`, so your edits are safe.
#
# ## 4. How to do an exercise
#
# `exercises/NN_slug.ipynb` holds functions whose body is a stub between the markers
# `# --- your code below ---` and `# --- your code above ---`. Replace the
# `raise NotImplementedError` line with your code, then run the last cell, `check("NN")`,
# or from a shell `python -m mmlib.course.exercises check NN`. Each task reports
# `pass`, `fail` with a hint, or `not done yet`. Exercise 00 practises the three
# computations the course leans on: accuracy from logits, softmax minus one-hot, and
# accuracy per modality.
#
# ## 5. A first look at unequal modalities
#
# The UCI *Multiple Features* data ship with the course (`data/mfeat/`): 2,000
# handwritten digits, each described by six **views** computed from the same image.
# Treat each view as a modality. How much does each one know on its own? A linear
# probe (logistic regression on one view) answers that, averaged over `N_SEEDS`
# seeded train/validation/test splits.

# %%
data = mmlib.data.load("mfeat", views=VIEWS, seed=SEED)

# %%
# NBVAL_CHECK_OUTPUT
print(f"{len(data.labels)} samples, {len(data.classes)} classes, splits",
      {k: len(v) for k, v in data.splits.items()})
for view, x in data.modalities.items():
    print(f"  {view}: {x.shape[1]:>3} features")


# %%
def probe_accuracy(view: str, seed: int) -> float:
    """Test accuracy of a logistic regression trained on one view (train split only)."""
    ds = mmlib.data.load("mfeat", views=[view], seed=seed)
    x, y = ds.modalities[view].numpy(), ds.labels.numpy()
    train, test = ds.splits["train"].numpy(), ds.splits["test"].numpy()
    clf = LogisticRegression(max_iter=300).fit(x[train], y[train])
    return float(clf.score(x[test], y[test]))


scores = {v: np.array([probe_accuracy(v, SEED + s) for s in range(N_SEEDS)]) for v in VIEWS}  # BLAS threads: MMLIB_THREADS (1)
order = sorted(VIEWS, key=lambda v: -scores[v].mean())
for v in order:
    print(f"{v}: {scores[v].mean():.3f} ± {scores[v].std():.3f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
means = [scores[v].mean() for v in order]
stds = [scores[v].std() for v in order]
ax.bar(order, means, yerr=stds, capsize=4, color=[plots.colour(v) for v in order])
plots.chance_line(ax, data.n_classes)
ax.set_ylim(0, 1)
ax.set_xlabel("mfeat view (one modality each)")
ax.set_ylabel("linear-probe test accuracy\n(fraction correct)")
ax.set_title(f"Six views of the same digits are far from equal (mean ± std, {N_SEEDS} splits)")
plots.legend(ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Check
#
# The claim of this section: the views differ strongly in how much they know. If they
# did not, mfeat would be a poor place to study imbalance.

# %%
best, worst = order[0], order[-1]
gap = scores[best].mean() - scores[worst].mean()
assert gap > 0.1, f"expected the views to differ by more than 10 points, got {gap:.3f}"
print(f"strongest view {best}, weakest view {worst}: a gap of {100 * gap:.0f} accuracy points")
record(strongest_view=best, weakest_view=worst, probe_gap=round(gap, 3),
       probe_accuracy={v: round(float(scores[v].mean()), 3) for v in VIEWS},
       torch=torch.__version__, gpu=gpu)

# %% [markdown]
# Joint training sees all views at once — and chapter 01 shows why it still tends to
# learn mostly from the strongest one.
#
# ## Summary
#
# * The course is `book.yml`: parts, chapters, time budgets, parameter profiles.
# * Each chapter starts with a `parameters` cell; change it, or pass `--param` /
#   `--profile` to `python -m mmlib.course.book build`.
# * Each chapter has an exercise; `check("NN")` grades it.
# * `mmlib.methods.ledger()` says, method by method, which paper and which public code each
#   implementation follows and every place it differs from that code, with the reason.
# * Real modalities are unequal: on mfeat the best view's linear probe beats the
#   worst one's by tens of points.
#
# **Papers.** The chapter map follows the survey *Balanced Multimodal Learning*
# (stages: data input, feed-forward, learning objective, optimization) and ends with
# decision-level weighting (arXiv 2510.14411). The mfeat data: van Breukelen, Duin,
# Tax and den Hartog, *Handwritten digit recognition by combined classifiers*,
# Kybernetika 34(4), 1998 (UCI Machine Learning Repository, CC BY 4.0).
