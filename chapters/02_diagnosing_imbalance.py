# %% [markdown]
# # 02 · Diagnosing modality imbalance
#
# A jointly trained model reports one number, its fused accuracy, and that number can
# look fine while one modality does all the work. Before any remedy, we need
# instruments that say *which* modality the model relies on and *how much the weak
# encoder has actually learned*. This chapter builds four of them and uses them on the
# synthetic data and on real data (mfeat):
#
# 1. **per-modality accuracy** — the accuracy of each modality's slice of the fused head;
# 2. **linear probes** — how much class information each encoder's features hold,
#    whatever the head does with them, compared with the same encoder trained alone;
# 3. **Shapley contributions** — each modality's share of the fused accuracy;
# 4. **an imbalance measure** — one number for how unevenly that share is split,
#    followed over training.
#
# **Claim.** Joint training leaves the weaker modality's encoder *worse* than training
# it alone: on mfeat's `fac` + `zer` views, the probe on the jointly trained `zer`
# encoder is several points below the probe on a `zer` encoder trained by itself.

# %% tags=["parameters"]
SEEDS = [0, 1, 2]  # seeds of every comparison (mean ± std over them)
EPOCHS = 20  # training epochs of every run
VIEWS = ["fac", "zer"]  # the mfeat views used as the two modalities (strong first)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mmlib.book import record
from mmlib.data import load
from mmlib.metrics import imbalance, probe_encoders, shapley_contributions
from mmlib.train import run, train_unimodal

datasets = {"synthetic": load("synthetic"), "mfeat": load("mfeat", views=VIEWS)}
for data in datasets.values():
    print(data)

# %% [markdown]
# ## 1. Per-modality accuracy
#
# Chapter 1 showed that the fused logit is a sum, $f = z^a + z^v$ with
# $z^m = W^m h^m + b/M$. Reading each $z^m$ on its own gives the accuracy of "what this
# modality contributes to the decision". `fit` records it for every split and epoch
# (`val_acc_<m>`). We also follow the imbalance of the Shapley contributions on the
# validation split after every epoch, through `fit`'s `callback`.
#
# The imbalance measure (`mmlib.metrics.imbalance`) is the normalised spread of the
# contributions, $\frac{\max_m \phi_m - \min_m \phi_m}{\sum_m |\phi_m|}$: 0 when every
# modality contributes the same, 1 when one does everything. BalanceBenchmark (Xu et al.,
# 2025) reports per-modality Shapley values; this is one way to fold them into one number.

# %%
def joint_run_with_imbalance(data, seed):
    """Train jointly; after every epoch, record the Shapley imbalance on validation."""
    curve = []

    def watch(state):
        curve.append(imbalance(shapley_contributions(state.model, state.data, "val")))

    result = run(data, "baseline", seed=seed, epochs=EPOCHS, callback=watch)
    return result, curve


