# %% [markdown]
# # 01 · The additive gradient: why one modality wins

# %% [markdown]
# **How to run this notebook.** In JupyterLab (`make lab` in the repository root) open this
# `.ipynb`, or right-click its `.py` twin → *Open With → Jupytext Notebook*; then *Run → Run All
# Cells*. The first code cell (tagged `parameters`) holds everything a run may change;
# `.venv/bin/python -m mmlib.course.book params 01` lists those parameters with their types and
# defaults. A cell marked `# NBVAL_CHECK_OUTPUT` has its printed output compared with the
# committed one by nbval in CI, so it prints only seeded, rounded numbers that are the same on
# any machine.

# %% [markdown]
# Train a model on sound and image together and you would expect it to use both.
# Often it does not: the modality that is quicker to learn takes over and the other
# encoder learns far less than it would alone. This chapter shows *why*, in one line of
# calculus, checks that line against autograd, and then watches it happen.
#
# **Claim.** With concatenation fusion and cross-entropy, the fused logit is the *sum*
# of one part per modality, and the gradient every encoder receives is scaled by the
# *same* term, `softmax(f) − onehot(y)`. Once one modality alone makes the fused
# prediction confident, that term is small for everyone — and the other modality's
# encoder learns several times more slowly, even when that modality carries information
# the model needs.

# %% tags=["parameters"]
SEED = 0  # seed of the data and of the first training run
SEEDS = [0, 1, 2]  # seeds of the joint-vs-alone comparison
EPOCHS = 20  # training epochs of every run
NOISE_LEVELS = [0.5, 0.75, 1.0, 1.25]  # visual noise levels of the sweep (audio noise stays 1.0)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mmlib import plots, theory
from mmlib.course.book import record
from mmlib.data import load
from mmlib.experiment import compare
from mmlib.metrics import gradient_norms, true_class_score
from mmlib.methods import Method
from mmlib.models import build_model
from mmlib.results import adjust, paired_difference
from mmlib.train import run, seed_everything
from mmlib.widgets import shared_term_explorer, sweep_explorer

# %% [markdown]
# ## 1. The derivation
#
# Take two modalities, audio $a$ and visual $v$ (everything below holds for $M$).
# Encoder $\varphi^m$ turns input $x^m$ into features $h^m = \varphi^m(\theta^m, x^m)$.
# Concatenation fusion feeds $[h^a; h^v]$ to one linear layer with weight
# $W = [W^a\; W^v] \in \mathbb{R}^{C \times (d_a + d_v)}$ and bias $b$:
#
# $$ f(x) = W^a h^a + W^v h^v + b = \underbrace{\big(W^a h^a + \tfrac{b}{2}\big)}_{z^a}
#        + \underbrace{\big(W^v h^v + \tfrac{b}{2}\big)}_{z^v}. $$
#
# **Forward: additive.** The fused logit is the sum of two unimodal logits $z^a, z^v$
# — which is how `mmlib` defines every per-modality score (`Output.logits[m]`).
#
# With cross-entropy $L = -\log \operatorname{softmax}(f)_y$, the derivative with
# respect to the logits is the familiar $\partial L / \partial f = \operatorname{softmax}(f) - e_y$,
# and the chain rule gives each encoder
#
# $$ \frac{\partial L}{\partial \theta^m} = \underbrace{\big(\operatorname{softmax}(f) - e_y\big)}_{\text{shared}}
#    \; W^m \; \frac{\partial \varphi^m(\theta^m, x^m)}{\partial \theta^m}. $$
#
# **Backward: coupled.** The first factor depends on the *fused* output $f = z^a + z^v$,
# so it is the same for both encoders. Suppose audio is easy: after a few epochs $z^a$
# alone puts most of the probability on the true class. Then $1 - p_y$ is small, the
# shared factor is small, and the visual encoder's gradient is small too — *whatever
# visual has still to learn*. The easy modality does not just win, it slows the other
# one's learning down (Peng et al., CVPR 2022; the survey's Fig. 3). It does not stop it:
# on the samples audio still gets wrong the factor stays large, so its mean falls to
# about the share of those samples — section 3 measures by how much.

