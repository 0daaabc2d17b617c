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
# # 09 · Imbalance in multimodal language models: text takes over (LoRA vs MokA)
#
# A multimodal large language model (MLLM) is a pre-trained language model that is
# *shown* other modalities: an encoder and a projector turn an image or a sound into a
# few "visual tokens" placed before the text prompt. The language model is then
# fine-tuned, almost always with a parameter-efficient method such as LoRA.
#
# Here the imbalance of chapters 1–8 returns in a new form. The language model already
# knows how to read text — that is its whole pre-training — and the task's text is often
# informative on its own. Fine-tuning follows the easy path: the update is shaped by the
# text tokens and the model leans on the text. Wei et al. (MokA, NeurIPS 2025) showed
# that a LoRA update applied to the **text tokens only** performs about as well as the full
# one, while applied to the non-text tokens only it falls apart.
#
# **Claim.** We rebuild this at toy scale, with nothing downloaded: a tiny language
# model pre-trained in the chapter, a task that needs both the text and an image, and
# the two adapters. Under LoRA the model follows a partly misleading text hint far more
# often than the image justifies; MokA (modality-specific `A`, shared `B`, and a
# cross-attention in the low-rank space through which the image tokens read the
# question) is designed to change where the update lives.
# Whether it does, and whether it fixes the dominance at this scale, is what the check
# measures with the course's rule of evidence — over three seeds, none of MokA's
# differences from LoRA is established.

# %% tags=["parameters"]
SEEDS = [0, 1, 2]  # fine-tuning seeds
PRETRAIN_STEPS = 300  # pre-training steps of the tiny language model (batch 128)
EPOCHS = 15  # fine-tuning epochs
RANK = 4  # rank r of the low-rank updates
HINT = 0.7  # probability that the text hint points at the right answer
ADAPTERS = ["lora", "moka", "moka_no_cross"]  # compared adapters (moka_no_cross: an ablation)

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from mmlib import mllm
from mmlib.course.book import record
from mmlib.data import load
from mmlib.results import adjust, paired_difference, summarize

data = load("synthetic")
vocab = mllm.Vocabulary(data.n_classes)

# %% [markdown]
# ## 1. A language model, pre-trained here
#
# Our "language" has class words `c0 … c5`, eight hint words `w0 … w7` and three markers.
# Every pre-training sentence reads
#
# `<bos> w <opt> c_i c_j <ans> c_k`
#
# and the hint word decides the answer: an even word means the first option, an odd word
# the second. A two-layer causal transformer (d = 32) learns this with next-token
# prediction in a few seconds. This is the model's only "knowledge": *read the hint*.

# %%
lm, losses = mllm.pretrain(vocab, steps=PRETRAIN_STEPS, seed=0)
check = mllm.pretraining_text(1000, vocab.n_classes, seed=123)
with torch.no_grad():
    lm_acc = (lm(check[:, :-1])[:, -1, :vocab.n_classes].argmax(1) == check[:, -1]).float().mean().item()
print(f"pre-training loss {losses[0]:.2f} -> {losses[-1]:.2f}; answers the hint rule on new sentences: {lm_acc:.2f}")

