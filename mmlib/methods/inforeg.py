"""InfoReg: regulate the dominant modality during its prime learning window.

Paper: C. Huang, Y. Wei, Z. Yang, D. Hu, "Adaptive Unimodal Regulation for Balanced Multimodal
Information Acquisition", CVPR 2025, arXiv 2503.18595.

Idea: early in training, each encoder goes through a "prime learning window" in which
it acquires information fastest; if the dominant modality uses its window to fit the
task, the weak one never gets its turn. InfoReg watches the amount of information the
dominant encoder takes in (the trace of its empirical Fisher information) and, while
it is still rising, pulls the dominant encoder back towards where it started the
epoch (a proximal term), so the weak modality can catch up.

    L          = CE(fused) + sum_m CE(z_m)                      (z_m: head slices)
    tr_m(e)    = sum_layers mean( sum_steps g^2 )                (epoch e, encoder m's weights)
    k_m(e)     = (mean tr_m over the last w epochs - mean over the w epochs before, shifted by one)
                 / (mean over the last w epochs)
    window     = k_m > threshold  (and always in the first epoch)
    beta       = beta0 * exp(tanh(s_dom - mean_{j != dom} s_j))   (s: mean true-class probability)
    g_dom     += beta * (theta_dom - theta_dom(epoch start))     while in the window

Defaults and deliberate differences from the authors' code:

* ``window = 3`` epochs (the authors average 10, for 80-epoch runs) and
  ``threshold = 0.04`` (the code; 0.05 is also quoted), ``beta0 = 0.95`` (the
  coefficient the code applies to audio, its dominant modality).
* The authors hard-code audio as the regulated modality and measure only its trace;
  here the dominant modality is the one with the higher score on the batch, and its
  own trace decides. (The code's branch for regulating visual repeats the audio
  condition and can never run.)
* The scores are batch means of the true-class probability, not batch sums: with
  sums, ``tanh`` of the gap saturates at 1 for any realistic batch.
* The trace is accumulated from the loss gradients before the proximal term is added.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Batch
from ..metrics import true_class_score
from ..models import MultimodalModel, Output
from ..validation import Integer, Number
from .base import Method, encoder_parameters, register


def fisher_trace(squared_gradient_sums: Sequence[Tensor]) -> float:
    """``sum_layers mean(sum_steps g^2)``: the empirical Fisher trace of one epoch, layer-averaged."""
    return float(sum(s.mean() for s in squared_gradient_sums)) if squared_gradient_sums else 0.0


def information_growth(traces: Sequence[float], window: int) -> float:
    """Relative growth of the Fisher trace between two moving averages one epoch apart.

    ``(mean(tr[-w:]) - mean(tr[-w-1:-1])) / mean(tr[-w:])`` with ``w`` shrunk to the
    history available. With fewer than two epochs of history the growth is 1 (the
    first epochs are inside the window, as in the authors' code); 0 if the trace is 0.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if len(traces) < 2:
        return 1.0
    w = min(window, len(traces) - 1)
    recent = sum(traces[-w:]) / w
    before = sum(traces[-w - 1:-1]) / w
    return 0.0 if recent == 0 else (recent - before) / recent


def proximal_strength(scores: Mapping[str, float | Tensor], beta0: float) -> tuple[str, float]:
    """The dominant modality and its proximal coefficient ``beta0 * exp(tanh(s_dom - mean others))``.

    A tie regulates nobody: returns ``("", 0.0)``.
    """
    values = {m: float(s) for m, s in scores.items()}
    if len(values) < 2:
        raise ValueError(f"InfoReg needs at least two modalities, got {list(values)}")
    dominant = max(values, key=values.get)
    others = [v for m, v in values.items() if m != dominant]
    gap = values[dominant] - sum(others) / len(others)
    if gap <= 0:
        return "", 0.0
    return dominant, beta0 * math.exp(math.tanh(gap))


def _weight_layers(module: nn.Module) -> list[Tensor]:
    return [layer.weight for layer in module.modules()
            if isinstance(layer, (nn.Conv2d, nn.Linear)) and layer.weight.requires_grad]


@register
class InfoReg(Method):
    """InfoReg (Huang et al., CVPR 2025). See the module docstring."""

    name = "inforeg"
    family = "optimization"
    paper = ("Huang, Wei, Yang, Hu. Adaptive Unimodal Regulation for Balanced Multimodal Information Acquisition. "
             "CVPR 2025")
    # the growth k is at most 1 (and 1 in the first epochs): a threshold >= 1 would never open the window
    hyperparameter_ranges = {"beta0": Number(ge=0), "window": Integer(ge=1), "threshold": Number(ge=0, lt=1)}

    def __init__(self, beta0: float = 0.95, window: int = 3, threshold: float = 0.04) -> None:
        self.beta0 = beta0
        self.window = window
        self.threshold = threshold

    def setup(self, state) -> None:
        super().setup(state)
        self.traces: dict[str, list[float]] = {m: [] for m in state.model.modalities}

    def on_epoch_start(self, state) -> None:
        model = state.model
        self.anchor = {m: [p.detach().clone() for p in encoder_parameters(model, m)] for m in model.modalities}
        self.growth = {m: information_growth(self.traces[m], self.window) for m in model.modalities}
        self.squared = {m: [torch.zeros_like(w) for w in _weight_layers(model.encoders[m])]
                        for m in model.modalities}

    def loss(self, output: Output, batch: Batch) -> Tensor:
        unimodal = sum(F.cross_entropy(z, batch.y) for z in output.logits.values())
        return F.cross_entropy(output.fused, batch.y) + unimodal

    def after_backward(self, model: MultimodalModel, output: Output, batch: Batch) -> None:
        for m in model.modalities:
            for acc, w in zip(self.squared[m], _weight_layers(model.encoders[m])):
                if w.grad is not None:
                    acc += w.grad.detach() ** 2
        scores = {m: true_class_score(z.detach(), batch.y).item() / len(batch) for m, z in output.logits.items()}
        dominant, beta = proximal_strength(scores, self.beta0)
        active = bool(dominant) and self.growth[dominant] > self.threshold
        for m in model.modalities:
            self.log(**{f"beta_{m}": beta if active and m == dominant else 0.0,
                        f"in_window_{m}": float(self.growth[m] > self.threshold)})
        if not active:
            return
        for p, p0 in zip(encoder_parameters(model, dominant), self.anchor[dominant]):
            if p.grad is not None:
                p.grad += beta * (p.detach() - p0)

    def on_epoch_end(self, state) -> None:
        model = state.model
        for m in model.modalities:
            self.traces[m].append(fisher_trace(self.squared[m]))
        self.log(**{f"fisher_trace_{m}": self.traces[m][-1] for m in model.modalities})
