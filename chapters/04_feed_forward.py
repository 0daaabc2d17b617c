# %% [markdown]
# # 04 · Feed-forward: alternating and balanced fusion

# %% [markdown]
# **How to run this notebook.** In JupyterLab (`make lab` in the repository root) open this
# `.ipynb`, or right-click its `.py` twin → *Open With → Jupytext Notebook*; then *Run → Run All
# Cells*. The first code cell (tagged `parameters`) holds everything a run may change;
# `.venv/bin/python -m mmlib.course.book params 04` lists those parameters with their types and
# defaults. A cell marked `# NBVAL_CHECK_OUTPUT` has its printed output compared with the
# committed one by nbval in CI, so it prints only seeded, rounded numbers that are the same on
# any machine.

# %% tags=["parameters"]
# Parameters: everything a run of this chapter may change (papermill injects overrides
# right after this cell; `python -m mmlib.course.book params 04` lists them).
SEEDS = [0, 1, 2]  # every comparison is repeated over these seeds (mean ± std)
EPOCHS = 20  # training epochs per run
MFEAT_VIEWS = ["fac", "zer"]  # the two mfeat views (strong first)

# %% [markdown]
# Chapter 01 traced imbalance to one fact: a jointly trained model sees one fused
# prediction, so once the fast modality gets the answer right the loss — and with it
# every modality's gradient — shrinks. The **feed-forward** family attacks this
# where it starts, in how the forward pass combines the modalities:
#
# | method | what the forward pass does differently |
# |---|---|
# | **MLA** (Zhang et al., CVPR 2024) | no fusion while training: each modality in turn predicts alone through one *shared* head; at test time the predictions are weighted by confidence |
# | **OPM** (Wei et al., T-PAMI 2024) | randomly drops the features of the modality that currently predicts better |
# | **AMCo** (Zhou et al., ICASSP 2023) | masks random classes of the dominant modality's logits in the fused prediction |
# | **Greedy** (Wu et al., ICML 2022) | a cross-modal block (MMTM) whose bypass is cut for the modality that learns mostly through the other |
#
# Each section shows the mechanism at work on the synthetic data (seed 0); the last
# sections compare all of them over several seeds on synthetic and mfeat with the baseline
# and with a **control**, `multitask`: the fused loss plus one loss per modality's slice of
# the head, one backward pass, nothing else. MLA and AMCo both give the weak modality a
# loss of its own; the control has that ingredient alone, so a gain they keep over it is a
# gain of their own mechanism.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.patches import Patch

import mmlib.data
from mmlib import plots
from mmlib.course.book import record
from mmlib.experiment import compare
from mmlib.methods.amco import class_mask, mask_ratio
from mmlib.methods.mla import entropy_fusion_weights
from mmlib.methods.opm import drop_probabilities
from mmlib.metrics import predict
from mmlib.models import evaluating
from mmlib.plots import bars, curves
from mmlib.results import mean_std, summarize, versus_baseline

synthetic = mmlib.data.load("synthetic")
mfeat = mmlib.data.load("mfeat", views=tuple(MFEAT_VIEWS))
DATA = {"synthetic": synthetic, "mfeat": mfeat}
WEAK = {"synthetic": "visual", "mfeat": MFEAT_VIEWS[1]}
corrupted_test = synthetic.info["corrupted"]["audio"][synthetic.splits["test"]]
METHODS = {"baseline": "baseline", "multitask": "multitask", "MLA": "mla", "OPM": "opm", "AMCo": "amco",
           "MMTM (no re-balancing)": ("greedy", {"rebalance": False}), "Greedy": "greedy"}

# every method on every data set with every seed: the table for the comparison, the runs for the figures
table, runs = compare(DATA, METHODS, SEEDS, keep_runs=True, epochs=EPOCHS, progress=False)
first = SEEDS[0]
print(f"{len(table)} runs trained")