first = {name: joint_run_with_imbalance(data, SEEDS[0]) for name, data in datasets.items()}

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, (name, (result, curve)) in zip(axes, first.items()):
    history = result.history
    epochs = np.arange(EPOCHS)
    ax.plot(epochs, history["val_acc"], label="fused", color="black")
    for m in datasets[name].modality_names:
        ax.plot(epochs, history[f"val_acc_{m}"], label=f"{m} slice")
    ax.plot(epochs, curve, "--", label="imbalance (Shapley)", color="tab:red")
    ax.set(title=name, xlabel="epoch", ylabel="validation", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
fig.tight_layout()

# %% [markdown]
# On both data sets the fused accuracy tracks the strong modality's slice, the weak
# slice stays low, and the imbalance measure climbs early and stays high. But a low slice
# accuracy has two possible causes: the weak *encoder* learned little, or the *head*
# ignores what it learned. Per-modality accuracy cannot tell them apart; a probe can.
#
# ## 2. Linear probes: joint encoders vs encoders trained alone
#
# Freeze an encoder, fit a fresh logistic regression on its features (train split), and
# score it on the test split (`mmlib.metrics.probe_encoders`). Do this for the encoders of
# the joint model and for the same architecture trained on one modality alone. If joint
# training under-trains the weak encoder, its joint probe is lower than its alone probe.

# %%
rows = []
for name, data in datasets.items():
    for seed in SEEDS:
        joint = run(data, "baseline", seed=seed, epochs=EPOCHS)
        joint_probe = probe_encoders(joint.model, data, seed=seed)
        shapley = shapley_contributions(joint.model, data, "test")
        for m in data.modality_names:
            alone = train_unimodal(data, m, seed=seed, epochs=EPOCHS)
            alone_probe = probe_encoders(alone.model, data.select([m]), seed=seed)[m]
            rows.append({
                "dataset": name, "modality": m, "seed": seed,
                "joint fused acc": joint.history.final["test_acc"],
                "joint slice acc": joint.history.final[f"test_acc_{m}"],
                "joint probe": joint_probe[m],
                "alone acc": alone.history.final["test_acc"],
                "alone probe": alone_probe,
                "shapley": shapley[m],
            })
table = pd.DataFrame(rows)
table["probe gap (alone - joint)"] = table["alone probe"] - table["joint probe"]
columns = ["joint fused acc", "joint slice acc", "joint probe", "alone acc", "alone probe",
           "probe gap (alone - joint)", "shapley"]
summary = table.groupby(["dataset", "modality"], sort=False)[columns].agg(["mean", "std"])
summary.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for ax, name in zip(axes, datasets):
    sub = summary.loc[name]
    x = np.arange(len(sub))
    for offset, column, color in [(-0.2, "joint probe", "tab:purple"), (0.2, "alone probe", "tab:gray")]:
        ax.bar(x + offset, sub[(column, "mean")], 0.4, yerr=sub[(column, "std")], capsize=3,
               label=column, color=color)
    ax.scatter(x - 0.2, sub[("joint slice acc", "mean")], marker="_", s=400, color="black",
               label="joint slice acc", zorder=3)
    ax.set_xticks(x, sub.index)
    ax.set(title=f"{name}: what each encoder knows", ylabel="test accuracy", ylim=(0, 1.05))
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()

# %% [markdown]
# Two different stories come out of the probes:
#
# * On **mfeat**, the jointly trained `zer` encoder has learned *something* — its probe
#   is far above its slice accuracy, so the head under-uses it — but it has learned
#   *less* than a `zer` encoder trained alone: joint training under-trains it.
# * On **synthetic**, the gap is dramatic: the visual encoder inside the joint model holds
#   only a fraction of what the same encoder learns alone, and its slice of the head is at
#   chance. The strong modality has switched the weak one's learning off, as chapter 1
#   predicted.
#
# The strong modality loses little or nothing (its gap is near zero): imbalance is a
# problem of the weak modality.
#
# ## 3. Shapley contributions
#
# Shapley values split the fused accuracy between modalities fairly: each modality gets
# its average marginal gain over the orders in which modalities could be added,
#
# $$\phi_m = \sum_{S \subseteq \mathcal{M}\setminus\{m\}} \frac{|S|!\,(M-|S|-1)!}{M!}\,\big[v(S\cup\{m\}) - v(S)\big],$$
#
# with $v(S)$ the test accuracy when only the modalities in $S$ are present (the others'
# features zeroed, so their slice of the head drops out). The values add up to
# $v(\mathcal{M}) - v(\emptyset)$. With two modalities this is just the average of "what
# $m$ adds first" and "what $m$ adds last".

# %%
summary[["shapley"]].round(3)

# %% [markdown]
# ## 4. Check
#
# The claims of this chapter, each asserted with its uncertainty over the seeds (paired
# by seed; `se` is the standard error of the mean gap):
# 1. on mfeat, the weak view's (`zer`) probe after joint training is below its probe after
#    training alone by more than two standard errors — and by at least two points;
# 2. on synthetic, the same holds for the visual encoder;
# 3. the strong modality gets the larger Shapley contribution on both data sets.

# %%
def gap_stats(dataset, modality):
    gaps = table[(table.dataset == dataset) & (table.modality == modality)]["probe gap (alone - joint)"]
    return gaps.mean(), gaps.std(ddof=1) / np.sqrt(len(gaps))


weak = {"mfeat": VIEWS[1], "synthetic": "visual"}
strong = {"mfeat": VIEWS[0], "synthetic": "audio"}
gaps = {name: gap_stats(name, weak[name]) for name in datasets}
for name, (mean, se) in gaps.items():
    print(f"{name:9s} {weak[name]:6s} probe gap alone - joint = {mean:.3f} ± {se:.3f} (se, {len(SEEDS)} seeds)")
mean_shapley = table.groupby(["dataset", "modality"])["shapley"].mean()

# %%
# NBVAL_CHECK_OUTPUT
claim_mfeat = gaps["mfeat"][0] > max(2 * gaps["mfeat"][1], 0.02)
claim_synthetic = gaps["synthetic"][0] > max(2 * gaps["synthetic"][1], 0.02)
claim_shapley = all(mean_shapley[name, strong[name]] > mean_shapley[name, weak[name]] for name in datasets)
assert claim_mfeat and claim_synthetic and claim_shapley
print("mfeat: weak view's probe is lower after joint training (> 2 se, >= 2 points):", claim_mfeat)
print("synthetic: visual encoder's probe is lower after joint training:", claim_synthetic)
print("the strong modality has the larger Shapley contribution on both:", claim_shapley)

# %%
record(mfeat_weak_probe_gap=round(float(gaps["mfeat"][0]), 3),
       synthetic_weak_probe_gap=round(float(gaps["synthetic"][0]), 3),
       mfeat_joint_acc=round(float(table[table.dataset == "mfeat"]["joint fused acc"].mean()), 3))

# %% [markdown]
# ## Summary
#
# * **Per-modality accuracy** (head slices) shows who drives the decision, but not why.
# * **Linear probes** separate "the encoder learned little" from "the head ignores it". On
#   both data sets the weak modality's encoder learns less jointly than alone.
# * **Shapley contributions** share the fused accuracy out between modalities; their
#   **imbalance** rises early in training and stays high.
# * These are the instruments every later chapter uses to ask of a remedy: did the weak
#   modality's encoder learn more, and does the decision use it?
#
# **Exercise 02**: implement the Shapley contribution of a modality from subset accuracies.
#
# ## Papers
# * X. Peng et al. *Balanced Multimodal Learning via On-the-fly Gradient Modulation.* CVPR 2022.
# * N. Wu, S. Jastrzębski, K. Cho, K. J. Geras. *Characterizing and Overcoming the Greedy
#   Nature of Learning in Multi-modal Deep Neural Networks.* ICML 2022.
# * Y. Wei, R. Feng, Z. Wang, D. Hu. *Enhancing Multimodal Cooperation via Sample-level
#   Modality Valuation.* CVPR 2024 (Shapley contributions of modalities).
# * S. Xu et al. *BalanceBenchmark: A Survey for Multimodal Imbalance Learning.* arXiv 2502.10816 (2025).
# * W. Du et al. *On Uni-Modal Feature Learning in Supervised Multi-Modal Learning.* ICML 2023
#   (linear probes of jointly trained encoders).
