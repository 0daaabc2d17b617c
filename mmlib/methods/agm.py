"""AGM: Adaptive Gradient Modulation with Shapley mono-modal responses.

Paper: H. Li, X. Li, P. Hu, Y. Lei, C. Li, Y. Zhou, "Boosting Multi-modal Model Performance
with Adaptive Gradient Modulation", ICCV 2023, arXiv 2308.07686.

OGM reads each modality's share of the fused output off the head slices, which only
works for additive fusion. AGM gets a modality's *mono-modal response* from the
model itself, by removing modalities and taking Shapley values of the fused logits
(a modality is removed by feeding zeros to its encoder, as the authors do):

    f(S)  = fused logits with the modalities outside S given zero input
    r_m   = phi_m(f) + f(empty) / M      (Shapley value; for M = 2:
                                          r_a = (f(a,v) - f(0,v) + f(a,0)) / 2)
    sum_m r_m = f(all modalities)        (the output is unchanged)

The loss is CE on ``sum_m r_m``; in the backward pass the gradient reaching r_m is
multiplied by ``c_m`` (the whole network sees it, not only the encoders). With the
per-modality loss ``s_m = mean_i -log softmax(r_m,i)[y_i]`` and running means
``S_m`` of ``s_m`` over the steps so far:

    ratio_m   = exp(mean_{j != m} s_j - s_m)      (> 1: m is currently the stronger)
    optimal_m = exp(mean_{j != m} S_j - S_m)
    c_m       = exp(alpha * min(optimal_m - ratio_m, 10))

so a modality that is ahead of its usual standing is slowed down, one that lags
behind is sped up. For M = 2 this is the original repository's sign,
``ratio_a = exp(s_v - s_a)``. **BalanceBenchmark differs**: it uses
``exp(M/(M-1) * (s_m - mean_j s_j))``, i.e. ``exp(s_a - s_v)`` for M = 2 -- the
opposite sign, which slows down the *weaker* modality -- computes the responses
under ``no_grad`` and scales the encoders' parameter gradients instead of the
responses' gradients.

Defaults and deliberate differences: ``alpha = 0.5`` (authors 1.0, BalanceBenchmark
0.1; our runs are short, so a middle value). The zero-input features are computed
once per step from a single zero sample and broadcast (the encoders are per
modality, so this equals the authors' padded forward passes, at a fraction of the
cost). For M > 2 the responses are exact Shapley values of the fused logits plus an
equal share of ``f(empty)``; with M = 2 this is the authors' formula.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..metrics import shapley_values
from ..models import MultimodalModel, Output
from ..validation import Number
from .base import Method, register


def shapley_responses(outputs: Mapping[frozenset[str], Tensor], modalities: Sequence[str]) -> dict[str, Tensor]:
    """Mono-modal responses ``r_m = phi_m + f(empty) / M`` from the outputs of every subset.

    ``outputs[S]`` is the fused output with only the modalities in ``S`` present
    (``outputs[frozenset()]`` with none). The responses sum to ``outputs[all]``.
    """
    missing = [set(s) for k in range(len(modalities) + 1) for s in map(frozenset, combinations(modalities, k))
               if s not in outputs]
    if missing:
        raise KeyError(f"shapley_responses needs the output of every subset; missing {missing}")
    phi = shapley_values(lambda subset: outputs[subset], modalities)
    share = outputs[frozenset()] / len(modalities)
    return {m: phi[m] + share for m in modalities}


def agm_coefficients(losses: Mapping[str, float], running_losses: Mapping[str, float], alpha: float,
                     cap: float = 10.0) -> dict[str, float]:
    """AGM's coefficients ``c_m = exp(alpha * min(optimal_m - ratio_m, cap))``.

    ``losses`` are the current per-modality losses ``s_m`` (lower = stronger),
    ``running_losses`` their running means; ``ratio_m = exp(mean_{j != m} s_j - s_m)``.
    """
    if len(losses) < 2:
        raise ValueError(f"AGM needs at least two modalities, got {list(losses)}")

    def ratio(values: Mapping[str, float], m: str) -> float:
        others = [v for j, v in values.items() if j != m]
        return math.exp(sum(others) / len(others) - values[m])

    return {m: math.exp(alpha * min(ratio(running_losses, m) - ratio(losses, m), cap)) for m in losses}


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """``x`` in the forward pass; its gradient is multiplied by ``factor`` in the backward pass."""
    return x * factor + x.detach() * (1.0 - factor)


@register
class AGM(Method):
    """AGM (Li et al., ICCV 2023). See the module docstring for the rule and the differences."""

    name = "agm"
    family = "optimization"
    paper = ("Li, Li, Hu, Lei, Li, Zhou. Boosting Multi-modal Model Performance with Adaptive Gradient Modulation. "
             "ICCV 2023")
    hyperparameter_ranges = {"alpha": Number(ge=0)}

    def __init__(self, alpha: float = 0.5) -> None:
        self.alpha = alpha

    def setup(self, state) -> None:
        super().setup(state)
        self.loss_sums: dict[str, float] = {}
        self.n_steps = 0

    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        names = model.modalities
        features = model.encode(batch.x)
        blank = model.encode({m: torch.zeros_like(batch.x[m][:1]) for m in names})
        outputs = {}
        for k in range(len(names) + 1):
            for subset in map(frozenset, combinations(names, k)):
                mixed = {m: features[m] if m in subset else blank[m].expand_as(features[m]) for m in names}
                outputs[subset] = model.fuse(mixed).fused
        responses = shapley_responses(outputs, names)
        losses = {m: F.cross_entropy(r.detach(), batch.y).item() for m, r in responses.items()}
        self.n_steps += 1
        for m, value in losses.items():
            self.loss_sums[m] = self.loss_sums.get(m, 0.0) + value
        running = {m: total / self.n_steps for m, total in self.loss_sums.items()}
        coefficients = agm_coefficients(losses, running, self.alpha)
        self.log(**{f"coef_{m}": c for m, c in coefficients.items()},
                 **{f"response_loss_{m}": v for m, v in losses.items()})
        fused = sum(scale_gradient(responses[m], coefficients[m]) for m in names)
        plain = model.fuse(features)
        return Output(fused, plain.logits, features)