# %% [markdown]
# ## 1. MLA: take turns, share the head, trust the confident one
#
# Every step, for $m$ = audio, then visual: one optimizer step on
# $\mathcal L_m = \mathrm{CE}(W h_m + b,\ y)$ alone. Because each modality has its own
# loss, the visual encoder keeps receiving a full-strength gradient even when audio
# already fits the data. Sharing the head $W$ couples the modalities; to stop the visual
# step from overwriting what $W$ learned from audio, MLA projects the head's gradient
# away from the features the other modality produced (an orthogonal-weight-modification
# projector $P$: $\nabla W \leftarrow \nabla W\,P$, with $P$ shrinking along every audio
# feature seen). The authors' public code never applies this projection (a parameter
# name test that never matches); `mmlib.methods.mla` implements what the paper describes.
#
# At test time the unimodal predictions are fused with weights
# $w_m \propto \exp\!\big(\log C - H(\mathrm{softmax}(z_m))\big)$ — a confident (low
# entropy) modality counts more, *sample by sample*, as the paper describes. (The authors'
# code takes the softmax over the batch axis instead and gives one weight per modality
# per batch; `mmlib.methods.get("mla", entropy_over="batch")` reproduces it, and
# `mmlib.methods.ledger()` lists this and every other difference from their code.)

# %%
mla = runs["synthetic", "MLA", first]
output, labels = predict(mla.model, synthetic, "test", mla.method)
with evaluating(mla.model):
    unimodal = {m: mla.model.head.unimodal(h) for m, h in output.features.items()}
weights = entropy_fusion_weights(unimodal)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
for m in synthetic.modality_names:
    axes[0].plot(mla.history[f"loss_{m}"], label=f"loss of the {m} step", color=plots.colour(m))
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("training loss (cross-entropy, nats)")
axes[0].set_title("MLA: the alternating unimodal losses")
plots.legend(axes[0])
groups = {"clean": ~corrupted_test, "corrupted audio": corrupted_test}
colours = [plots.colour(m) for m in synthetic.modality_names]
for j, (group, mask) in enumerate(groups.items()):
    axes[1].bar(np.arange(2) + (j - 0.5) * 0.4, [weights[m][mask].mean().item() for m in synthetic.modality_names],
                0.4, color=colours, hatch="//" if j else None, edgecolor="white")
axes[1].set_xticks(range(2), synthetic.modality_names)
axes[1].set_xlabel("modality")
axes[1].set_ylabel("mean fusion weight on test\n(weights sum to 1)")
axes[1].set_title("MLA: entropy weights by sample group")
axes[1].legend(handles=[Patch(color="0.45", label="clean samples"),
                        Patch(facecolor="0.45", edgecolor="white", hatch="//", label="samples with corrupted audio")],
               loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)
fig.tight_layout()
mla_weight_audio = {g: weights["audio"][mask].mean().item() for g, mask in groups.items()}

# %% [markdown]
# Both losses fall: the visual one later, after its plateau — but it falls, which in
# joint training it does not. And the fusion weights move *per sample*: where the
# audio is noise its prediction is flat (high entropy), so the visual prediction takes
# over.
#
# ## 2. OPM: drop the modality that predicts better
#
# With the batch's true-class scores $s_m=\sum_i \mathrm{softmax}(z_{m,i})[y_i]$ (the
# per-modality logits of chapter 01's additive decomposition),
#
# $$r_m=\tanh\big(\mathrm{relu}(s_m/s_{\text{others}}-1)\big),\qquad
#   q_m = \mathrm{clip}\big(q_{\text{base}}(1+\lambda r_m),0,1\big)\ \text{if } r_m>0,\ \text{else } 0.$$
#
# With probability $p_{\text{exe}}=0.7$ per step each sample's features of modality $m$
# are dropped with probability $q_m$, and the kept features are rescaled by
# $1/(1-\theta)$ ($\theta$ the expected dropped fraction), like dropout. A few values of the
# pure function `drop_probabilities`:

