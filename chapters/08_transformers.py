# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Imbalance inside a transformer: the query that stopped looking (RollingQ)

# %% [markdown]
# **How to run this notebook.** In JupyterLab (`make lab` in the repository root) open this
# `.ipynb`, or right-click its `.py` twin → *Open With → Jupytext Notebook*; then *Run → Run All
# Cells*. The first code cell (tagged `parameters`) holds everything a run may change;
# `.venv/bin/python -m mmlib.course.book params 08` lists those parameters with their types and
# defaults. A cell marked `# NBVAL_CHECK_OUTPUT` has its printed output compared with the
# committed one by nbval in CI, so it prints only seeded, rounded numbers that are the same on
# any machine.

# %% [markdown]
# Chapters 1–7 fused modalities with a *static* head: the same weights for every
# sample. Transformers promise something better — **dynamic fusion**: attention looks at
# each sample and decides how much each modality should count. If the audio of a clip is
# pure noise, attention could simply look at the picture instead.
#
# Ni et al. (RollingQ, ICML 2025) found that this promise quietly breaks. In a
# multimodal transformer the class token's query learns to prefer one modality *whatever
# the sample*, and the preference feeds itself:
#
# 1. the preferred modality gets more attention in the forward pass,
# 2. so it gets larger gradients in the backward pass,
# 3. so its keys fit the query even better — back to 1.
#
# **Claim.** On our synthetic audio-visual data a tiny fusion transformer puts almost
# all its attention on audio — even on the samples whose audio is pure noise — and its
# visual share of the prediction stays at chance. Rotating the query toward the
# neglected modality's keys (RollingQ) shares the attention and lifts the visual
# contribution off chance level; whether that gain — and a gain in fused accuracy — is
# *established* over three seeds is what the check asks, with the course's rule of
# evidence. (It is not: the gains are there on average, too variable to pass.) And a
# control asks whether the *direction* of the turn matters: the same turns, by the same
# angles, towards random directions. (On these runs they do about as much.) On mfeat,
# where attention is not captured by one view, rotation shows no gain.

# %% tags=["parameters"]
SEEDS = [0, 1, 2]  # training seeds of every comparison
EPOCHS = 20  # epochs on the synthetic data
MFEAT_EPOCHS = 15  # epochs on mfeat
DIM = 32  # width of the transformer
BETA = 0.05  # RollingQ: rotate only when |AIR| > BETA
SIGMA = 2.0  # RollingQ: how hard the target leans toward the neglected modality
MAX_ROTATIONS = 3  # RollingQ: at most this many rotations per run

# %%
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from mmlib import plots
from mmlib.course.book import record
from mmlib.data import load
from mmlib.experiment import compare
from mmlib.methods.rollingq import RollingQ, rebalanced_target, rotation_matrix
from mmlib.results import adjust, paired_difference, summarize
from mmlib.transformer import AttentionTrace, attention_imbalance_ratio, attention_on, build_transformer

ROLLINGQ = {"beta": BETA, "sigma": SIGMA, "max_rotations": MAX_ROTATIONS}
# every transformer of the chapter: built by build_transformer, trained with Adam (SGD trains it badly)
TRANSFORMER = {"build": partial(build_transformer, dim=DIM), "optimizer": "adam", "lr": 2e-3, "progress": False}
synthetic = load("synthetic")
mfeat = load("mfeat")

