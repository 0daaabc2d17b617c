"""InfoReg: regulate the dominant modality during its prime learning window.

Paper: Huang, Wei, Yang, Hu, "Adaptive Unimodal Regulation for Balanced Multimodal
Information Acquisition", CVPR 2025, arXiv 2503.18595.

Idea: early in training, each encoder goes through a "prime learning window" in which
it acquires information fastest; if the dominant modality uses its window to fit the
task, the weak one never gets its turn. InfoReg watches the amount of information the
dominant encoder takes in (the trace of its empirical Fisher information) and, while
it is still rising, pulls the modality that leads the batch back towards where it
started the epoch (a proximal term), strongly when that is the dominant modality and
weakly when it is the other one:

    L          = CE(fused) + sum_m CE(z_m)                      (z_m: head slices)
    tr_m(e)    = sum_layers mean( sum_steps g^2 )                (epoch e, encoder m's weights)
    k(e)       = (sum tr_dom[-w:] - sum tr_dom[-w-1:-1]) / sum tr_dom[-w:]
                 over the trace history padded in front with w zeros (k = 1 in epoch 0)
    window     = k > threshold
    lead       = argmax_m s_m,   gap = s_lead - mean_{j != lead} s_j    (s: mean true-class probability)
    beta       = beta0     * exp(tanh(gap))   if lead is the dominant modality
                 beta_weak * exp(tanh(gap))   otherwise
    g_lead    += beta * (theta_lead - theta_lead(epoch start))   while in the window

This is the rule of the authors' current ``main.py`` (threshold 0.05, ten zero epochs in
front of the trace, 0.95 on audio -- their dominant modality -- and 0.1 on visual).
``beta_weak`` defaults to ``beta0 * 0.1 / 0.95`` (0.1 at the default ``beta0``), so
``beta0=0`` switches the regulation off entirely and leaves the unimodal losses: the
control that separates the two parts of the method.

``window = 3`` epochs instead of the authors' 10: their 10 zero-padded epochs cover the
first fifth of a 50-epoch run, and 3 do the same for the course's 15-epoch runs.
``threshold = 0.05`` as the authors': ``k`` estimates the per-epoch relative growth of
the trace (for a trace growing by a factor ``1 + r`` per epoch, ``k`` is about ``r``
whatever ``w``), so it does not depend on the run length.

Every difference from the authors' code is listed in ``InfoReg.differences`` (and in
:func:`mmlib.methods.ledger`).
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
from ..validation import Integer, Number, OrNone
from .base import Method, encoder_parameters, register
from .provenance import Difference, Paper, Source

AUTHORS_WEAK_SHARE = 0.1 / 0.95
"""The authors' coefficient on the non-dominant modality relative to the dominant one's (0.1 vs 0.95)."""


def fisher_trace(squared_gradient_sums: Sequence[Tensor]) -> float:
    """``sum_layers mean(sum_steps g^2)``: the empirical Fisher trace of one epoch, layer-averaged."""
    return float(sum(s.mean() for s in squared_gradient_sums)) if squared_gradient_sums else 0.0


def information_growth(traces: Sequence[float], window: int) -> float:
    """Relative growth ``k`` of the Fisher trace between two moving sums one epoch apart.

    ``(sum(tr[-w:]) - sum(tr[-w-1:-1])) / sum(tr[-w:])`` over the history padded in front
    with ``w`` zeros, as the authors do: in the first ``w`` epochs this is the latest trace's
    share of all traces so far (about ``1/n`` after n epochs of a flat trace), afterwards about the
    per-epoch growth rate. 1 before the first epoch has ended (the authors' ``k = 1`` in
    epoch 0); 0 when the recent traces are all zero (zero gradients), not a division by zero.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not traces:
        return 1.0
    padded = [0.0] * window + [float(t) for t in traces]
    recent = sum(padded[-window:])
    before = sum(padded[-window - 1:-1])
    return 0.0 if recent == 0 else (recent - before) / recent


