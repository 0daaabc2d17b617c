"""LFM: supervised learning and a modality-gap term, traded off over training.

Yang et al., "Facilitating Multimodal Classification via Dynamically Learning
Modality Gap", NeurIPS 2024.

Modalities fit the labels at different speeds; LFM intervenes in that fitting
with an unsupervised term that pulls the modalities' predictions together (a
Jensen-Shannon "modality gap") and integrates it with the supervised loss
through a trade-off that changes during training:

    L = 2 [ alpha_1(t) CE(mean_m z_m, y) + alpha_2(t) JS(p_1, ..., p_M) ],
    JS(p_1..p_M) = H(mean_m p_m) - mean_m H(p_m),     p_m = softmax(z_m),
    alpha_1 = 1 - alpha_2.

The trade-off here is **scheduled** (the paper's heuristic integration, not its
learned one): ``alpha_2`` goes linearly from ``gap_start`` in the first epoch to
``gap_end`` in the last. Early in training, when the imbalance forms, the gap
term is strong and drags the lagging modality's predictions towards the leading
one's; late in training the supervised term dominates.

Defaults: ``gap_start = 0.5``, ``gap_end = 0.05`` (0.05 is the floor and the
starting value of BalanceBenchmark's learned ``alpha_2``).
Deliberate differences: the authors' code fits 5th-degree polynomials of the
epoch to CREMA-D runs ("learning-fitted"), and BalanceBenchmark learns
``alpha_2`` by a hypergradient on a validation batch (which there is the test
split); a linear schedule is the simplest dynamic trade-off, needs no held-out
data, and leaves the epoch count free.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import Output
from ..validation import Number
from .base import Method, register


def js_divergence(probabilities: list[Tensor], eps: float = 1e-12) -> Tensor:
    """Generalised Jensen-Shannon divergence ``H(mean p) - mean H(p)`` (per sample, natural log), batch mean."""
    if len(probabilities) < 2:
        raise ValueError(f"JS divergence needs at least two distributions, got {len(probabilities)}")

    def entropy(p: Tensor) -> Tensor:
        return -(p * p.clamp_min(eps).log()).sum(dim=1)

    mixture = torch.stack(probabilities).mean(0)
    mean_entropy = torch.stack([entropy(p) for p in probabilities]).mean(0)
    return (entropy(mixture) - mean_entropy).clamp_min(0.0).mean()


def gap_weight(epoch: int, epochs: int, start: float, end: float) -> float:
    """``alpha_2`` at ``epoch`` of ``epochs``: linear from ``start`` (first epoch) to ``end`` (last)."""
    if epochs <= 1:
        return start
    return start + (end - start) * min(max(epoch, 0), epochs - 1) / (epochs - 1)


@register
class LFM(Method):
    """CE on the mean of the modalities' logits plus a scheduled JS modality-gap term."""

    name = "lfm"
    family = "learning objective"
    paper = "Yang et al., Facilitating Multimodal Classification via Dynamically Learning Modality Gap, NeurIPS 2024"
    hyperparameter_ranges = {"gap_start": Number(ge=0, le=1), "gap_end": Number(ge=0, le=1)}

    def __init__(self, gap_start: float = 0.5, gap_end: float = 0.05) -> None:
        self.gap_start = gap_start
        self.gap_end = gap_end

    def on_epoch_start(self, state) -> None:
        self.alpha_gap = gap_weight(state.epoch, state.epochs, self.gap_start, self.gap_end)
        self.log(alpha_gap=self.alpha_gap)

    def loss(self, output: Output, batch: Batch) -> Tensor:
        logits = list(output.logits.values())
        supervised = F.cross_entropy(torch.stack(logits).mean(0), batch.y)
        gap = js_divergence([F.softmax(z, dim=1) for z in logits])
        self.log(js=gap)
        return 2 * ((1 - self.alpha_gap) * supervised + self.alpha_gap * gap)