# %% [markdown]
# ## 1. A fusion transformer small enough to read
#
# Each modality becomes a sequence of tokens: the 33 time frames of the audio
# spectrogram, the 16 columns of the image (for mfeat, chunks of 8 numbers). One
# transformer layer per modality encodes them. Then a learned class token asks *one
# question* of all tokens of both modalities:
#
# $$ q = R\,W_Q c,\qquad k_j = W_K x_j,\qquad a_j = \mathrm{softmax}_j\!\Big(\frac{q\cdot k_j}{\sqrt d}\Big),
# \qquad o_m = \sum_{j\in m} a_j\, W_V x_j .$$
#
# A linear head reads $o = o_a + o_v$, so — exactly as for concatenation in chapter 1 —
# the fused logits are a sum of one part per modality, `logits[m]` $= W o_m + b/2$
# (`mmlib/transformer.py`). $R$ is a rotation, the identity until RollingQ turns it.
#
# How much the query "likes" a modality is measured by the **attention imbalance ratio**
#
# $$ \mathrm{AIR} = \mathbb{E}_x\big[\cos(q, \bar k_a(x)) - \cos(q, \bar k_v(x))\big], $$
#
# with $\bar k_m(x)$ the mean key of modality $m$ in sample $x$. Before any training:

# %%
torch.manual_seed(0)  # one fixed initialisation to look at; nothing is trained here
untrained = build_transformer(synthetic, dim=DIM)
attention = attention_on(untrained, synthetic, "val")
air0 = attention_imbalance_ratio(attention.query, attention.mean_keys["audio"], attention.mean_keys["visual"])
mass0 = {m: float(v.mean()) for m, v in attention.mass().items()}
print(f"untrained: AIR = {air0:+.2f}; attention mass audio {mass0['audio']:.2f}, visual {mass0['visual']:.2f} "
      f"(audio has 33 of the 49 tokens: {33 / 49:.2f})")

# %% [markdown]
# ## 2. Training: the query chooses audio, and keeps choosing it
#
# We train the transformer with plain joint training (`baseline`) — and, for section 3,
# with RollingQ — on three seeds (`compare` with `build=build_transformer`), and record,
# after every epoch, the AIR and the attention mass on each modality on the validation
# split (`AttentionTrace`, a training callback).

# %%
class RandomTurn(RollingQ):
    """Control for RollingQ: the same trigger and the same rotation angle, in a random direction.

    After every epoch where RollingQ would rotate, the query is turned by the angle RollingQ would turn it,
    arccos(q_hat . t), but towards a random unit vector orthogonal to q_hat (drawn from a generator seeded by
    the run's seed) instead of towards the re-balanced key direction t.
    """

    def setup(self, state) -> None:
        super().setup(state)
        self.generator = torch.Generator().manual_seed(torch.initial_seed())  # the seed run() set

    @torch.no_grad()
    def on_epoch_end(self, state) -> None:
        model = state.model
        a, b = model.modalities
        attention = attention_on(model, state.data, "train")
        air = attention_imbalance_ratio(attention.query, attention.mean_keys[a], attention.mean_keys[b])
        rotated = abs(air) > self.beta and self.rotations < self.max_rotations
        if rotated:
            q = F.normalize(attention.query, dim=0)
            angle = torch.arccos((q @ rebalanced_target(attention.mean_keys[a], attention.mean_keys[b], air,
                                                        self.sigma)).clamp(-1.0, 1.0))
            w = torch.randn(q.shape, generator=self.generator, dtype=q.dtype)
            w = F.normalize(w - (w @ q) * q, dim=0)  # a random direction orthogonal to the query
            target = torch.cos(angle) * q + torch.sin(angle) * w
            model.head.rotation.copy_(rotation_matrix(attention.query, target) @ model.head.rotation)
            self.rotations += 1
        self.log(air=air, rotated=float(rotated), rotations=float(self.rotations))


def train_all(data, name, epochs, control=False):
    """Baseline and RollingQ (and, with ``control``, the random turn) on every seed;
    returns compare's table and {label: [run per seed]}."""
    trace = AttentionTrace("val")
    arms = {"baseline": "baseline", "rollingq": ("rollingq", ROLLINGQ),
            **({"random turn": (RandomTurn, ROLLINGQ)} if control else {})}
    table, runs = compare({name: data}, arms, SEEDS, keep_runs=True, callback=trace, epochs=epochs, **TRANSFORMER)
    for r in runs.values():
        trace.annotate(r)
    return table, {label: [runs[(name, label, s)] for s in SEEDS] for label in arms}