# %% [markdown]
# ## 2. Check the algebra against autograd
#
# `mmlib.theory` writes the closed forms as plain functions. We compare them with
# PyTorch's autograd on random features, weights and labels — and then on the real
# `MultimodalModel` of the course.

# %%
seed_everything(SEED)
n, classes = 16, 6
features = {"audio": torch.randn(n, 8, requires_grad=True), "visual": torch.randn(n, 5, requires_grad=True)}
weights = {"audio": torch.randn(classes, 8), "visual": torch.randn(classes, 5)}
bias = torch.randn(classes)
labels = torch.randint(0, classes, (n,))

fused = theory.additive_logits(features, weights, bias)
F.cross_entropy(fused, labels).backward()
closed_form = theory.feature_gradients(fused.detach(), labels, weights)

random_inputs_match = all(torch.allclose(features[m].grad, closed_form[m], atol=1e-6) for m in features)
max_error = max((features[m].grad - closed_form[m]).abs().max().item() for m in features)
print(f"largest |autograd - closed form| over both encoders' features: {max_error:.1e}")

# %% [markdown]
# The same check on the course's model: its `Output` must satisfy
# `fused == logits["audio"] + logits["visual"]`, and the gradient arriving at each
# encoder's output features must be `(softmax − onehot) · W_m` with `W_m` the head's slice.

# %%
data = load("synthetic", seed=SEED)
model = build_model(data)
batch = data.batch(data.splits["train"][:32])
out = model(batch)
for h in out.features.values():
    h.retain_grad()
F.cross_entropy(out.fused, batch.y).backward()
slices = {m: w.detach() for m, w in model.head.weight_slices().items()}
expected = theory.feature_gradients(out.fused.detach(), batch.y, slices)

model_is_additive = torch.allclose(out.fused, sum(out.logits.values()), atol=1e-6)
model_gradients_match = all(torch.allclose(out.features[m].grad, expected[m], atol=1e-6) for m in slices)

# %%
# NBVAL_CHECK_OUTPUT
assert random_inputs_match and model_is_additive and model_gradients_match
print("fused logits == sum of per-modality logits:", model_is_additive)
print("encoder gradients == (softmax - onehot) @ W_m, random inputs:", random_inputs_match)
print("encoder gradients == (softmax - onehot) @ W_m, course model:", model_gradients_match)

# %% [markdown]
# ### Play with the shared term
#
# Give each modality a *margin*: how much it raises the true class's logit above the
# others. The shared factor's size is $1 - p_y$. Move the audio margin up and watch the
# factor the *visual* encoder is multiplied by collapse, although the visual margin did
# not change.

# %%
# NBVAL_IGNORE_OUTPUT
shared_term_explorer(n_classes=data.n_classes)

# %% [markdown]
# ## 3. Watch it happen
#
# The synthetic data set of the course (`mmlib.data.load("synthetic")`) has a clean,
# quick-to-learn audio modality that is *corrupted on a quarter of the samples*, and a
# noisier visual modality that is never corrupted. Trained alone, each is a decent
# classifier; together they should beat both, because visual can fix the samples whose
# audio is noise.
#
# A method in `mmlib` is a small object that overrides hooks of the training loop. Here
# is one that changes nothing about training and only *looks*: after every backward
# pass it logs each encoder's gradient norm, the size of the shared term $1-p_y$, and
# each modality's score $s_m = \sum_i \operatorname{softmax}(z^m_i)_{y_i}$.
#
# `mmlib.train.run` is the one place that seeds, builds a model and trains it: give it the
# data, the method (here the class, built fresh for every run) and, to train on some
# modalities alone, `modalities=`.