# %%
# NBVAL_CHECK_OUTPUT
for s_audio, s_visual in [(10, 10), (20, 10), (40, 10), (10, 40)]:
    q = drop_probabilities({"audio": s_audio, "visual": s_visual}, q_base=0.5, lam=0.5)
    print(f"s_audio={s_audio:>2}  s_visual={s_visual:>2}  ->  q_audio={q['audio']:.2f}  q_visual={q['visual']:.2f}")

# %%
fig = curves({"OPM": [runs["synthetic", "OPM", s].history for s in SEEDS]},
             ["q_audio", "dropped_audio", "val_acc_visual"], n_classes=synthetic.n_classes,
             title="OPM on synthetic: drop probability, dropped share (executed steps), visual slice")

# %% [markdown]
# Audio leads from the first epoch, so its drop probability rises towards
# $q_{\text{base}}(1+\lambda\tanh(\cdot))\approx 0.7$; visual is (almost) never
# dropped. On the steps where audio's features are gone the fused loss can only be
# reduced through visual, so the visual slice starts to learn — and as it catches up,
# audio's lead and with it its drop probability shrink again in the last epochs: the
# modulation switches itself off as the imbalance closes.
#
# ## 3. AMCo: mask the dominant modality's classes
#
# A modality is *dependent* (dominant) when it holds most of the softmax mass: after each
# step the per-modality logits of a sample are put side by side and one softmax runs over
# all $M\cdot C$ of them; modality $m$'s share $u_m$ is the mass on its own block, averaged
# over the batch, and $m$ is dependent on the next batch when $u_m>\sigma=0.5$ (this is
# BalanceBenchmark's rule; the authors published no code). In the fused prediction a
# dependent modality's logits lose a random subset of $\lfloor p_t C\rfloor$ classes per
# sample, $p_t = p_{\max}\sin(\tfrac\pi2\min(t,T)/T)$, and every modality also keeps a
# loss of its own on its (masked) logits (co-optimisation):
# $\mathcal L = \mathrm{CE}(\sum_m \tilde z_m, y) + \sum_m \mathrm{CE}(\tilde z_m, y)$ with
# $\tilde z_m = \mathrm{mask}_m\odot z_m$.

# %%
amco = runs["synthetic", "AMCo", first]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
axes[0].plot([mask_ratio(e, 5, 0.5) for e in range(EPOCHS)], color="0.55", label="$p_t$ (the schedule)")
axes[0].plot(amco.history["mask_ratio"], "--", color="black", label="masked share of classes (measured)")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("share of classes masked")
axes[0].set_title("AMCo: mask ratio")
for m in synthetic.modality_names:
    axes[1].plot(amco.history[f"dependent_{m}"], label=f"{m} is dependent", color=plots.colour(m))
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("fraction of steps")
axes[1].set_title("share of steps a modality is 'dependent'")
example = class_mask(12, synthetic.n_classes, int(0.5 * synthetic.n_classes), torch.Generator().manual_seed(0))
axes[2].imshow(example.T, cmap="gray", vmin=0, vmax=1)
axes[2].set_xlabel("sample")
axes[2].set_ylabel("class")
axes[2].set_title("a mask on audio's logits (black = masked)")
fig.tight_layout()
plots.figure_legend(fig);