synthetic_table, runs = train_all(synthetic, "synthetic", EPOCHS, control=True)
baseline_runs = runs["baseline"]
audio_mass = np.array([r.history["val_attention_audio"] for r in baseline_runs])
print("attention mass on audio, epochs 1, 5, 10, 20 (mean over seeds):",
      np.round(audio_mass.mean(0)[[0, 4, 9, -1]], 2))

# %% [markdown]
# Is this *dynamic* fusion? A quarter of the samples carry no audio signal at all
# (`info["corrupted"]["audio"]`). A fusion that adapts to the sample would look at the
# picture for those. Compare the attention on audio for clean and corrupted samples:

# %%
corrupted = synthetic.info["corrupted"]["audio"][synthetic.splits["test"]]


def attention_gap(run):
    mass = attention_on(run.model, synthetic, "test").mass()["audio"]
    return float(mass[~corrupted].mean()), float(mass[corrupted].mean())


for r, s in zip(baseline_runs, SEEDS):
    clean, noisy = attention_gap(r)
    print(f"seed {s}: attention on audio — clean audio {clean:.2f}, corrupted audio {noisy:.2f}")

# %% [markdown]
# It is not. The query gives audio the same (nearly total) attention whether the audio is
# informative or noise, so the visual tokens hardly reach the head: the visual share of
# the logits stays at chance (1/6), while the same picture alone is worth about 70 %
# (chapter 2). Attention has lost its dynamic property — the self-reinforcing loop in
# action.

# %% [markdown]
# ## 3. RollingQ: rotate the query
#
# The loop runs through the query's direction, so RollingQ changes that direction.
# After each epoch, if $|\mathrm{AIR}| > \beta$ (and fewer than `MAX_ROTATIONS` rotations
# have been made):
#
# $$ \alpha = \tfrac12\big(1 + \tanh(-\sigma\,\mathrm{AIR})\big),\qquad
# t = \frac{\alpha\,\hat k_a + (1-\alpha)\,\hat k_v}{\lVert\cdot\rVert},\qquad
# q \leftarrow R(\hat q \to t)\,q . $$
#
# A strongly audio-preferring query ($\mathrm{AIR}\gg0$) gives $\alpha\approx0$: the
# target points at the visual keys. $R(\hat q\to t)$ is the rotation that turns $\hat q$
# onto $t$ inside the plane the two span and leaves every other direction alone
# (`mmlib.methods.rollingq.rotation_matrix`; you build it in exercise 08). One rotation
# on the untrained model shows what it does to the AIR:

# %%
target = rebalanced_target(attention.mean_keys["audio"], attention.mean_keys["visual"], air0, SIGMA)
turn = rotation_matrix(attention.query, target)
print("R is orthogonal:", torch.allclose(turn.T @ turn, torch.eye(DIM), atol=1e-5),
      "| R q points at t:", torch.allclose(turn @ attention.query / attention.query.norm(), target, atol=1e-5))
with torch.no_grad():
    untrained.head.rotation.copy_(turn)
after = attention_on(untrained, synthetic, "val")
print(f"AIR before {air0:+.2f}, after one rotation "
      f"{attention_imbalance_ratio(after.query, after.mean_keys['audio'], after.mean_keys['visual']):+.2f}")

# %% [markdown]
# The rotated query only *starts* somewhere else; $W_Q$, the keys and everything else
# keep learning. We trained RollingQ above on the same three seeds, and beside it a
# **control**, the *random turn* (`RandomTurn`, section 2's code): the same trigger
# (|AIR| > β, at most `MAX_ROTATIONS` times) and the same angle RollingQ would turn the
# query by, but towards a random direction orthogonal to the query (drawn from the run's
# seed) instead of towards the neglected modality's keys. If aiming at those keys is what
# RollingQ adds, it should beat the random turn; if any turn of a locked query frees the
# attention, the two should look alike.