# %% [markdown]
# (The loss cannot go below about 0.9: the hint word and the two options are random,
# only their consequences are predictable.)
#
# ## 2. A task that needs the text *and* the image
#
# Now the prompt is preceded by the 16 rows of a synthetic image (chapter 2's visual
# modality) as visual tokens. The two options are the image's true class and a random
# distractor; the hint word points at the right one only with probability
# `HINT` = 0.7. Text alone gets about 70 %; the image alone is worth about 70 % over six
# classes and far more when it only has to choose between two; a model that uses both
# should beat 70 % clearly, and must overrule the hint when the image contradicts it.
#
# During fine-tuning the language model is frozen; a linear projector (image row →
# word-embedding space) and the adapters train, as in LLaVA-style MLLMs. The adapters
# wrap the q, k, v and o projections of both blocks:
#
# $$\textbf{LoRA:}\quad h_i = W_0 x_i + s\,B A x_i$$
#
# $$\textbf{MokA:}\quad r_i = s\,A_{m(i)} x_i,\qquad
# r_i \leftarrow r_i + w\sum_{j\in\text{question}} \mathrm{softmax}_j\!\Big(\frac{r_i\cdot r_j}{\sqrt r}\Big) r_j
# \ \ (i \text{ visual}),\qquad h_i = W_0 x_i + B r_i$$
#
# with $s = \alpha/r$, $w = 1$ and $B = 0$ at the start, so both begin as the frozen
# model. MokA keeps one $A$ per modality (each compresses its own tokens, untouched by
# the other's gradients), lets each **image token read the question** — the image codes
# are the queries, the question's text codes the keys and values, and the result is
# added back to the image code with weight $w$ — and shares one $B$. This is the
# direction of the authors' code (their LoRA layer in GeWu-Lab/MokA); `mmlib/mllm.py`
# names the version compared and every difference from it.
#
# The image tokens come *before* the text, so reading the question means reading later
# tokens. That is harmless for the same reason as in the authors' setting: the question
# is the prompt, given in full before anything is generated, and only the answer is
# predicted. The keys are the question's tokens only, the text never attends forward,
# so the answer position — and any token fed in after the question — depends on no
# later token (the library's tests check it). `moka_no_cross` drops the cross-attention
# — an ablation that tells which part matters; `direction="text_queries_visual"` (an
# option of `mllm.adapt`) reverses it. The pieces are pure functions in `mmlib/mllm.py`
# (`lora_delta`, `modality_low_rank`, `visual_to_text_attention`); exercise 09 asks you
# to write all three.

# %%
task = mllm.build_task(data, modality="visual", hint=HINT, seed=0)
print(f"hint right on {task.hint_right.float().mean():.2f} of the samples; "
      f"train/val/test = {[len(task.splits[s]) for s in ('train', 'val', 'test')]}")
frozen = mllm.adapt(lm, task, "none", epochs=0).scores
print(f"frozen model, text only: {frozen['acc_no_visual']:.2f} (it follows the hint); "
      f"with untrained visual tokens: {frozen['acc']:.2f}")

# %% [markdown]
# ## 3. Fine-tuning: LoRA against MokA
#
# For each adapter and seed we measure on the test split:
#
# * `acc` — accuracy; `acc_no_visual` — accuracy when the visual tokens are removed;
# * `acc_hint_wrong` — accuracy on the samples whose hint is wrong: only the image can
#   answer these, so this is the cleanest measure of how much the model *uses* the image;
# * `follows_hint` — how often the answer is the option the hint points at (a model that
#   always read the image right would follow the hint exactly as often as the hint is right);
# * `acc_text_path` / `acc_visual_path` — the low-rank update applied to text tokens only /
#   visual tokens only (MokA's "partial-modality inference");
# * `visual_attention` — the attention mass the answer position puts on visual tokens.

#
# (`mllm.compare_adapters` is this chapter's adapters × seeds loop: a tiny MLLM is not a
# `MultimodalModel` — its text and image meet inside causal attention, with no
# per-modality logits to add up — so it is fine-tuned by `mllm.adapt`, not by
# `mmlib.train.fit`; `mmlib/mllm.py` says why. Its table has the course's layout and is
# judged by the same rule of evidence.)

# %%
table = mllm.compare_adapters(lm, task, ADAPTERS, SEEDS, dataset="synthetic", epochs=EPOCHS, rank=RANK)
columns = ["acc", "acc_no_visual", "acc_hint_wrong", "acc_hint_right", "follows_hint", "acc_text_path",
           "acc_visual_path", "visual_attention", "trainable"]
summarize(table, columns, digits=2)

# %%
means = table.groupby("method", sort=False)[columns].mean()
stds = table.groupby("method", sort=False)[columns].std()
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
shown = ["acc", "acc_no_visual", "acc_hint_wrong", "acc_text_path", "acc_visual_path"]
width = 0.8 / len(means)
for i, method in enumerate(means.index):
    axes[0].bar(np.arange(len(shown)) + i * width, means.loc[method, shown], width, yerr=stds.loc[method, shown],
                label=method, capsize=3)
