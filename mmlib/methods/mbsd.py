"""MBSD: modality-balanced self-distillation between the per-modality predictions.

Paper: Liu, Li, Song, Yang, Zeng, "Multimodal Pre-Training with Self-Distillation for
Product Understanding in E-Commerce", WSDM 2023 (MBSD is the model proposed there; its
self-distillation passes the dominant modality's knowledge to the weaker one). The
authors published no code; the rule here follows the public benchmark BalanceBenchmark
(Xu et al., arXiv 2502.10816, ``MBSD_trainer``), which brought it to
balanced multimodal classification.

Every modality gets its own cross-entropy, and on each sample the modality that
is more sure of the true class teaches the other, with a weight that grows with
the gap between them:

    p_m  = softmax(z_m),   w_i = |p_a[y_i] - p_b[y_i]|  if a or b predicts y_i, else 0
    RS_i = mean_c (z_a - z_b)_c^2                                      (logit agreement)
    KL_i = KL(p_strong,i || p_weak,i)      strong = argmax_m p_m[y_i], teacher detached   (kl="distribution")
    L = CE(fused) + sum_m CE(z_m) + mean_i w_i (RS_i + KL_i),

averaged over pairs of modalities when there are more than two. ``kl="true_class"``
gives BalanceBenchmark's KL term instead, computed from the two true-class
probabilities only: ``F.kl_div(ps, pw)`` = ``pw (log pw - ps)`` with ``ps`` / ``pw`` the
larger / smaller of ``p_a[y_i]``, ``p_b[y_i]`` (a probability where ``kl_div`` expects a
log-probability), gradients through both.

Defaults: none to set (the weights are data-driven, as in the benchmark).
Every difference from BalanceBenchmark's code is listed in ``MBSD.differences`` (and
in :func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import Output
from ..validation import Choice
from .base import Method, register
from .provenance import Difference, Paper, Source


def distribution_kl(log_a: Tensor, log_b: Tensor, a_teaches: Tensor) -> Tensor:
    """Per-sample ``KL(p_teacher || p_student)`` over the full distributions, teacher detached."""
    teacher = torch.where(a_teaches[:, None], log_a, log_b).detach()
    student = torch.where(a_teaches[:, None], log_b, log_a)
    return (teacher.exp() * (teacher - student)).sum(1)


def true_class_kl(p_a_y: Tensor, p_b_y: Tensor) -> Tensor:
    """BalanceBenchmark's per-sample term ``kl_div(ps, pw) = pw (log pw - ps)`` on true-class probabilities."""
    strong, weak = torch.maximum(p_a_y, p_b_y), torch.minimum(p_a_y, p_b_y)
    return weak * (weak.clamp_min(torch.finfo(weak.dtype).tiny).log() - strong)


def self_distillation(z_a: Tensor, z_b: Tensor, labels: Tensor, kl: str = "distribution") -> Tensor:
    """``mean_i w_i (RS_i + KL_i)`` between two modalities' logits (see the module docstring)."""
    if z_a.shape != z_b.shape:
        raise ValueError(f"logit shapes differ: {tuple(z_a.shape)} vs {tuple(z_b.shape)}")
    if kl not in ("distribution", "true_class"):
        raise ValueError(f"kl must be 'distribution' or 'true_class', got {kl!r}")
    log_a, log_b = F.log_softmax(z_a, dim=1), F.log_softmax(z_b, dim=1)
    p_a_y = log_a.exp().gather(1, labels[:, None]).squeeze(1)
    p_b_y = log_b.exp().gather(1, labels[:, None]).squeeze(1)
    either_right = (z_a.argmax(1) == labels) | (z_b.argmax(1) == labels)
    weight = torch.where(either_right, (p_a_y - p_b_y).abs(), torch.zeros_like(p_a_y)).detach()
    if kl == "distribution":
        divergence = distribution_kl(log_a, log_b, p_a_y >= p_b_y)
    else:
        divergence = true_class_kl(p_a_y, p_b_y)
    rs = (z_a - z_b).pow(2).mean(1)
    return (weight * (rs + divergence)).mean()


@register
class MBSD(Method):
    """Fused and per-modality cross-entropy plus confidence-weighted distillation between modalities."""

    name = "mbsd"
    family = "learning objective"
    paper = Paper("Liu, Li, Song, Yang, Zeng", "Multimodal Pre-Training with Self-Distillation for Product "
                  "Understanding in E-Commerce", "WSDM", 2023, "https://doi.org/10.1145/3539597.3570423")
    sources = (Source("GeWu-Lab/BalanceBenchmark", "39ed569712e48ed97d9999a032ba6918a2d360b1",
                      "balancemm/trainer/MBSD_trainer.py", "MBSDTrainer.training_step",
                      note="no official code; BalanceBenchmark's implementation"),)
    differences = (
        Difference("The KL term is KL(p_strong || p_weak) over the full softmax distributions, computed from "
                   "log-probabilities, with the stronger modality's distribution detached (a teacher); "
                   "BalanceBenchmark computes F.kl_div(ps, pw) = pw (log pw - ps) from the two true-class "
                   "probabilities only, passing the probability ps where kl_div expects a log-probability, "
                   "with gradients through both.",
                   "The paper's self-distillation moves the dominant modality's knowledge to the weaker one: "
                   "a KL divergence between the two predictions, teacher fixed, does that; BalanceBenchmark's "
                   "expression is not a divergence (pw (log pw - ps) is never positive).", "kl='true_class'"),
        Difference("The sample weight w_i = |p_a[y_i] - p_b[y_i]| is a constant (detached); in "
                   "BalanceBenchmark it is written element by element into a tensor and carries gradients.",
                   "The weight says how much to distil, it is not itself a quantity to optimise."),
        Difference("RS is the mean squared difference of the logits for every pair; BalanceBenchmark uses "
                   "logits with two modalities but probabilities with three.",
                   "One rule for any number of modalities; with two it is BalanceBenchmark's."),
        Difference("The distillation applies in every epoch; BalanceBenchmark applies it only inside "
                   "modulation_starts..modulation_ends (plain CE of the fused output outside).",
                   "The course trains 15-20 epochs with no warm-up window."),
        Difference("More than two modalities: the average over all pairs (BalanceBenchmark spells out the "
                   "three pairs of three modalities).", "The same average, for any number of modalities."),
    )
    hyperparameter_ranges = {"kl": Choice(("distribution", "true_class"))}

    def __init__(self, kl: str = "distribution") -> None:
        self.kl = kl

    def loss(self, output: Output, batch: Batch) -> Tensor:
        ce = F.cross_entropy(output.fused, batch.y)
        unimodal = sum(F.cross_entropy(z, batch.y) for z in output.logits.values())
        pairs = list(combinations(output.logits, 2))
        distill = (sum(self_distillation(output.logits[a], output.logits[b], batch.y, self.kl) for a, b in pairs)
                   / len(pairs) if pairs else torch.zeros(()))
        self.log(distill=distill)
        return ce + unimodal + distill