# %% [markdown]
# The softmax share measures whose logits are *larger*, not whose are right. In the first
# three epochs (seed 0) the visual logits carry most of the softmax mass, so visual — the
# weak modality — is the dependent one on about 90 % of the steps and is masked first. From
# epoch 3 on audio, which by then fits the data, is dependent on most steps (50–90 %), and
# in the last epochs visual takes the lead on about 40 % of them. (No modality is masked on
# the first batch of an epoch: the decision carries over from the previous batch and is
# reset every epoch, as in BalanceBenchmark.) While audio's class logits are half masked,
# the fused prediction must take those classes from visual, and each modality's own loss
# on its masked logits keeps it trained.
#
# ## 4. Greedy: who learns through whom
#
# Wu et al. measure how much the fused model *uses* modality $m$ by its conditional
# utilisation rate $u(m\mid\text{rest}) = (A_{\text{all}} - A_{\text{without } m})/A_{\text{all}}$,
# and during training by a cheap proxy, the conditional learning speed: on a cross-modal
# MMTM block (gates $\sigma(E_m s)$ on each branch, $s$ a squeeze shared by both), how fast
# modality $m$'s branch learns through the *bypass* (its excitation $E_m$ and the shared
# squeeze: the path from the other modality) relative to its own encoder. Each step adds a
# ratio of sums for each group, $r = \sum_p \lVert g_p\rVert^2 / \sum_p \lVert w_p\rVert^2$, and
# $\mathrm{BDR}_m = \log_{10}\big(\sum_t r_t(\text{bypass}_m) / \sum_t r_t(\text{encoder}_m)\big)$.
# From epoch 2 on, when the BDRs drift apart (by more than 0.01), the next 5 steps are
# *re-balancing* steps for the modality with the larger BDR: its gate is replaced by its
# running average (the mean gate so far), so nothing from the other modality reaches its
# branch and only its own encoder can help. These are the authors' settings; an earlier
# version of this library summed per-parameter ratios and left the shared squeeze out,
# which flips the sign of $\mathrm{BDR}_a-\mathrm{BDR}_v$ on most steps and so re-balances
# the other modality (`speed="sum_of_ratios"` keeps it for comparison).

# %%
greedy_histories = {label: [runs["synthetic", label, s].history for s in SEEDS]
                    for label in ("MMTM (no re-balancing)", "Greedy")}
fig = curves(greedy_histories, ["utilization_audio", "utilization_visual"],
             title="Greedy on synthetic: conditional utilisation rates (val)")
fig = curves(greedy_histories, ["rebalancing_audio", "rebalancing_visual"],
             title="Greedy on synthetic: share of steps that re-balance each branch")
fig = curves(greedy_histories, ["bdr_audio", "bdr_visual"],
             title="conditional learning speed: BDR of each branch")

# %% [markdown]
# The utilisation rates make the greed plain: removing audio costs most of the
# accuracy (about 0.8 of it by the end), removing visual almost none. The learning-speed
# proxy first points at *audio*: from epoch 2, when re-balancing may start, to about
# epoch 8 audio's branch learns relatively more through the bypass, and on up to five
# steps out of six its gate is frozen to its average. Then the visual branch's bypass
# speeds up, and from about epoch 10 on every seed re-balances *visual* on five steps out
# of six (the window of 5, plus the step that measures): its branch no longer hears from
# audio. That is the re-balancing the paper intends for the neglected modality, yet it
# changes nothing here: the visual *encoder* still receives only the shrunken additive
# gradient of chapter 01, and the utilisation of visual stays at about zero with or
# without re-balancing. (The course's earlier measure, a sum of per-parameter ratios
# without the shared squeeze, pointed at audio on most steps of the whole run.)
#
# ## 5. All methods against the baseline and the control
#
# Every method, the baseline and the `multitask` control
# ($\mathcal L = \mathrm{CE}(z,y) + \sum_m \mathrm{CE}(z_m,y)$, `mmlib.methods.get("multitask")`)
# train for the same 20 epochs on the same seeds. Same epochs is not the same number of
# updates: MLA takes one optimizer step per modality per batch (two here), the others one.

# %%
table["test_acc_weak"] = [getattr(r, f"test_acc_{WEAK[r.dataset]}") for r in table.itertuples()]


def corrupted_accuracy(result):
    """Fused test accuracy on the synthetic samples whose audio is noise."""
    output, labels = predict(result.model, synthetic, "test", result.method)
    return (output.fused.argmax(1) == labels)[corrupted_test].float().mean().item()


table["acc_corrupted"] = [corrupted_accuracy(runs[r.dataset, r.method, r.seed]) if r.dataset == "synthetic"
                          else np.nan for r in table.itertuples()]
summarize(table, ["test_acc", "test_acc_weak", "acc_corrupted", "imbalance", "seconds"])