# %%
rq_runs = runs["rollingq"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
# each arm in its family's colour: the baseline, RollingQ (feed-forward) and the random turn (a control)
ARM_COLOURS = {"baseline": plots.colour("baseline"), "rollingq": plots.colour("feed-forward"),
               "random turn": plots.colour("control")}
for label, color in ARM_COLOURS.items():
    for key, ax in zip(["val_attention_audio", "val_air", "val_acc_visual"], axes):
        curves = np.array([r.history[key] for r in runs[label]])
        epochs = np.arange(1, curves.shape[1] + 1)
        ax.plot(epochs, curves.mean(0), color=color, label=f"{label} (mean ± std, n = {len(SEEDS)})")
        ax.fill_between(epochs, curves.mean(0) - curves.std(0), curves.mean(0) + curves.std(0), color=color, alpha=0.2)
for ax, title, ylabel in zip(axes, ["attention on audio", "attention imbalance ratio", "visual slice"],
                            ["attention mass on audio tokens\n(fraction of attention)",
                             "AIR: cos(q, audio keys) − cos(q, visual keys)",
                             "validation accuracy of the visual slice\n(fraction correct)"]):
    ax.set(title=title, xlabel="epoch", ylabel=ylabel)
plots.chance_line(axes[2], synthetic.n_classes)
fig.suptitle("Synthetic data, validation split")
fig.tight_layout()
plots.figure_legend(fig)
plt.show()

# %% [markdown]
# ## 4. Results over seeds — and on real data

# %%
def add_attention(table, runs, data):
    """compare's table (test accuracies, Shapley values) plus the test-split attention of every run."""
    a, b = data.modality_names
    for i, row in table.iterrows():
        r = runs[row["method"]][SEEDS.index(row["seed"])]
        att = attention_on(r.model, data, "test")
        table.loc[i, f"attention_{a}"] = float(att.mass()[a].mean())
        table.loc[i, "air"] = attention_imbalance_ratio(att.query, att.mean_keys[a], att.mean_keys[b])
        if data is synthetic:
            table.loc[i, "attention_gap"] = np.subtract(*attention_gap(r))
    return table


synthetic_table = add_attention(synthetic_table, runs, synthetic)
mfeat_table, mfeat_runs = train_all(mfeat, "mfeat", MFEAT_EPOCHS)
mfeat_table = add_attention(mfeat_table, mfeat_runs, mfeat)
summarize(synthetic_table, ["test_acc", "test_acc_audio", "test_acc_visual", "attention_audio", "air",
                            "attention_gap", "shapley_visual"], digits=2)

# %%
summarize(mfeat_table, ["test_acc", "test_acc_fac", "test_acc_zer", "attention_fac", "air", "shapley_zer"], digits=2)

# %% [markdown]
# `attention_gap` is the attention on audio for clean minus corrupted-audio test samples:
# how *dynamic* the fusion is. On mfeat the view `fac` has 27 tokens and `zer` 6, so a
# uniform attention would give `fac` 0.82.

# %% [markdown]
# ## 5. Check
#
# Two kinds of claims. What the baseline *does* is described on every seed (n = 3) against
# fixed levels. What RollingQ *changes* is judged by the course's rule of evidence
# (`mmlib.results`): a paired t-test over the seeds (n = 3), RollingQ minus the baseline and
# RollingQ minus the random turn seed by seed, Holm-corrected across the eight comparisons
# below as one family; a difference is "better"/"worse" only when the corrected p is below
# 0.05, otherwise it is "not established" (with three seeds a real difference can fail to
# pass). Until this chapter used the rule, a difference counted when it exceeded the
# seed-to-seed spread.

# %%
def per_seed(frame, method, column):
    return frame[frame.method == method].sort_values("seed")[column].to_numpy()


def mean(frame, method, column):
    return float(per_seed(frame, method, column).mean())


base_att = mean(synthetic_table, "baseline", "attention_audio")
base_vis, rq_vis = mean(synthetic_table, "baseline", "test_acc_visual"), mean(synthetic_table, "rollingq", "test_acc_visual")
base_acc, rq_acc = mean(synthetic_table, "baseline", "test_acc"), mean(synthetic_table, "rollingq", "test_acc")
base_gap = mean(synthetic_table, "baseline", "attention_gap")
m_base, m_rq = mean(mfeat_table, "baseline", "test_acc"), mean(mfeat_table, "rollingq", "test_acc")

chance = 1 / synthetic.n_classes
described = {  # the baseline's behaviour on every seed (n = 3), against fixed levels
    "baseline attention on audio above 0.9 on every seed": (per_seed(synthetic_table, "baseline", "attention_audio")
                                                             > 0.9).all(),
    "baseline attention on audio moves by < 0.05 with audio corruption on every seed":
        (np.abs(per_seed(synthetic_table, "baseline", "attention_gap")) < 0.05).all(),
    "baseline visual share below 1.5 x chance on every seed": (per_seed(synthetic_table, "baseline", "test_acc_visual")
                                                                < 1.5 * chance).all(),
}


def versus(a, b, frame, column):
    return paired_difference(per_seed(frame, a, column), per_seed(frame, b, column))


# one family, Holm over all of it: what RollingQ changes against the baseline, and against the random turn of the
# same size (is it the direction of the rotation, towards the neglected modality's keys, or any turn of the query?)
evidence = adjust({
    "rollingq vs baseline, synthetic: attention on audio": versus("rollingq", "baseline", synthetic_table,
                                                                  "attention_audio"),
    "rollingq vs baseline, synthetic: visual share": versus("rollingq", "baseline", synthetic_table, "test_acc_visual"),
    "rollingq vs baseline, synthetic: fused accuracy": versus("rollingq", "baseline", synthetic_table, "test_acc"),
    "rollingq vs baseline, synthetic: attention gap (clean - corrupted)": versus("rollingq", "baseline", synthetic_table,
                                                                                 "attention_gap"),
    "rollingq vs baseline, mfeat: fused accuracy": versus("rollingq", "baseline", mfeat_table, "test_acc"),
    "rollingq vs random turn, synthetic: attention on audio": versus("rollingq", "random turn", synthetic_table,
                                                                     "attention_audio"),
    "rollingq vs random turn, synthetic: visual share": versus("rollingq", "random turn", synthetic_table,
                                                               "test_acc_visual"),
    "rollingq vs random turn, synthetic: fused accuracy": versus("rollingq", "random turn", synthetic_table, "test_acc"),
})

# %%
# NBVAL_CHECK_OUTPUT
for claim, holds in described.items():
    print(f"{holds!s:5}  {claim}")
for claim, e in evidence.items():
    print(f"{e.verdict:15}  {claim}: {e.mean:+.2f} [{e.low:+.2f}, {e.high:+.2f}] n={e.n}, "
          f"Holm p={e.p_adjusted:.2f}")

# %%
assert all(described.values()), described
# the rule's verdicts on these seeded runs (see the text below; none of RollingQ's differences passes, against the
# baseline or against the random turn)
assert all(e.verdict == "not established" for e in evidence.values()), {c: str(e) for c, e in evidence.items()}
# the control: the random turn of the same size achieves at least 3/4 of RollingQ's mean change in attention on
# audio and in the visual share (means over the seeds, as the text says: "about as much")
for column in ("attention_audio", "test_acc_visual"):
    rq_change = mean(synthetic_table, "rollingq", column) - mean(synthetic_table, "baseline", column)
    random_change = mean(synthetic_table, "random turn", column) - mean(synthetic_table, "baseline", column)
    assert abs(rq_change) > 0.05 and random_change / rq_change >= 0.75, (column, rq_change, random_change)

# %%
record(synthetic_baseline_acc=round(base_acc, 3), synthetic_rollingq_acc=round(rq_acc, 3),
       synthetic_baseline_visual=round(base_vis, 3), synthetic_rollingq_visual=round(rq_vis, 3),
       baseline_attention_audio=round(base_att, 3), mfeat_baseline_acc=round(m_base, 3),
       mfeat_rollingq_acc=round(m_rq, 3),
       synthetic_random_turn_acc=round(mean(synthetic_table, "random turn", "test_acc"), 3),
       synthetic_random_turn_visual=round(mean(synthetic_table, "random turn", "test_acc_visual"), 3),
       synthetic_random_turn_attention_audio=round(mean(synthetic_table, "random turn", "attention_audio"), 3))

# %% [markdown]
# ## 6. What we saw, and what to make of it
#
# * The attention of a fusion transformer is not automatically dynamic. Here the query
#   settles on audio within the first epoch and stays there, the visual tokens reach the
#   head with weights near zero, and samples with useless audio get the same treatment as
#   clean ones. The additive decomposition of chapter 1 still applies, now weighted by
#   attention: a modality that gets little attention gets little gradient.
# * Rotating the query (three times at most, when |AIR| > β) loosens the loop at this
#   scale: on average attention is shared (about 0.6 on audio instead of 1.0) and the
#   visual share of the logits leaves chance level (0.39 against 0.17). But the rule of
#   evidence establishes none of RollingQ's changes (n = 3, Holm over eight comparisons):
#   attention on audio −0.39 [−0.63, −0.15] and the visual share +0.22 [+0.10, +0.35], whose
#   intervals exclude zero on their own but do not survive the correction; fused accuracy
#   +0.03 [−0.01, +0.07]; the attention's reaction to corrupted audio +0.12 [−0.21, +0.45].
#   Before this chapter used the rule, the visual share and accuracy counted as gains
#   because they exceeded the seed-to-seed spread. Three seeds are too few to say more —
#   set `SEEDS = list(range(8))` to find out. The first rotation overshoots (AIR turns
#   negative) and later training pulls it back; how much the attention reacts to the
#   corrupted samples varies a lot between seeds — the dynamic property comes back at most
#   partly.
# * **The control: a random turn of the same size does about as much.** Turning the query
#   by RollingQ's angles towards random directions moves the attention on audio to 0.64
#   and the visual share to 0.37 (fused 0.81, like RollingQ's). RollingQ against the
#   random turn: attention on audio −0.03 [−0.23, +0.17], visual share +0.02 [−0.03,
#   +0.07], fused accuracy +0.01 [−0.02, +0.04], none established; the random turn's mean
#   changes are about nine tenths of RollingQ's (the check asserts at least three
#   quarters). So these runs do not credit the *direction* of the rotation — aiming at the
#   neglected modality's keys — with anything: what goes with the shared attention is that
#   a locked query is turned away at all.
# * On mfeat the picture is different: no view captures the query (`fac` gets *less*
#   attention than its share of the tokens and the AIR is negative), the transformer is weaker than
#   the concatenation model of chapter 2, and a difference from rotation is not
#   established (−0.01 [−0.03, +0.01] in fused accuracy). RollingQ targets a specific
#   failure — a query locked on one modality — not imbalance in general.
#
# **Try it.** Set `MAX_ROTATIONS = 0` (RollingQ without rotation is the baseline), or
# `SIGMA = 0.2` (a gentle target close to the bisector): how much of the gain remains?
#
# ## Papers
#
# * H. Ni, Y. Wei, H. Liu, G. Chen, C. Peng, H. Lin, D. Hu. *RollingQ: Reviving the
#   Cooperation Dynamics in Multimodal Transformer.* ICML 2025 (arXiv 2506.11465).
# * The survey this course follows, section "Modality imbalance in Transformer".