axes[0].set_xticks(np.arange(len(shown)) + width * (len(means) - 1) / 2, shown, rotation=15)
axes[0].axhline(HINT, ls=":", color="gray", label="text hint alone")
axes[0].set_ylim(0.3, 1); axes[0].set_title("test accuracy (mean ± std over seeds)"); axes[0].legend(fontsize=8)
axes[1].bar(means.index, means["follows_hint"], yerr=stds["follows_hint"], capsize=3, color="tab:gray")
axes[1].axhline(HINT, ls=":", color="k")
axes[1].set_ylim(0.5, 1); axes[1].set_title("answers that follow the text hint")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 4. Check
#
# Every comparison below is judged by the course's rule of evidence (`mmlib.results`): a
# paired t-test over the fine-tuning seeds (two adapters with the same seed share the
# batch order), Holm-corrected within each family of claims, reported as the mean
# difference with its 95 % confidence interval and n. A difference the rule does not
# establish is "not established" — with three seeds a real difference can fail to pass.
# Until this chapter used the rule, a difference counted when it exceeded the
# seed-to-seed spread.

# %%
def per_seed(method, column):
    return table[table.method == method].sort_values("seed")[column].to_numpy()


def mean(method, column):
    return float(per_seed(method, column).mean())


lora_acc, moka_acc = mean("lora", "acc"), mean("moka", "acc")
lora_follow, moka_follow = mean("lora", "follows_hint"), mean("moka", "follows_hint")
lora_wrong, moka_wrong = mean("lora", "acc_hint_wrong"), mean("moka", "acc_hint_wrong")
described = {"pre-trained LM learned the hint rule (> 0.9)": lm_acc > 0.9}
# (a) the task needs both modalities, and LoRA leans on the text
dominance = adjust({
    "LoRA beats the text hint alone": paired_difference(per_seed("lora", "acc"), HINT),
    "MokA beats the text hint alone": paired_difference(per_seed("moka", "acc"), HINT),
    "LoRA: hint-right minus hint-wrong accuracy": paired_difference(per_seed("lora", "acc_hint_right"),
                                                                   per_seed("lora", "acc_hint_wrong")),
    "LoRA without the image, above two-option chance": paired_difference(per_seed("lora", "acc_no_visual"), 0.5),
})
# (b) what MokA changes against LoRA (same seeds)
text_lead = {a: per_seed(a, "acc_text_path") - per_seed(a, "acc_visual_path") for a in ("lora", "moka")}
moka = adjust({
    "MokA minus LoRA: text-path lead (text-only minus visual-only update)": paired_difference(text_lead["moka"],
                                                                                          text_lead["lora"]),
    "MokA minus LoRA: accuracy": paired_difference(per_seed("moka", "acc"), per_seed("lora", "acc")),
    "MokA minus LoRA: accuracy on hint-wrong samples": paired_difference(per_seed("moka", "acc_hint_wrong"),
                                                                        per_seed("lora", "acc_hint_wrong")),
})

# %%
# NBVAL_CHECK_OUTPUT
for claim, holds in described.items():
    print(f"{holds!s:15}  {claim}")
for title, family in [("(a) text dominance", dominance), ("(b) MokA against LoRA", moka)]:
    print(title)
    for claim, e in family.items():
        print(f"  {e.verdict:15}  {claim}: {e.mean:+.2f} [{e.low:+.2f}, {e.high:+.2f}] n={e.n}, "
              f"Holm p={e.p_adjusted:.2f}")

# %%
assert all(described.values()), described
# the rule's verdicts on these seeded runs, as the text below reports them
expected = {"LoRA beats the text hint alone": "better", "MokA beats the text hint alone": "better",
            "LoRA: hint-right minus hint-wrong accuracy": "better"}
verdicts = {c: e.verdict for c, e in {**dominance, **moka}.items()}
assert all(verdicts[c] == v for c, v in expected.items()), verdicts
assert all(v == "not established" for c, v in verdicts.items() if c not in expected), verdicts

# %%
record(pretrain_hint_acc=round(lm_acc, 3), lora_acc=round(lora_acc, 3), moka_acc=round(moka_acc, 3),
       lora_follows_hint=round(lora_follow, 3), moka_follows_hint=round(moka_follow, 3),
       lora_acc_hint_wrong=round(lora_wrong, 3), moka_acc_hint_wrong=round(moka_wrong, 3))

