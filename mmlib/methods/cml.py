"""CML: Calibrating Multimodal Learning — removing a modality must not raise confidence.

Paper: Ma, Zhang, Zhang, Wu, Fu, Zhou, Hu, "Calibrating Multimodal Learning", ICML 2023,
arXiv 2306.01265.

A well-calibrated multimodal classifier should be *less* confident, never more,
when one of its modalities is taken away. A model that leans on one modality
violates this: without the weaker modality it is just as (or more) confident.
CML adds a hinge penalty on such violations:

    conf(x)     = max_c softmax(fused(x))_c
    conf_-m(x)  = max_c softmax(fused(x without m))_c          (m's features zeroed)
    d_-m,i      = conf_-m(x_i) - conf(x_i)
    L = 1/2 [CE(fused) + mean_m CE(fused_-m)] + lambda * mean_m P_-m,

with the hinge on the **batch sum** (``hinge="batch"``, default, as BalanceBenchmark)

    P_-m = max(0, sum_i d_-m,i),

or per sample (``hinge="sample"``) ``P_-m = mean_i max(0, d_-m,i)``. The batch-sum
hinge lets margins on some samples cancel violations on others and grows with the
batch size B: ``lam = 0.1`` with ``hinge="sample"`` is about B times weaker than the
default (use ``lam = 0.1 * B`` for a comparable strength).

Defaults: ``lam = 0.1`` (BalanceBenchmark), ``hinge = "batch"``.
Every difference from BalanceBenchmark's code is listed in ``CML.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..metrics import subset_output
from ..models import Output
from ..validation import Choice, Number
from .base import Method, register
from .provenance import Difference, Paper, Source


def confidence_penalty(full_logits: Tensor, removed_logits: Tensor, hinge: str = "batch") -> Tensor:
    """The CML hinge on ``d_i = conf_removed_i - conf_full_i`` (``conf = max softmax``).

    ``hinge="batch"``: ``max(0, sum_i d_i)`` (BalanceBenchmark); ``hinge="sample"``:
    ``mean_i max(0, d_i)``.
    """
    if full_logits.shape != removed_logits.shape:
        raise ValueError(f"logit shapes differ: {tuple(full_logits.shape)} vs {tuple(removed_logits.shape)}")
    conf_full = F.softmax(full_logits, dim=1).max(dim=1).values
    conf_removed = F.softmax(removed_logits, dim=1).max(dim=1).values
    rise = conf_removed - conf_full
    if hinge == "batch":
        return F.relu(rise.sum())
    if hinge == "sample":
        return F.relu(rise).mean()
    raise ValueError(f"hinge must be 'batch' or 'sample', got {hinge!r}")


@register
class CML(Method):
    """Cross-entropy with and without each modality, plus a hinge on confidence rising without it."""

    name = "cml"
    family = "learning objective"
    paper = Paper("Ma, Zhang, Zhang, Wu, Fu, Zhou, Hu", "Calibrating Multimodal Learning", "ICML", 2023,
                  "https://arxiv.org/abs/2306.01265")
    sources = (Source("GeWu-Lab/BalanceBenchmark", "0ec75d8c30cf133528086d2c0c953717947dd19b",
                      "balancemm/trainer/CML_trainer.py", "conf_loss, CMLTrainer.training_step",
                      note="no official code found; BalanceBenchmark's implementation"),)
    differences = (
        Difference("Every modality is removed in turn and the CE and hinge averaged over the removals; "
                   "BalanceBenchmark shuffles the modality order once per epoch and removes only the last one "
                   "(with two modalities the same modality for the whole epoch; with three, a second one "
                   "removed from the first's output).",
                   "Deterministic, symmetric between the modalities, and the same cost for two modalities."),
        Difference("hinge='sample' puts the hinge on each sample and averages, mean_i max(0, d_i), instead of "
                   "the default batch-sum max(0, sum_i d_i); with lam = 0.1 it is about B times weaker than "
                   "BalanceBenchmark's.", "The per-sample form penalises every sample whose confidence rises, "
                   "without letting margins on other samples cancel it; it is kept as an option.",
                   "hinge='sample'"),
        Difference("A removed modality's features are zeroed after its encoder and the head re-applied, so "
                   "the fused bias is kept; BalanceBenchmark subtracts the modality's logit slice and adds "
                   "b/2 (b/3 for three modalities).", "For the concat head with two modalities this equals "
                   "out - z_m + b/2; it also works for heads that are not a sum of slices."),
        Difference("The hinge applies in every epoch; BalanceBenchmark applies CML only inside "
                   "modulation_starts..modulation_ends (plain CE outside).",
                   "The course trains 15-20 epochs with no warm-up window."),
    )
    hyperparameter_ranges = {"lam": Number(ge=0), "hinge": Choice(("batch", "sample"))}

    def __init__(self, lam: float = 0.1, hinge: str = "batch") -> None:
        self.lam = lam
        self.hinge = hinge

    def loss(self, output: Output, batch: Batch) -> Tensor:
        model = self.state.model
        modalities = list(output.features)
        removed_ce, penalty = torch.zeros(()), torch.zeros(())
        for m in modalities:
            without = subset_output(model, output.features, [k for k in modalities if k != m]).fused
            removed_ce = removed_ce + F.cross_entropy(without, batch.y) / len(modalities)
            penalty = penalty + confidence_penalty(output.fused, without, self.hinge) / len(modalities)
        self.log(confidence_penalty=penalty)
        return 0.5 * (F.cross_entropy(output.fused, batch.y) + removed_ce) + self.lam * penalty
