"""LFM: supervised learning and a modality-gap term, traded off over training.

Paper: Yang, Wan, Jiang, Xu, "Facilitating Multimodal Classification via Dynamically
Learning Modality Gap", NeurIPS 2024.

Modalities fit the labels at different speeds; LFM intervenes in that fitting
with an unsupervised term that pulls the modalities' predictions together (a
"modality gap" between their softmax outputs) and integrates it with the
supervised loss through a trade-off that changes during training:

    L = 2 [ alpha_1(t) CE(mean_m z_m, y) + alpha_2(t) gap(p_1, ..., p_M) ],
    alpha_1 = 1 - alpha_2,      p_m = softmax(z_m).

The gap is the authors' ``Alignment``, averaged over pairs of modalities (batch mean):

    gap(p, q) = 1/2 [ KL(m || p) + KL(m || q) ],      m = (p + q) / 2      (gap="authors", default)

(their ``F.kl_div(p.log(), m)`` is KL(m || p), the mixture first). This is *not* the
Jensen-Shannon divergence ``1/2 [KL(p || m) + KL(q || m)]``, which ``gap="js"`` gives
(generalised to M modalities as ``H(mean_m p_m) - mean_m H(p_m)``).

The trade-off is **scheduled**: ``schedule="linear"`` (default) moves ``alpha_2``
linearly from ``gap_start`` in the first epoch to ``gap_end`` in the last;
``schedule="fitted"`` evaluates the authors' "learning-fitted" 5th-degree polynomial
of the epoch (fitted to their CREMA-D runs; 0.795 at epoch 0, about 0.70 at epoch 20).
Early in training, when the imbalance forms, the gap term is strong and drags the
lagging modality's predictions towards the leading one's; late in training the
supervised term dominates.

Defaults: ``gap_start = 0.795`` (the authors' fitted alpha_2 at epoch 0),
``gap_end = 0.05`` (the floor of BalanceBenchmark's learned alpha_2).
Every difference from the authors' code is listed in ``LFM.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import Output
from ..validation import Choice, Number
from .base import Method, register
from .provenance import Difference, Paper, Source

# The authors' fitted alpha_2(epoch) = sum_i c_i epoch^i (their getAlpha_Learnable_Fitted).
FITTED_ALPHA2 = (7.95376296e-01, -3.35472727e-03, -1.22989557e-04, 2.92947416e-06, -2.23835486e-08, 5.39717505e-11)


def js_divergence(probabilities: list[Tensor], eps: float = 1e-12) -> Tensor:
    """Generalised Jensen-Shannon divergence ``H(mean p) - mean H(p)`` (per sample, natural log), batch mean."""
    if len(probabilities) < 2:
        raise ValueError(f"JS divergence needs at least two distributions, got {len(probabilities)}")

    def entropy(p: Tensor) -> Tensor:
        return -(p * p.clamp_min(eps).log()).sum(dim=1)

    mixture = torch.stack(probabilities).mean(0)
    mean_entropy = torch.stack([entropy(p) for p in probabilities]).mean(0)
    return (entropy(mixture) - mean_entropy).clamp_min(0.0).mean()


def authors_alignment(log_p: Tensor, log_q: Tensor) -> Tensor:
    """The authors' ``Alignment``: ``1/2 [KL(m || p) + KL(m || q)]``, ``m = (p + q)/2``, batch mean.

    Takes log-probabilities (``log_softmax``), so a probability that underflows to 0
    gives a large finite term, never ``0 * log 0`` = NaN.
    """
    if log_p.shape != log_q.shape:
        raise ValueError(f"shapes differ: {tuple(log_p.shape)} vs {tuple(log_q.shape)}")
    m = 0.5 * (log_p.exp() + log_q.exp())
    log_m = m.clamp_min(torch.finfo(m.dtype).tiny).log()
    kl_m_p = (m * (log_m - log_p)).sum(1)
    kl_m_q = (m * (log_m - log_q)).sum(1)
    return (0.5 * (kl_m_p + kl_m_q)).mean()


def modality_gap(logits: list[Tensor], kind: str = "authors") -> Tensor:
    """The gap term of a list of logits: the authors' alignment averaged over pairs, or the JS divergence."""
    if len(logits) < 2:
        raise ValueError(f"the modality gap needs at least two modalities, got {len(logits)}")
    if kind == "js":
        return js_divergence([F.softmax(z, dim=1) for z in logits])
    if kind != "authors":
        raise ValueError(f"gap must be 'authors' or 'js', got {kind!r}")
    logs = [F.log_softmax(z, dim=1) for z in logits]
    pairs = list(combinations(range(len(logs)), 2))
    return sum(authors_alignment(logs[i], logs[j]) for i, j in pairs) / len(pairs)