# %% [markdown]
# ## 5. What we saw
#
# * **Text dominance is real here.** After LoRA the model answers with the hinted option
#   on roughly three samples in four, and on samples where the hint is wrong it is right
#   far less often than where the hint is right: the gap is established, +0.31
#   [+0.19, +0.44] (n = 3) — the image overrules the text only part of the time, although
#   it alone decides these samples. Both adapters clearly beat the hint alone (LoRA +0.11
#   [+0.08, +0.15], MokA +0.12 [+0.07, +0.17] over 0.7), so the image is used. Removing the
#   visual tokens leaves LoRA at 0.65 on average, above the two-option chance level of
#   0.5 by +0.15 [−0.01, +0.31]: not established with three seeds that disagree (this
#   chapter used to state it as a fact, when it judged means alone).
# * **Does MokA move the update?** MokA gives the image its own `A` and lets the image
#   tokens read the question inside the low-rank space, so the visual positions carry
#   question information into the update. On average its update leans less on the text
#   positions than LoRA's: applied to the text tokens alone it keeps 0.63 of its 0.82 and
#   applied to the visual tokens alone 0.68, where LoRA's keeps 0.67 (text) and 0.63
#   (visual) of its 0.81. The rule does not establish the difference in the text path's
#   lead: −0.10 [−0.44, +0.25], n = 3. Nor is an accuracy difference established:
#   +0.01 [−0.08, +0.09] overall and +0.02 [−0.17, +0.21] on the hint-wrong samples, the
#   ones that need the image. The attention mass on visual tokens is about the same
#   (0.49 against LoRA's 0.50). At this scale MokA's advantages are possible, not shown.
#   (Until it was checked against the authors' code, this chapter's MokA had the text
#   tokens read the image instead; that version's update sat on the text path — 0.80 of
#   its 0.85 — with its differences from LoRA not established either.)
# * Toy-scale honesty: our "LLM" has 30 k parameters, one pre-training skill and one
#   task. The paper's effects are measured on 7 B-parameter models and real benchmarks;
#   what transfers is the *method of diagnosis* — accuracy without a modality, update on
#   one modality's tokens only, behaviour on samples where the modalities disagree.
#
# ## 6. Open questions (exercises for thought)
#
# The survey closes with questions the field has not answered. Each can be explored,
# at toy scale, with this chapter's code.
#
# 1. **Is balance always worth it?** BalanceBenchmark speaks of a "relative balance", a
#    trade-off point between performance and balance. Here, set `HINT = 0.95`: the text
#    is now almost always right. Should the model still use the image? What does
#    "balanced" mean when one modality is simply better?
# 2. **Fusion without a dominant modality.** Our MLLM translates the image into the
#    language model's word space, and in MokA only the image tokens read the other
#    modality: the text tokens keep their own code. What if the text also read the
#    image? Try `direction="text_queries_visual"` (text codes query the image codes,
#    causal by construction), or design an adapter where both directions run — neither
#    stream the "host" — and compare them on the hint-wrong samples.
# 3. **Deeper, non-hierarchical interaction.** MokA's cross-attention happens inside each
#    adapted projection. Does it matter *where* (which layer, which of q/k/v/o) the
#    modalities meet? Restrict the adapters to one block and see.
# 4. **New PEFT methods.** MokA separates `A` per modality and shares `B`. Try the other
#    combinations (shared `A`, separate `B`; both separate) with `LowRankAdapter` — which
#    one uses the image most on hint-wrong samples?
# 5. **Measuring modality contributions in MLLMs.** We used accuracy without the image,
#    partial-modality updates and hint-wrong samples. Which of these would you trust on a
#    real benchmark, and what would a Shapley-style measure (chapter 2) look like here?
# 6. **Seeing the information flow.** `CausalSelfAttention.last_weights` holds every
#    attention map. Plot, layer by layer, how much the answer position reads from visual
#    tokens for hint-right and hint-wrong samples. Where is the bottleneck?
# 7. **Autonomous reliance.** A model that knew *when* to trust the text would follow a
#    reliable hint and ignore an unreliable one. Train with a `HINT` that varies per
#    sample (and is marked by the hint word): can the model learn to switch?
#
# ## Papers
#
# * Y. Wei, Y. Miao, D. Zhou, D. Hu. *MokA: Multimodal Low-Rank Adaptation for MLLMs.*
#   NeurIPS 2025 (arXiv 2506.05191).
# * E. J. Hu et al. *LoRA: Low-Rank Adaptation of Large Language Models.* ICLR 2022.
# * The survey this course follows, sections "Modality imbalance in MLLMs" and "Future
#   research direction questions".
