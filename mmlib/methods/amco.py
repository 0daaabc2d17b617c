"""AMCo: Adaptive Mask Co-optimisation (feed-forward stage).

Paper: Y. Zhou, X. Liang, S. Zheng, H. Xuan, T. Kumada, "Adaptive Mask Co-Optimization
for Modal Dependence in Multimodal Learning", ICASSP 2023.

The modality the fused model *depends* on is found from its share of the batch's
true-class score, ``u_m = s_m / sum_k s_k`` with ``s_m = sum_i softmax(z_m,i)[y_i]``:
``m`` is dependent when ``u_m > sigma``. In the fused prediction, the logits of a
dependent modality lose a random subset of ``floor(p_t * C)`` classes per sample (set
to 0), so the fused loss must be met by the other modalities on those classes, while
the masking grows smoothly with training:

    p_t = p_max * sin(pi/2 * min(t, T) / T),    t = epoch + 1,  T = ramp_epochs,

    fused = sum_m mask_m * z_m,    L = CE(fused, y) + sum_m CE(z_m, y)   (co-optimisation).

Defaults: ``sigma = 0.5`` (BalanceBenchmark), ``p_max = 0.5``, ``ramp_epochs = 5``.

Deliberate differences from BalanceBenchmark's AMCo trainer (the only public code we
know of): BB ramps ``p_t`` per batch with a step that grows with the epoch and can mask
every class; we ramp per epoch and cap the masked fraction at ``p_max`` (all classes
masked would remove the modality from the fused output). BB fuses the masked logits
with an extra linear layer (``linear_star``); we keep the course's additive head, so
``fused`` is the plain sum of the (masked) per-modality logits, and BB's 2-GPU
``expand(2, -1)`` mask shape is replaced by a per-sample mask.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..metrics import true_class_score
from ..models import MultimodalModel, Output
from ..validation import Integer, Number
from .base import Method, register


def mask_ratio(epoch: int, ramp_epochs: int = 5, p_max: float = 0.5) -> float:
    """``p_t = p_max sin(pi/2 min(epoch + 1, T) / T)``: the fraction of classes masked at ``epoch``."""
    if ramp_epochs < 1:
        raise ValueError(f"ramp_epochs must be >= 1, got {ramp_epochs}")
    if not 0 <= p_max <= 1:
        raise ValueError(f"p_max must be in [0, 1], got {p_max}")
    return p_max * math.sin(math.pi / 2 * min(epoch + 1, ramp_epochs) / ramp_epochs)


def dependent_modalities(scores: Mapping[str, float], sigma: float = 0.5) -> dict[str, bool]:
    """``u_m = s_m / sum_k s_k > sigma``: which modalities the fused prediction depends on (none if all 0)."""
    total = sum(float(s) for s in scores.values())
    if total <= 0:
        return {m: False for m in scores}
    return {m: float(s) / total > sigma for m, s in scores.items()}


def class_mask(n: int, n_classes: int, n_masked: int, generator: torch.Generator | None = None) -> Tensor:
    """``(n, C)`` 0/1 mask with exactly ``n_masked`` random classes zeroed in each row."""
    if not 0 <= n_masked <= n_classes:
        raise ValueError(f"n_masked must be in [0, {n_classes}], got {n_masked}")
    ranks = torch.rand(n, n_classes, generator=generator).argsort(dim=1).argsort(dim=1)
    return (ranks >= n_masked).float()


@register
class AMCo(Method):
    """Adaptive masking of the dependent modality's logits, with unimodal co-optimisation."""

    name = "amco"
    family = "feed-forward"
    paper = ("Zhou, Liang, Zheng, Xuan, Kumada. Adaptive Mask Co-Optimization for Modal Dependence "
             "in Multimodal Learning. ICASSP 2023")
    hyperparameter_ranges = {"sigma": Number(ge=0, le=1), "p_max": Number(ge=0, le=1), "ramp_epochs": Integer(ge=1)}

    def __init__(self, sigma: float = 0.5, p_max: float = 0.5, ramp_epochs: int = 5) -> None:
        self.sigma, self.p_max, self.ramp_epochs = sigma, p_max, ramp_epochs

    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        output = model(batch)
        with torch.no_grad():
            scores = {m: true_class_score(z, batch.y).item() for m, z in output.logits.items()}
        dependent = dependent_modalities(scores, self.sigma)
        n_classes = output.fused.shape[1]
        ratio = mask_ratio(self.state.epoch, self.ramp_epochs, self.p_max)
        n_masked = int(math.floor(ratio * n_classes))
        logits = {}
        for m, z in output.logits.items():
            if dependent[m] and n_masked > 0:
                z = z * class_mask(len(batch), n_classes, n_masked, self.state.generator)
            logits[m] = z
        self.log(mask_ratio=n_masked / n_classes, **{f"dependent_{m}": float(d) for m, d in dependent.items()})
        self._unimodal = output.logits
        return Output(torch.stack(list(logits.values())).sum(0), logits, output.features)

    def loss(self, output: Output, batch: Batch) -> Tensor:
        unimodal = getattr(self, "_unimodal", output.logits)
        return F.cross_entropy(output.fused, batch.y) + sum(F.cross_entropy(z, batch.y) for z in unimodal.values())