def proximal_strengths(scores: Mapping[str, float | Tensor], dominant: str, beta0: float,
                       beta_weak: float) -> dict[str, float]:
    """The proximal coefficient of every modality on one batch (the authors' rule).

    The modality that leads the batch (highest score ``s``) gets ``c * exp(tanh(gap))``,
    ``gap = s_lead - mean of the others``, with ``c = beta0`` when it is ``dominant`` and
    ``c = beta_weak`` otherwise; every other modality gets 0. A tie regulates nobody.
    """
    values = {m: float(s) for m, s in scores.items()}
    if len(values) < 2:
        raise ValueError(f"InfoReg needs at least two modalities, got {list(values)}")
    if dominant not in values:
        raise ValueError(f"dominant modality {dominant!r} is not one of {list(values)}")
    lead = max(values, key=values.get)
    others = [v for m, v in values.items() if m != lead]
    gap = values[lead] - sum(others) / len(others)
    strengths = {m: 0.0 for m in values}
    if gap > 0:
        strengths[lead] = (beta0 if lead == dominant else beta_weak) * math.exp(math.tanh(gap))
    return strengths


def _weight_layers(module: nn.Module) -> list[Tensor]:
    return [layer.weight for layer in module.modules()
            if isinstance(layer, (nn.Conv2d, nn.Linear)) and layer.weight.requires_grad]