def gap_weight(epoch: int, epochs: int, start: float, end: float) -> float:
    """``alpha_2`` at ``epoch`` of ``epochs``: linear from ``start`` (first epoch) to ``end`` (last)."""
    if epochs <= 1:
        return start
    return start + (end - start) * min(max(epoch, 0), epochs - 1) / (epochs - 1)


def fitted_gap_weight(epoch: int) -> float:
    """The authors' fitted ``alpha_2(epoch)`` (5th-degree polynomial), clipped to [0, 1]."""
    value = sum(c * float(epoch) ** i for i, c in enumerate(FITTED_ALPHA2))
    return min(max(value, 0.0), 1.0)


@register
class LFM(Method):
    """CE on the mean of the modalities' logits plus a scheduled modality-gap term (the authors' alignment)."""

    name = "lfm"
    family = "learning objective"
    paper = Paper("Yang, Wan, Jiang, Xu", "Facilitating Multimodal Classification via Dynamically Learning "
                  "Modality Gap", "NeurIPS", 2024,
                  "https://proceedings.neurips.cc/paper_files/paper/2024/hash/"
                  "71b17f00017da0d73823ccf7fbce2d4f-Abstract-Conference.html")
    sources = (
        Source("FqWan24/TPAMI26-LFM", "9bff49f69e3f391e6214f5e8aa2dff7f5ca30112", "Crema_epoch.py",
               "Alignment, getAlpha_Learnable_Fitted, train_audio_video",
               note="the second author's repository (its journal extension); the same Alignment, fitted alpha "
                    "and loss as the NeurIPS code, whose repository njustkmg/NeurIPS24-LFM was not available "
                    "to read here"),
        Source("GeWu-Lab/BalanceBenchmark", "39ed569712e48ed97d9999a032ba6918a2d360b1",
               "balancemm/trainer/LFM_trainer.py", "Alignment, getAlpha_Learnable, LFMTrainer.training_step"),
    )
    differences = (
        Difference("alpha_2 follows a linear schedule from gap_start = 0.795 (the authors' fitted value at "
                   "epoch 0) to gap_end = 0.05 in the last epoch; the authors' fitted polynomial falls only to "
                   "about 0.70 by epoch 20 (0.46 by epoch 100), and BalanceBenchmark learns alpha_2 by a "
                   "hypergradient on a validation batch, starting at 0.05.",
                   "The polynomial was fitted to the authors' CREMA-D runs and their epoch count; a linear "
                   "schedule from the same start is the simplest dynamic trade-off, ends supervised whatever "
                   "the number of epochs, and needs no held-out batch (BalanceBenchmark's is the test split).",
                   "schedule='fitted'"),
        Difference("The gap is computed from log_softmax; the authors take log(softmax(z)), which gives "
                   "0 * log 0 = NaN when a probability underflows.", "No NaN reaches the weights; the value is "
                   "the same otherwise."),
        Difference("gap='js' replaces the authors' 1/2 [KL(m||p) + KL(m||q)] by the Jensen-Shannon divergence "
                   "1/2 [KL(p||m) + KL(q||m)] (for M > 2: H(mean p) - mean H(p)); the default is the authors' "
                   "term.", "The JS divergence is what the authors' code names the term (js_score); the "
                   "option shows what the argument order of kl_div changes.", "gap='js'"),
        Difference("More than two modalities: the authors' term is averaged over all pairs and the supervised "
                   "term is the CE of the mean of all logits (the authors' code has two modalities; "
                   "BalanceBenchmark also averages over pairs but takes the CE of the fused head's output).",
                   "An extension; with two modalities it is exactly the authors' loss."),
    )
    hyperparameter_ranges = {"gap_start": Number(ge=0, le=1), "gap_end": Number(ge=0, le=1),
                             "gap": Choice(("authors", "js")), "schedule": Choice(("linear", "fitted"))}

    def __init__(self, gap_start: float = 0.795, gap_end: float = 0.05, gap: str = "authors",
                 schedule: str = "linear") -> None:
        self.gap_start = gap_start
        self.gap_end = gap_end
        self.gap = gap
        self.schedule = schedule

    def on_epoch_start(self, state) -> None:
        if self.schedule == "fitted":
            self.alpha_gap = fitted_gap_weight(state.epoch)
        else:
            self.alpha_gap = gap_weight(state.epoch, state.epochs, self.gap_start, self.gap_end)
        self.log(alpha_gap=self.alpha_gap)

    def loss(self, output: Output, batch: Batch) -> Tensor:
        logits = list(output.logits.values())
        supervised = F.cross_entropy(torch.stack(logits).mean(0), batch.y)
        gap = modality_gap(logits, self.gap)
        self.log(gap=gap)
        return 2 * ((1 - self.alpha_gap) * supervised + self.alpha_gap * gap)