# %%
class GradientWatcher(Method):
    """Plain joint training that logs per-encoder gradient norms and the shared term."""

    name = "gradient_watcher"

    def after_backward(self, model, output, batch):
        probabilities = F.softmax(output.fused.detach(), dim=1)
        self.log(shared_term=1 - probabilities.gather(1, batch.y[:, None]).mean())
        for m, norm in gradient_norms(model).items():
            self.log(**{f"grad_{m}": norm})
        for m, z in output.logits.items():
            self.log(**{f"score_{m}": true_class_score(z.detach(), batch.y) / len(batch)})


joint = run(data, GradientWatcher, seed=SEED, epochs=EPOCHS).history
visual_alone = run(data, GradientWatcher, modalities=["visual"], seed=SEED, epochs=EPOCHS).history
audio_alone = run(data, GradientWatcher, modalities=["audio"], seed=SEED, epochs=EPOCHS).history

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
epochs = np.arange(EPOCHS)
audio, visual, fused = (plots.colour(name) for name in ("audio", "visual", "fused"))
axes[0].plot(epochs, joint["grad_audio"], label="audio, joint model", color=audio)
axes[0].plot(epochs, joint["grad_visual"], label="visual, joint model", color=visual)
axes[0].plot(epochs, visual_alone["grad_visual"], "--", label="visual trained alone", color=visual)
axes[0].set(yscale="log", xlabel="epoch", ylabel="gradient norm (L2, log scale)",
            title="what each encoder receives")
axes[1].plot(epochs, joint["shared_term"], label="fused, joint model", color=fused)
axes[1].plot(epochs, visual_alone["shared_term"], "--", label="visual trained alone", color=visual)
axes[1].set(xlabel="epoch", ylabel="shared factor 1 − p(true class)\n(mean over samples)", title="the shared term")
axes[2].plot(epochs, joint["val_acc"], label="fused, joint model", color=fused)
axes[2].plot(epochs, joint["val_acc_audio"], label="audio, joint model", color=audio)
axes[2].plot(epochs, joint["val_acc_visual"], label="visual, joint model", color=visual)
axes[2].plot(epochs, visual_alone["val_acc"], "--", label="visual trained alone", color=visual)
axes[2].plot(epochs, audio_alone["val_acc"], "--", label="audio trained alone", color=audio)
plots.chance_line(axes[2], data.n_classes)
axes[2].set(xlabel="epoch", ylabel="validation accuracy (fraction correct)",
            title="who learns what (joint: each modality's slice)", ylim=(0, 1))
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
plots.figure_legend(fig);

# %% [markdown]
# Read the three panels left to right. The audio encoder gets large gradients first and
# the shared term drops as audio becomes confident; from then on the visual encoder,
# *inside the joint model*, receives gradients far smaller than the same encoder gets
# when trained alone (dashed). Its slice of the head stays near chance, while visual
# alone learns a useful classifier. The joint model ends up little better than audio alone.
#
# Is this one unlucky seed? Repeat the comparison over several seeds: the visual encoder's
# mean gradient norm joint vs alone, and the visual slice's accuracy vs visual alone.
# `mmlib.experiment.compare` is the course's one loop over data sets, methods and seeds;
# the two "data sets" here are the pair and its visual modality alone, and `keep_runs=True`
# keeps the trained runs (their histories hold the logged gradient norms).

# %%
_, watched = compare({"joint": data, "visual alone": data.select(["visual"])}, {"watcher": GradientWatcher},
                     SEEDS, keep_runs=True, epochs=EPOCHS, progress=False)
per_seed = pd.DataFrame([{
    "seed": seed,
    "grad_ratio": (np.mean(watched["joint", "watcher", seed].history["grad_visual"])
                   / np.mean(watched["visual alone", "watcher", seed].history["grad_visual"])),
    "visual_slice_acc": watched["joint", "watcher", seed].history.final["test_acc_visual"],
    "visual_alone_acc": watched["visual alone", "watcher", seed].history.final["test_acc"],
    "joint_acc": watched["joint", "watcher", seed].history.final["test_acc"],
} for seed in SEEDS]).set_index("seed")
per_seed.round(3)