# %%
fig = bars(table, ["test_acc", "test_acc_weak", "acc_corrupted"], n_classes={n: d.n_classes for n, d in DATA.items()},
           title=f"feed-forward methods, control and baseline (mean ± std over {len(SEEDS)} seeds)")

# %% [markdown]
# `test_acc_weak` is the weak modality's own slice of the head (for MLA: its unimodal
# prediction through the shared head, entropy-weighted); `acc_corrupted` is the fused
# accuracy on the synthetic samples whose audio is noise, where only visual can help.
#
# ## 6. Which differences are clear?
#
# The course has one rule for calling a difference *clear* (`mmlib.results`): a two-sided
# paired t-test over seeds (a method's run and the baseline's run with the same seed share
# the data split and the initial weights), Holm-corrected across all the comparisons of one
# table, reported as the mean difference with its 95 % confidence interval and the number
# of seeds `n`. Only a Holm-adjusted p below 0.05 gives "better" or "worse"; anything else is
# "not established" — never "no effect": with three seeds a real difference can fail to
# pass. `versus_baseline` applies it to one score over every method and data set of the
# comparison (twelve comparisons for `test_acc` and `test_acc_weak`, the control included;
# six for `acc_corrupted`, which exists on synthetic only). The second table applies the
# same rule with `multitask` in the baseline's place, to the three remedies that beat the
# baseline on some score (MLA, AMCo, OPM; Holm across the six, or three, comparisons of
# each score). (Before the rule, this chapter called a gain clear when
# the mean gap exceeded the two seed standard deviations added; that criterion also counted
# OPM's synthetic gain, which the paired test does not establish.)

# %%
rule = {"test_acc": versus_baseline(table, "test_acc"),
        "test_acc_weak": versus_baseline(table, "test_acc_weak"),
        "acc_corrupted": versus_baseline(table[table["dataset"] == "synthetic"], "acc_corrupted")}
rule = {score: r.set_index(["dataset", "method"]) for score, r in rule.items()}
pd.concat(rule, names=["score"]).round(3)

# %%
# the same rule against the control: does a method's gain survive the extra per-modality losses alone?
REMEDIES = ["MLA", "AMCo", "OPM"]
control = {"test_acc": versus_baseline(table, "test_acc", baseline="multitask", methods=REMEDIES),
           "test_acc_weak": versus_baseline(table, "test_acc_weak", baseline="multitask", methods=REMEDIES),
           "acc_corrupted": versus_baseline(table[table["dataset"] == "synthetic"], "acc_corrupted",
                                            baseline="multitask", methods=REMEDIES)}
control = {score: r.set_index(["dataset", "method"]) for score, r in control.items()}
pd.concat(control, names=["score"]).round(3)

