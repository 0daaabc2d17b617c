"""AGM: Adaptive Gradient Modulation with Shapley mono-modal responses.

Paper: Li, Li, Hu, Lei, Li, Zhou, "Boosting Multi-modal Model Performance
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
per-modality loss ``s_m = mean_i -log max(softmax(r_m,i)[y_i], 1e-8)`` and ``S_m`` the
mean of ``s_m`` over the *previous* steps of the run (0 before the first):

    ratio_m   = exp(mean_{j != m} s_j - s_m)      (> 1: m is currently the stronger)
    optimal_m = exp(mean_{j != m} S_j - S_m)
    c_m       = exp(alpha * min(optimal_m - ratio_m, 10))

so a modality that is ahead of its usual standing is slowed down, one that lags
behind is sped up. The floor 1e-8 on the probability (the authors') bounds each loss
by ``-log(1e-8) = 18.4``, so ``ratio_m`` stays below ``1e8`` and ``c_m`` finite: without
it ``exp`` overflows once two losses differ by more than about 710. For M = 2 this is
the original repository's sign, ``ratio_a = exp(s_v - s_a)``. (BalanceBenchmark's
version uses ``exp(M/(M-1) * (s_m - mean_j s_j))``, i.e. ``exp(s_a - s_v)`` for M = 2 --
the opposite sign, which slows down the *weaker* modality -- computes the responses
under ``no_grad`` and scales the encoders' parameter gradients instead.)

Every difference from the authors' code is listed in ``AGM.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Mapping, Sequence

import torch
from torch import Tensor

from ..data import Batch
from ..metrics import shapley_values
from ..models import MultimodalModel, Output
from ..validation import Number
from .base import Method, register
from .provenance import Difference, Paper, Source

PROBABILITY_FLOOR = 1e-8
"""The authors' floor on the true-class probability of a response (a loss is at most ``-log(1e-8)``)."""
MAX_LOSS = -math.log(PROBABILITY_FLOOR)


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


def response_losses(responses: Mapping[str, Tensor], labels: Tensor,
                    floor: float = PROBABILITY_FLOOR) -> dict[str, float]:
    """``s_m = mean_i -log max(softmax(r_m,i)[y_i], floor)`` for every response (no gradient).

    The floor is the authors': a sample whose true-class probability is below it counts
    ``-log(floor)`` (18.4 for 1e-8), so no loss is infinite.
    """
    losses = {}
    for m, r in responses.items():
        p = torch.softmax(r.detach().double(), dim=1).gather(1, labels[:, None]).squeeze(1)
        losses[m] = float(-torch.log(p.clamp_min(floor)).mean())
    return losses


def agm_coefficients(losses: Mapping[str, float], running_losses: Mapping[str, float], alpha: float,
                     cap: float = 10.0) -> dict[str, float]:
    """AGM's coefficients ``c_m = exp(alpha * min(optimal_m - ratio_m, cap))``.

    ``losses`` are the current per-modality losses ``s_m`` (lower = stronger),
    ``running_losses`` their means over the previous steps (0 before the first);
    ``ratio_m = exp(mean_{j != m} s_j - s_m)``. Losses are clipped to ``[0, -log(1e-8)]``,
    the range the authors' probability floor gives them, so a gap of any size gives finite
    coefficients (a hugely ahead modality gets ``c = 0``, not an overflow).
    """
    if len(losses) < 2:
        raise ValueError(f"AGM needs at least two modalities, got {list(losses)}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")

    def ratio(values: Mapping[str, float], m: str) -> float:
        bounded = {j: min(max(float(v), 0.0), MAX_LOSS) for j, v in values.items()}
        others = [v for j, v in bounded.items() if j != m]
        return math.exp(sum(others) / len(others) - bounded[m])

    return {m: math.exp(alpha * min(ratio(running_losses, m) - ratio(losses, m), cap)) for m in losses}


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """``x`` in the forward pass; its gradient is multiplied by ``factor`` in the backward pass."""
    return x * factor + x.detach() * (1.0 - factor)


@register
class AGM(Method):
    """AGM (Li et al., ICCV 2023). See the module docstring."""

    name = "agm"
    family = "optimization"
    paper = Paper("Li, Li, Hu, Lei, Li, Zhou", "Boosting Multi-modal Model Performance with Adaptive Gradient "
                  "Modulation", "ICCV", 2023, "https://arxiv.org/abs/2308.07686")
    sources = (Source("lihong2303/AGM", "77670a4592ead95f61ff16f2d17e8433b185ec31", "run/CREMAD_main.py", "train"),
               Source("lihong2303/AGM", "b8b3a436c0f229d5ffc60fa473e4ed4b613b0c71", "model/CREMAD_net.py",
                      "GradMod"))
    differences = (
        Difference("``alpha = 0.5``; the authors' default is 1.0 (BalanceBenchmark's 0.1).",
                   "The course's runs are short (15-20 epochs); a middle value. ``alpha=1.0`` gives theirs.",
                   "alpha=1.0"),
        Difference("No gradient clipping; the authors clip the norm of all gradients to 1 whenever an entry "
                   "of the fusion head's weight gradient leaves [-1, 1].",
                   "Every method in the course trains with the same optimizer and no clipping, so a comparison "
                   "with the baseline measures the modulation alone; the probability floor already keeps the "
                   "coefficients finite."),
        Difference("The zero-input features are computed once per step from a single zero sample and "
                   "broadcast; the authors run the padded inputs through the network (in eval mode).",
                   "The course's encoders are per modality and have no batch norm or dropout, so this equals "
                   "their padded forward passes at a fraction of the cost."),
        Difference("More than two modalities: the responses are exact Shapley values of the fused logits plus "
                   "an equal share of ``f(empty)``, and each loss is compared with the mean of the others'; the "
                   "authors' code has two.", "An extension; with two modalities it is exactly their formula."),
        Difference("The modulation runs for the whole run; the authors' scripts take a "
                   "``modulation_starts``/``modulation_ends`` window.",
                   "The course trains 15-20 epochs, inside the authors' window."),
    )
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
        losses = response_losses(responses, batch.y)
        running = ({m: total / self.n_steps for m, total in self.loss_sums.items()} if self.n_steps
                   else {m: 0.0 for m in names})  # the previous steps only, as the authors
        coefficients = agm_coefficients(losses, running, self.alpha)
        self.n_steps += 1
        for m, value in losses.items():
            self.loss_sums[m] = self.loss_sums.get(m, 0.0) + value
        self.log(**{f"coef_{m}": c for m, c in coefficients.items()},
                 **{f"response_loss_{m}": v for m, v in losses.items()})
        fused = sum(scale_gradient(responses[m], coefficients[m]) for m in names)
        plain = model.fuse(features)
        return Output(fused, plain.logits, features)