# %% [markdown]
# How much smaller is the shared factor? Audio is noise on about a quarter of the training
# samples; once audio fits the others, only those still carry a large error, so the mean of
# $1-p_y$ should fall from its chance value $1-1/C$ to about that share — and stay there.

# %%
corrupted_share = data.info["corrupted"]["audio"][data.splits["train"]].float().mean().item()
shared = pd.DataFrame([{
    "seed": seed,
    "joint, epoch 0": np.asarray(watched["joint", "watcher", seed].history["shared_term"])[0],
    "joint, last 5 epochs": np.mean(np.asarray(watched["joint", "watcher", seed].history["shared_term"])[-5:]),
} for seed in SEEDS]).set_index("seed")
shared["joint late / chance value"] = shared["joint, last 5 epochs"] / (1 - 1 / data.n_classes)
print(f"share of training samples with corrupted audio: {corrupted_share:.3f};  "
      f"chance value of 1 - p_y: {1 - 1 / data.n_classes:.3f}")
shared.round(3)

# %% [markdown]
# On every seed the mean shared factor falls from its chance value, 0.83, in the first epoch
# to 0.24–0.26 over the last five — the share of samples whose audio is noise (0.24), and
# about 0.3 of the chance value. That is what was measured: the easy modality does not
# switch the visual encoder off; it divides its error signal by about 3–4, and the gradient
# norm the visual encoder receives over the run is on average 0.21 of what the same encoder
# gets alone (0.18 to 0.26 over the three seeds). It is enough to stall it here: visual alone
# needs most of the 20 epochs to leave its plateau (the dashed shared term above); with a
# third to a quarter of that error signal, the joint visual slice does not leave chance
# within them.
#
# ## 4. Turn the dial
#
# The imbalance is a property of the *pair* of modalities. Make visual cleaner (less
# noise) and it learns early enough to hold its own; make it noisier and, slowed as above,
# its slice stays at chance for the whole run. The sweep trains one joint model per visual
# noise level (seed `SEED`); the slider shows each run's per-encoder gradient norms.

# %%
sweep = {}
sweep_accuracy = {}
for noise in NOISE_LEVELS:
    swept = load("synthetic", noise={"visual": noise}, seed=SEED)
    history = run(swept, GradientWatcher, seed=SEED, epochs=EPOCHS).history
    sweep[noise] = {"audio": history["grad_audio"], "visual": history["grad_visual"]}
    sweep_accuracy[noise] = history.final["test_acc_visual"]
print("visual slice test accuracy (seed", SEED, "):", {n: round(a, 3) for n, a in sweep_accuracy.items()})

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(NOISE_LEVELS, [np.mean(sweep[n]["visual"]) / np.mean(sweep[n]["audio"]) for n in NOISE_LEVELS], "o-",
        color=plots.colour("visual"))
ax.set(xlabel="visual noise (std of the added Gaussian noise)",
       ylabel="visual / audio gradient norm\n(ratio of the means over epochs)", title="the gradient split moves")
ax.grid(alpha=0.3)
fig.tight_layout()

# %%
# NBVAL_IGNORE_OUTPUT
sweep_explorer(sweep)

# %% [markdown]
# ## 5. Check
#
# The course has one rule for calling a difference *clear* (`mmlib.results`): a two-sided
# paired t-test over seeds (runs with the same seed share the data and the initial
# weights), Holm-corrected across the claims of one family, reported as the mean
# difference with its 95 % confidence interval and the number of seeds `n`. A difference
# the test does not establish is "not established" — never "no effect". The chapter's two
# claims form one family, each tested seed by seed over the runs above:
# 1. inside the joint model the visual encoder gets smaller gradients than alone — tested
#    on the log of the gradient-norm ratio, $\log(\text{alone}) - \log(\text{joint})$, so
#    "clearly larger alone" is a positive difference;
# 2. its slice of the joint head is worse than visual trained alone — tested on the
#    accuracy gap, visual alone minus the visual slice.
#
# (Before the rule, the chapter asked for a ratio below 1 on every seed and a gap above two
# standard deviations; the verdicts below come from the paired test instead.)
#
# The sweep of section 4 trains one run per noise level, so the rule cannot judge it
# (it needs at least 3 seeds per level): "less visual noise keeps a better visual slice"
# is an illustration on seed `SEED` (visual slice 0.63 at noise 0.5, 0.19 at 0.75, chance at
# 1.0 and 1.25), asserted only as a property of that seeded run. The shared factor's level
# (section 3) is a measurement, not a comparison: the check asserts that on every seed its
# mean over the last five epochs lies within 0.1 of the corrupted share — false if it fell
# to zero (learning switched off) or stayed near its chance value.

