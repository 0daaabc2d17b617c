"""Greedy: balancing the conditional learning speed of modalities (feed-forward stage).

Paper: N. Wu, S. Jastrzębski, K. Cho, K. J. Geras, "Characterizing and Overcoming the
Greedy Nature of Learning in Multi-modal Deep Neural Networks", ICML 2022.

**Architecture.** A small MMTM block (Joze et al., CVPR 2020) lets the modalities talk
before the head: a shared squeeze ``s = relu(V [h_1; ...; h_M] + c)`` and one excitation
per modality, ``h_m' = h_m * sigmoid(E_m s + e_m)`` (the authors' gate; the MMTM paper's
``2 sigmoid`` is ``gate_scale=2``). The squeeze has ``2 * sum_m d_m / reduction`` units.
``E_m`` and the shared squeeze ``V`` are modality ``m``'s *bypass*: the path by which the
other modalities reach ``m``'s branch.

**Conditional utilisation rate** (what the paper measures):
``u(m | rest) = (A(all) - A(all without m)) / A(all)``: the share of the fused accuracy
lost when ``m`` is removed (features zeroed).

**Conditional learning speed** (its cheap proxy, measured while training). On every step
that is not a re-balancing step, for each modality the relative gradient energy of a
group of parameters is a *ratio of sums*, ``r(G) = sum_{p in G} |g_p|^2 / sum_{p in G} |p|^2``,
and it is accumulated over steps:

    BDR_m = log10( sum_t r_t(bypass_m) / sum_t r_t(encoder_m) ),   bypass_m = {E_m, V}.

A modality with a large BDR learns mostly *through the other modalities*. From epoch
``start_epoch`` on, when ``max_m BDR_m - min_m BDR_m > threshold`` the next ``window``
steps are **re-balancing steps** for the modality with the largest BDR: its excitation
is replaced by its running average (the cumulative mean of its gate over all training
steps so far), so nothing from the others reaches its branch and only its own encoder
can reduce the loss. The speeds are not accumulated during re-balancing steps.

Defaults (the authors' ``training_guided.gin``): ``threshold = 0.01``, ``window = 5``,
``start_epoch = 2``, MMTM reduction 4. Every difference from the authors' code is listed
in ``Greedy.differences`` (and in :func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Mapping

import torch
from torch import Tensor, nn

from ..data import Batch, MultimodalDataset
from ..models import MultimodalModel, Output, evaluating
from ..validation import Choice, Flag, Integer, Number
from .base import Method, feature_widths, register
from .provenance import Difference, Paper, Source

if TYPE_CHECKING:
    from ..train import TrainState


# -- the pure math -----------------------------------------------------------------------------

def conditional_utilization_rate(acc_all: float, acc_without: float) -> float:
    """``u(m | rest) = (A(all) - A(without m)) / A(all)`` (0 if ``A(all) = 0``)."""
    return 0.0 if acc_all <= 0 else (acc_all - acc_without) / acc_all


SPEED_RULES = ("ratio_of_sums", "sum_of_ratios")
AVERAGES = ("cumulative", "ema")


def relative_gradient_energy(params: Iterable[nn.Parameter], rule: str = "ratio_of_sums") -> float:
    """The relative gradient energy of a group of parameters (those that have a gradient).

    ``"ratio_of_sums"`` (the authors'): ``sum_p |grad_p|^2 / sum_p |p|^2``, 0 when the
    weights are all 0. ``"sum_of_ratios"`` (the course's earlier rule):
    ``sum_p |grad_p|^2 / |p|^2`` over parameters with a non-zero weight.
    """
    if rule not in SPEED_RULES:
        raise ValueError(f"rule must be one of {SPEED_RULES}, got {rule!r}")
    grads, weights, ratios = 0.0, 0.0, 0.0
    for p in params:
        if p.grad is None:
            continue
        g = p.grad.detach().pow(2).sum().item()
        w = p.detach().pow(2).sum().item()
        grads, weights = grads + g, weights + w
        if w > 0:
            ratios += g / w
    if rule == "sum_of_ratios":
        return ratios
    return grads / weights if weights > 0 else 0.0


def bypass_dominance(main: Mapping[str, float], bypass: Mapping[str, float]) -> dict[str, float]:
    """``BDR_m = log10(bypass_m / main_m)`` (the conditional learning speed; 0 while either is 0)."""
    return {m: math.log10(bypass[m] / main[m]) if main[m] > 0 and bypass[m] > 0 else 0.0 for m in main}


def modality_to_rebalance(bdr: Mapping[str, float], threshold: float) -> str | None:
    """The modality with the largest BDR if the spread exceeds ``threshold``, else None.

    With two modalities this is the authors' rule: ``|BDR_0 - BDR_1| > threshold`` re-balances
    the one with the larger BDR.
    """
    if len(bdr) < 2:
        return None
    if max(bdr.values()) - min(bdr.values()) <= threshold:
        return None
    return max(bdr, key=lambda m: bdr[m])


# -- the cross-modal block ---------------------------------------------------------------------

class MMTM(nn.Module):
    """Multimodal transfer module on per-modality feature vectors (squeeze, then one excitation each).

    The gate is ``gate_scale * sigmoid(.)`` (1: the authors' code; 2: the MMTM paper).
    ``curated`` names the modalities whose excitation is replaced by its running average
    while training (evaluation always uses the full block). The average is the cumulative
    mean of the gate over training forward passes (``average="cumulative"``, the authors')
    or an exponential moving average with ``momentum`` (``average="ema"``).
    """

    def __init__(self, dims: Mapping[str, int], reduction: int = 4, momentum: float = 0.1,
                 gate_scale: float = 1.0, average: str = "cumulative") -> None:
        super().__init__()
        if average not in AVERAGES:
            raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")
        self.dims = dict(dims)
        total = sum(self.dims.values())
        squeezed = max(1, int(2 * total / reduction))
        self.squeeze = nn.Linear(total, squeezed)
        self.excite = nn.ModuleDict({m: nn.Linear(squeezed, d) for m, d in self.dims.items()})
        for m, d in self.dims.items():
            self.register_buffer(f"average_{m}", torch.full((d,), gate_scale / 2))
        self.register_buffer("average_steps", torch.zeros((), dtype=torch.long))
        self.momentum, self.gate_scale, self.average = momentum, gate_scale, average
        self.curated: set[str] = set()

    def bypass_parameters(self, modality: str) -> list[nn.Parameter]:
        """``E_m`` and the shared squeeze ``V``: the path by which the others reach ``modality`` (authors)."""
        return list(self.excite[modality].parameters()) + list(self.squeeze.parameters())

    def forward(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        s = torch.relu(self.squeeze(torch.cat([features[m] for m in self.dims], dim=1)))
        gates = {m: self.gate_scale * torch.sigmoid(layer(s)) for m, layer in self.excite.items()}
        if self.training:
            n = int(self.average_steps)
            for m, gate in gates.items():
                average = getattr(self, f"average_{m}")
                if self.average == "cumulative":
                    average.mul_(n / (n + 1)).add_(gate.detach().mean(0) / (n + 1))
                else:
                    average.mul_(1 - self.momentum).add_(self.momentum * gate.detach().mean(0))
            self.average_steps += 1
        out = {}
        for m, gate in gates.items():
            if self.training and m in self.curated:
                gate = getattr(self, f"average_{m}").expand_as(gate)
            out[m] = features[m] * gate
        return out


class MMTMHead(nn.Module):
    """An MMTM block followed by the model's own fusion head (same ``(fused, logits)`` contract)."""

    def __init__(self, mmtm: MMTM, head: nn.Module) -> None:
        super().__init__()
        self.mmtm = mmtm
        self.head = head

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        return self.head(self.mmtm(features))


@register
class Greedy(Method):
    """MMTM cross-modal block + re-balancing steps driven by the conditional learning speed.

    Hyperparameters (default; valid range): ``threshold`` (0.01; a number >= 0),
    ``window`` (5 steps; an int >= 1), ``start_epoch`` (2; an int >= 0, the first epoch
    with re-balancing), ``reduction`` (4; an int >= 1), ``rebalance`` (True; False trains
    the same MMTM model without re-balancing — the fair baseline for this architecture),
    ``speed`` ("ratio_of_sums"), ``gate_scale`` (1.0), ``average`` ("cumulative").
    """

    name = "greedy"
    family = "feed-forward"
    paper = Paper("Wu, Jastrzębski, Cho, Geras",
                  "Characterizing and Overcoming the Greedy Nature of Learning in Multi-modal Deep Neural Networks",
                  "ICML", 2022, "https://arxiv.org/abs/2202.05306")
    sources = (
        Source("nyukat/greedy_multimodal_learning", "cf28c4c7bc3eeaec4baa79f47001cc5396497cef",
               "src/callbacks.py", "Bias_Mitigation_Strong.compute_BDR, Bias_Mitigation_Strong.on_backward_end"),
        Source("nyukat/greedy_multimodal_learning", "cf28c4c7bc3eeaec4baa79f47001cc5396497cef",
               "src/balanced_mmtm.py", "MMTM_mitigate.forward"),
        Source("GeWu-Lab/BalanceBenchmark", "39ed569712e48ed97d9999a032ba6918a2d360b1",
               "balancemm/trainer/Greedy_trainer.py", "GreedyTrainer.compute_learning_speed",
               note="BalanceBenchmark's port; same rule"),
    )
    differences = (
        Difference("One MMTM block on the encoders' output vectors; the authors put blocks after ResNet "
                   "layers 1-4 (on feature maps, squeezed by global average pooling).",
                   "The course's encoders are small MLPs with one output vector per modality."),
        Difference("The per-modality logits are the course's additive decomposition of the head *after* the "
                   "MMTM block (each logits[m] reads only m's branch, which the others can only rescale "
                   "channel by channel); the authors' model has no such decomposition.",
                   "So fused == sum(logits.values()) holds, as for every method in the course."),
        Difference("The running average of a gate is updated on training forward passes only, and from the "
                   "modality's own gate; the authors update it on every forward pass (evaluation included) "
                   "and their skeleton branch averages the visual gate (a slip). Evaluation never uses the "
                   "averaged gate (curation acts in training mode only).",
                   "Test data must not leak into training state, and each branch should average its own gate."),
        Difference("More than two modalities: the modality with the largest BDR is re-balanced when the "
                   "spread max - min exceeds the threshold; the authors' code has two.",
                   "An extension; with two modalities it is exactly their |BDR_0 - BDR_1| > epsilon rule."),
        Difference("Zero weights or gradients give a relative energy of 0 and a BDR of 0 (no re-balancing "
                   "from it); the authors' code divides by zero.", "No NaN or inf reaches the decision."),
        Difference("The course's earlier variants remain available: per-parameter ratios summed (without the "
                   "shared squeeze), a 2 sigmoid gate (the MMTM paper's) and an exponential moving average.",
                   "The sum of per-parameter ratios flips the sign of BDR_0 - BDR_1 on most steps, so it picks "
                   "the other modality; kept to show that.",
                   "speed='sum_of_ratios', gate_scale=2.0, average='ema'"),
    )
    hyperparameter_ranges = {"threshold": Number(ge=0), "window": Integer(ge=1), "reduction": Integer(ge=1),
                             "rebalance": Flag(), "start_epoch": Integer(ge=0), "speed": Choice(SPEED_RULES),
                             "gate_scale": Number(gt=0), "average": Choice(AVERAGES)}

    def __init__(self, threshold: float = 0.01, window: int = 5, reduction: int = 4, rebalance: bool = True,
                 start_epoch: int = 2, speed: str = "ratio_of_sums", gate_scale: float = 1.0,
                 average: str = "cumulative") -> None:
        self.threshold, self.window, self.reduction, self.rebalance = threshold, window, reduction, rebalance
        self.start_epoch, self.speed, self.gate_scale, self.average = start_epoch, speed, gate_scale, average

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        if not isinstance(model.head, MMTMHead):
            dims = feature_widths(model, self.name)
            model.head = MMTMHead(MMTM(dims, self.reduction, gate_scale=self.gate_scale, average=self.average),
                                  model.head)

    def setup(self, state: "TrainState") -> None:
        super().setup(state)
        names = state.model.modalities
        self.main = {m: 0.0 for m in names}
        self.bypass = {m: 0.0 for m in names}
        self.bdr = {m: 0.0 for m in names}
        self.steps_left = 0

    def bypass_parameters(self, mmtm: MMTM, modality: str) -> list[nn.Parameter]:
        if self.speed == "sum_of_ratios":
            return list(mmtm.excite[modality].parameters())  # the course's earlier rule: no shared squeeze
        return mmtm.bypass_parameters(modality)

    def after_backward(self, model: MultimodalModel, output: Output, batch: Batch) -> None:
        mmtm: MMTM = model.head.mmtm
        if self.steps_left > 0:  # a re-balancing step: the authors measure nothing
            self.steps_left -= 1
            if self.steps_left == 0:
                mmtm.curated = set()
        else:
            for m in model.modalities:
                self.main[m] += relative_gradient_energy(model.encoders[m].parameters(), self.speed)
                self.bypass[m] += relative_gradient_energy(self.bypass_parameters(mmtm, m), self.speed)
            self.bdr = bypass_dominance(self.main, self.bypass)
            if self.rebalance and self.state.epoch >= self.start_epoch:
                target = modality_to_rebalance(self.bdr, self.threshold)
                if target is not None:
                    mmtm.curated, self.steps_left = {target}, self.window
        self.log(**{f"bdr_{m}": v for m, v in self.bdr.items()})
        for m in model.modalities:
            self.log(**{f"rebalancing_{m}": float(m in mmtm.curated)})

    def on_epoch_end(self, state: "TrainState") -> None:
        model = state.model
        with evaluating(model):  # evaluation mode: the full MMTM block, re-balancing or not
            batch = state.data.split("val")
            features = model.encode(batch.x)
            full = (model.fuse(features).fused.argmax(1) == batch.y).float().mean().item()
            for m in features:
                without = {k: torch.zeros_like(f) if k == m else f for k, f in features.items()}
                acc = (model.fuse(without).fused.argmax(1) == batch.y).float().mean().item()
                self.log(**{f"utilization_{m}": conditional_utilization_rate(full, acc)})