@register
class InfoReg(Method):
    """InfoReg (Huang et al., CVPR 2025). See the module docstring.

    The dominant modality (the authors' audio: its trace opens the window, it gets
    ``beta0``) is the one with the higher mean score over the previous epoch (in epoch 0,
    over the batches seen so far).
    """

    name = "inforeg"
    family = "optimization"
    paper = Paper("Huang, Wei, Yang, Hu",
                  "Adaptive Unimodal Regulation for Balanced Multimodal Information Acquisition",
                  "CVPR", 2025, "https://arxiv.org/abs/2503.18595")
    sources = (Source("GeWu-Lab/InfoReg_CVPR2025", "ea7b9d55e4dacc81bc27b586e1c2a68c1e60511e", "main.py",
                      "train_epoch"),)
    differences = (
        Difference("The trace is averaged over ``window = 3`` epochs (with 3 zero epochs in front); the authors "
                   "use 10.", "The window is tied to the run length: 10 of the authors' 50 epochs are the first "
                   "fifth of training, 3 of the course's 15 are too. ``window=10`` gives their setting.",
                   "window=10"),
        Difference("The dominant modality (whose trace opens the window and which gets ``beta0``) is the one "
                   "with the higher mean score over the previous epoch (in epoch 0, over the batches so far); "
                   "the authors hard-code audio, the dominant modality of their data sets.",
                   "The course's data sets have other modalities, and which one dominates is what the course "
                   "measures rather than assumes; where audio dominates, the rule picks audio."),
        Difference("``beta_weak`` is an option: a number replaces the authors' 0.1 on the non-dominant "
                   "modality (``beta_weak=0.95`` with ``beta0=0.95`` is the course's earlier rule, the same "
                   "strength on both).", "To show what the asymmetry does; the default is the authors' rule.",
                   "beta_weak=0.95"),
        Difference("The scores are batch means of the true-class probability; the authors use batch sums.",
                   "With sums, ``tanh`` of the gap is 1 for any realistic batch (the gap of a 64-sample batch "
                   "is tens), so beta would be a constant ``e * beta0``; with means the gap shapes it."),
        Difference("The Fisher trace is accumulated from the loss gradients before the proximal term is "
                   "added; the authors square the gradient after adding it.",
                   "The trace is meant to measure the information the task gives the encoder; the proximal "
                   "term is the method's own pull and would feed back into the window it decides."),
        Difference("A zero trace over the window gives growth 0 (window closed); the authors' code would "
                   "divide by zero.", "No exception or NaN when an encoder gets no gradient."),
        Difference("More than two modalities: the batch leader is compared with the mean score of the "
                   "others; the authors' code has two.", "An extension; with two modalities it is exactly "
                   "their rule."),
    )
    # the growth k is at most 1 (and 1 in the first epochs): a threshold >= 1 would never open the window
    hyperparameter_ranges = {"beta0": Number(ge=0), "beta_weak": OrNone(Number(ge=0)), "window": Integer(ge=1),
                             "threshold": Number(ge=0, lt=1)}

    def __init__(self, beta0: float = 0.95, beta_weak: float | None = None, window: int = 3,
                 threshold: float = 0.05) -> None:
        self.beta0 = beta0
        self.beta_weak = beta_weak
        self.window = window
        self.threshold = threshold

    @property
    def weak_strength(self) -> float:
        """The coefficient on the non-dominant modality: ``beta_weak``, or the authors' ``0.1/0.95 * beta0``."""
        return self.beta0 * AUTHORS_WEAK_SHARE if self.beta_weak is None else self.beta_weak

    def setup(self, state) -> None:
        super().setup(state)
        names = state.model.modalities
        self.traces: dict[str, list[float]] = {m: [] for m in names}
        self.reference: dict[str, float] | None = None  # mean scores of the previous epoch
        self.score_sums = {m: 0.0 for m in names}
        self.n_batches = 0

    def on_epoch_start(self, state) -> None:
        model = state.model
        if self.n_batches:
            self.reference = {m: s / self.n_batches for m, s in self.score_sums.items()}
        self.score_sums = {m: 0.0 for m in model.modalities}
        self.n_batches = 0
        self.anchor = {m: [p.detach().clone() for p in encoder_parameters(model, m)] for m in model.modalities}
        self.growth = {m: information_growth(self.traces[m], self.window) for m in model.modalities}
        self.squared = {m: [torch.zeros_like(w) for w in _weight_layers(model.encoders[m])]
                        for m in model.modalities}

    def loss(self, output: Output, batch: Batch) -> Tensor:
        unimodal = sum(F.cross_entropy(z, batch.y) for z in output.logits.values())
        return F.cross_entropy(output.fused, batch.y) + unimodal

    def dominant_modality(self) -> str:
        """The modality with the higher mean score over the previous epoch (epoch 0: the batches so far)."""
        reference = self.reference or self.score_sums  # epoch 0: the batches seen so far
        return max(reference, key=reference.get)

    def after_backward(self, model: MultimodalModel, output: Output, batch: Batch) -> None:
        for m in model.modalities:
            for acc, w in zip(self.squared[m], _weight_layers(model.encoders[m])):
                if w.grad is not None:
                    acc += w.grad.detach() ** 2
        scores = {m: true_class_score(z.detach(), batch.y).item() / len(batch) for m, z in output.logits.items()}
        for m, s in scores.items():
            self.score_sums[m] += s
        self.n_batches += 1
        dominant = self.dominant_modality()
        active = self.growth[dominant] > self.threshold
        betas = proximal_strengths(scores, dominant, self.beta0, self.weak_strength)
        for m in model.modalities:
            self.log(**{f"beta_{m}": betas[m] if active else 0.0, f"dominant_{m}": float(m == dominant),
                        f"in_window_{m}": float(self.growth[m] > self.threshold)})
        if not active:
            return
        for m, beta in betas.items():
            if beta == 0:
                continue
            for p, p0 in zip(encoder_parameters(model, m), self.anchor[m]):
                if p.grad is not None:
                    p.grad += beta * (p.detach() - p0)

    def on_epoch_end(self, state) -> None:
        model = state.model
        for m in model.modalities:
            self.traces[m].append(fisher_trace(self.squared[m]))
        self.log(**{f"fisher_trace_{m}": self.traces[m][-1] for m in model.modalities})