# %%
evidence = adjust({
    "visual gradients larger alone than jointly (log ratio)": paired_difference(
        np.log([np.mean(watched["visual alone", "watcher", s].history["grad_visual"]) for s in SEEDS]),
        np.log([np.mean(watched["joint", "watcher", s].history["grad_visual"]) for s in SEEDS])),
    "visual accuracy alone above the joint visual slice": paired_difference(
        per_seed["visual_alone_acc"].to_numpy(), per_seed["visual_slice_acc"].to_numpy()),
})
for claim, e in evidence.items():
    print(f"{claim:55s} {e}")

# %%
# NBVAL_CHECK_OUTPUT
verdicts = {claim: e.verdict for claim, e in evidence.items()}
claim_dial = sweep_accuracy[min(NOISE_LEVELS)] > sweep_accuracy[max(NOISE_LEVELS)]
# the shared factor falls to about the corrupted share (within 0.1) on every seed: slowed, not zero
claim_share = bool((abs(shared["joint, last 5 epochs"] - corrupted_share) < 0.1).all())
assert all(v == "better" for v in verdicts.values()), verdicts
assert claim_dial and claim_share
for claim, verdict in verdicts.items():
    print(f"{claim}: {verdict}")
print("every seed: late shared term within 0.1 of the corrupted share:", claim_share)
print(f"seed {SEED}, less visual noise -> better visual slice (illustration, one run per level):", claim_dial)

# %%
gap = evidence["visual accuracy alone above the joint visual slice"]
record(visual_grad_ratio=round(float(per_seed["grad_ratio"].mean()), 3), visual_gap=round(gap.mean, 3),
       visual_gap_ci=[round(gap.low, 3), round(gap.high, 3)], visual_gap_verdict=gap.verdict,
       joint_acc=round(float(per_seed["joint_acc"].mean()), 3))

# %% [markdown]
# ## Summary
#
# * Concatenation fusion is **additive**: $f = z^a + z^v$, each $z^m$ a slice of the head
#   plus $b/M$. Every per-modality number in this course is computed from these slices.
# * The cross-entropy gradient reaching each encoder is the **shared** term
#   $\operatorname{softmax}(f) - e_y$ times that modality's slice $W^m$.
# * So the first modality to become confident shrinks every modality's gradient: the
#   weaker one is under-trained, even when the task needs it. It is slowed, not switched
#   off: on the synthetic data the shared factor settles at about the share of samples
#   audio still gets wrong (0.25 against a chance value of 0.83, n = 3 seeds), and the
#   visual encoder receives about a fifth of the gradient it gets alone.
# * Every remedy in chapters 3–6 intervenes at one stage of this loop: which samples and
#   modalities are fed (data input), how they are combined (feed-forward), what is
#   minimised (learning objective), or how the gradient is used (optimization).
#
# **Exercise 01** asks you to derive and implement the per-modality gradient term yourself.
#
# ## Papers
# * X. Peng, Y. Wei, A. Deng, D. Wang, D. Hu. *Balanced Multimodal Learning via On-the-fly
#   Gradient Modulation.* CVPR 2022 (the additive analysis; OGM-GE, chapter 6).
# * Y. Wei, D. Hu et al. *On-the-fly Modulation for Balanced Multimodal Learning.* T-PAMI 2024
#   (the $M$-modality extension).
# * W. Wang, D. Tran, M. Feiszli. *What Makes Training Multi-modal Classification Networks Hard?*
#   CVPR 2020.
