"""CML: Calibrating Multimodal Learning — removing a modality must not raise confidence.

H. Ma, Q. Zhang, C. Zhang, B. Wu, H. Fu, J. T. Zhou, Q. Hu, "Calibrating Multimodal Learning",
ICML 2023, arXiv 2306.01265.

A well-calibrated multimodal classifier should be *less* confident, never more,
when one of its modalities is taken away. A model that leans on one modality
violates this: without the weaker modality it is just as (or more) confident.
CML adds a hinge penalty on every such violation:

    conf(x)     = max_c softmax(fused(x))_c
    conf_-m(x)  = max_c softmax(fused(x without m))_c          (m's features zeroed)
    L = 1/2 [CE(fused) + mean_m CE(fused_-m)]
        + lambda * mean_m mean_i max(0, conf_-m(x_i) - conf(x_i)).

Defaults: ``lam = 0.1`` (BalanceBenchmark).
Deliberate differences from BalanceBenchmark: it removes one randomly ordered
modality per step and applies the hinge to the *batch sum* of confidence
differences (so violations on some samples cancel against margins on others);
we remove every modality in turn (deterministic, the same cost for two
modalities) and apply the hinge per sample, as the paper's regulariser is
stated. A removed modality's features are zeroed after its encoder, so the
fused bias is kept (for two modalities this equals BalanceBenchmark's
``out - z_m + b/2``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..metrics import subset_output
from ..models import Output
from ..validation import Number
from .base import Method, register


def confidence_penalty(full_logits: Tensor, removed_logits: Tensor) -> Tensor:
    """``mean_i max(0, conf_removed_i - conf_full_i)`` with ``conf = max softmax``."""
    if full_logits.shape != removed_logits.shape:
        raise ValueError(f"logit shapes differ: {tuple(full_logits.shape)} vs {tuple(removed_logits.shape)}")
    conf_full = F.softmax(full_logits, dim=1).max(dim=1).values
    conf_removed = F.softmax(removed_logits, dim=1).max(dim=1).values
    return F.relu(conf_removed - conf_full).mean()


@register
class CML(Method):
    """Cross-entropy with and without each modality, plus a hinge on confidence rising without it."""

    name = "cml"
    family = "learning objective"
    paper = "Ma, Zhang, Zhang, Wu, Fu, Zhou, Hu. Calibrating Multimodal Learning. ICML 2023"
    hyperparameter_ranges = {"lam": Number(ge=0)}

    def __init__(self, lam: float = 0.1) -> None:
        self.lam = lam

    def loss(self, output: Output, batch: Batch) -> Tensor:
        model = self.state.model
        modalities = list(output.features)
        removed_ce, penalty = torch.zeros(()), torch.zeros(())
        for m in modalities:
            without = subset_output(model, output.features, [k for k in modalities if k != m]).fused
            removed_ce = removed_ce + F.cross_entropy(without, batch.y) / len(modalities)
            penalty = penalty + confidence_penalty(output.fused, without) / len(modalities)
        self.log(confidence_penalty=penalty)
        return 0.5 * (F.cross_entropy(output.fused, batch.y) + removed_ce) + self.lam * penalty