# %% [markdown]
# *Synthetic, against the baseline.* MLA is clearly better than the baseline in fused
# accuracy (+0.17, 95 % interval +0.16 to +0.18, n = 3 seeds). AMCo's gain is about as large
# (+0.16, interval +0.11 to +0.21, not adjusted for the twelve comparisons), but its
# Holm-adjusted p is 0.064: with three seeds it misses the rule, so its fused gain is **not
# established**. (The course's earlier AMCo, which judged dependence by the true-class scores
# and kept the unimodal losses unmasked, gained +0.17 and passed with p = 0.035.) The
# visual slice learns with both (`test_acc_weak`, clearly better: +0.69 and +0.65), and the
# gain sits where the baseline is at chance — on the corrupted-audio samples both are
# clearly better, by +0.66 (MLA) and +0.62 (AMCo). OPM raises the mean by about +0.07, but
# its seeds disagree (in one run the visual slice reaches about 0.8, in the other two it
# stays below 0.5) and the interval runs from below zero to about +0.2: its gain is **not
# established**. Neither MMTM nor Greedy is established either way (mean differences
# +0.003): the MMTM block does not change the additive gradient of chapter 01, and when
# Greedy re-balances visual's branch it cuts the bypass but does not reach visual's encoder.
#
# *Synthetic, against the control.* The `multitask` control alone — a loss per modality and
# nothing of MLA's alternation, shared head and projection or of AMCo's masking — gains
# +0.154 in fused accuracy over the baseline (interval +0.09 to +0.22; Holm p 0.089, like
# AMCo's not established by itself), and its visual slice (+0.64) and its accuracy on the
# corrupted-audio samples (+0.59) are clearly better than the baseline's. That is about
# 90 % of MLA's fused gain (+0.169) and 95 % of AMCo's (+0.161). Against the control, no
# remedy is established better or worse on any of the three scores (n = 3): MLA +0.015
# fused (interval −0.04 to +0.07), +0.05 on the visual slice, +0.07 on corrupted samples;
# AMCo +0.007 (−0.01 to +0.02), +0.01, +0.03; OPM, which adds no loss of its own, −0.08,
# −0.26 and −0.29 with intervals as wide as its seeds' disagreement. So what these runs
# credit is the ingredient MLA and AMCo share with the control — the weak modality's own
# loss, which gives its encoder an error signal the fused prediction no longer sends — not
# the mechanisms that set them apart. "Not established" is not "no effect": MLA's intervals
# leave room for a few points of fused accuracy of its own, which three seeds cannot
# separate from zero.
#
# *mfeat.* The fused model is already close to its ceiling with the strong `fac` view
# alone; no method's difference in fused accuracy is established, against the baseline or
# against the control (every mean difference is at most 0.005 in size and every interval
# contains zero). Here balance does not buy accuracy — even though the weak view's own slice
# is clearly better than the baseline's with the control, MLA, AMCo and OPM (about +0.48 each;
# +0.49 for the control). Against the control none of the three differs on that slice
# (−0.014, −0.006, −0.013, not established). OPM reaches the same slice with no extra loss:
# dropping `fac`'s features on part of the steps leaves `zer` alone to reduce the fused loss.
# With the MMTM block the weak view's slice is lower (−0.08 without and −0.11 with
# re-balancing), not established either.
#
# ## Check

# %%
def verdict(score, dataset, method):
    """The rule's verdict for ``method`` against the baseline on ``score``."""
    return rule[score].loc[(dataset, method), "verdict"]


opm_q_audio = [max(runs["synthetic", "OPM", s].history["q_audio"]) for s in SEEDS]  # peak over epochs
opm_q_visual = [np.mean(runs["synthetic", "OPM", s].history["q_visual"]) for s in SEEDS]  # mean over epochs
greedy_late_visual = [np.mean(runs["synthetic", "Greedy", s].history["rebalancing_visual"][-5:]) for s in SEEDS]
greedy_late_use = [np.mean(runs["synthetic", "Greedy", s].history["utilization_visual"][-5:]) for s in SEEDS]
remedy_beats_control = [r.loc[(d, m), "verdict"] == "better" for r in control.values() for d, m in r.index]
control_share = (rule["test_acc"].loc[("synthetic", "multitask"), "mean_diff"]
                 / rule["test_acc"].loc[("synthetic", "MLA"), "mean_diff"])
asserted = {
    "synthetic: MLA clearly better than baseline": verdict("test_acc", "synthetic", "MLA") == "better",
    "synthetic: AMCo's fused gain not established (Holm)":
        verdict("test_acc", "synthetic", "AMCo") == "not established",
    "synthetic: MLA clearly better on corrupted-audio samples":
        verdict("acc_corrupted", "synthetic", "MLA") == "better",
    "synthetic: control better on weak slice and corrupted":
        verdict("test_acc_weak", "synthetic", "multitask") == "better"
        and verdict("acc_corrupted", "synthetic", "multitask") == "better",
    "synthetic: control has >= 80 % of MLA's fused gain": control_share >= 0.8,
    "no remedy established better than the control": not any(remedy_beats_control),
    "synthetic: OPM, MMTM, Greedy gains not established":
        all(verdict("test_acc", "synthetic", m) == "not established" for m in ("OPM", "MMTM (no re-balancing)", "Greedy")),
    "mfeat: no fused-accuracy difference established":
        (rule["test_acc"].loc["mfeat", "verdict"] == "not established").all(),
    "MLA weighs audio less where it is noise": mla_weight_audio["corrupted audio"] < mla_weight_audio["clean"],
    "OPM drops audio (peak q > 0.6), visual almost never": min(opm_q_audio) > 0.6 and max(opm_q_visual) < 0.05,
    "Greedy re-balances visual's branch late (> half the steps)": min(greedy_late_visual) > 0.5,
    "Greedy: visual utilisation stays near zero": max(abs(u) for u in greedy_late_use) < 0.05,
    "every run beats chance": bool((table["test_acc"] > 1 / synthetic.n_classes).all()),
}
assert all(asserted.values()), asserted

# %%
# NBVAL_CHECK_OUTPUT
for claim, holds in asserted.items():
    print(f"{claim:<58} {holds}")

# %%
def key(*parts):
    return "_".join(parts).replace(" (", "_").replace(")", "").replace(" ", "_").replace("-", "")


accuracy = mean_std(table, "test_acc")
record(**{key(d, m, "test_acc"): round(accuracy.loc[(d, m), "mean"], 3) for d, m in accuracy.index},
       **{key(d, m, "test_acc_verdict"): v for (d, m), v in rule["test_acc"]["verdict"].items()},
       **{key(d, m, "vs_multitask_test_acc_verdict"): v for (d, m), v in control["test_acc"]["verdict"].items()},
       synthetic_multitask_share_of_MLA_gain=round(control_share, 2),
       mla_audio_weight_clean=round(mla_weight_audio["clean"], 2),
       mla_audio_weight_corrupted=round(mla_weight_audio["corrupted audio"], 2))

# %% [markdown]
# ## Summary
#
# * Feed-forward remedies change how modalities are combined while training. The two
#   that give the weak modality **a loss of its own** — MLA (alternating unimodal steps
#   through a shared head) and AMCo (unimodal co-optimisation plus masking of the
#   dependent logits) — fix the synthetic imbalance within 20 epochs: the weak modality's
#   own accuracy and the accuracy on corrupted-audio samples are clearly better than the
#   baseline's for both. MLA's fused gain is clear under the course's rule of evidence;
#   AMCo's, as large, misses it after Holm's correction (p = 0.064, n = 3 seeds).
# * The `multitask` control — the fused loss plus one loss per modality, nothing else —
#   reaches about 90 % of MLA's fused gain (+0.154 of +0.169), and no remedy is established
#   better than it on fused accuracy, the weak slice or the corrupted samples (n = 3): the
#   runs credit the per-modality loss, not the alternation, the shared head or the masking.
# * OPM's prediction-aware dropping is gentler: it only opens the door on the steps
#   where the dominant features are dropped, and with three seeds its gain is not established.
# * Greedy's utilisation rates diagnose the imbalance well, but its re-balancing steps on
#   a small MMTM block do not fix it here, even once they turn to the visual branch.
# * On mfeat, where the strong view already gets nearly everything right, no method's
#   difference in fused accuracy is established, although MLA, AMCo, OPM and the control
#   clearly improve the weak view's own slice — by the same amount (about +0.48).
#
# **Papers.** X. Zhang, J. Yoon, M. Bansal, H. Yao, *Multimodal Representation Learning
# by Alternating Unimodal Adaptation*, CVPR 2024. Y. Wei, D. Hu et al., *On-the-fly
# Modulation for Balanced Multimodal Learning*, T-PAMI 2024. Y. Zhou et al., *Adaptive
# Mask Co-Optimization for Modal Dependence in Multimodal Learning*, ICASSP 2023. N. Wu,
# S. Jastrzębski, K. Cho, K. J. Geras, *Characterizing and Overcoming the Greedy Nature of
# Learning in Multi-modal Deep Neural Networks*, ICML 2022. H. R. V. Joze et al., *MMTM:
# Multimodal Transfer Module for CNN Fusion*, CVPR 2020.
