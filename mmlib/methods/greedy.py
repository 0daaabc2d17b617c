"""Greedy: balancing the conditional learning speed of modalities (feed-forward stage).

Paper: N. Wu, S. Jastrzębski, K. Cho, K. J. Geras, "Characterizing and Overcoming the
Greedy Nature of Learning in Multi-modal Deep Neural Networks", ICML 2022.

**Architecture.** A small MMTM block (Joze et al., CVPR 2020) lets the modalities talk
before the head: a shared squeeze ``s = relu(V [h_1; ...; h_M] + c)`` and one excitation
per modality, ``h_m' = h_m * 2 sigmoid(E_m s + e_m)``. ``E_m`` is modality ``m``'s
*bypass*: the path by which the other modalities reach ``m``'s branch.

**Conditional utilisation rate** (what the paper measures):
``u(m | rest) = (A(all) - A(all without m)) / A(all)``: the share of the fused accuracy
lost when ``m`` is removed (features zeroed).

**Conditional learning speed** (its cheap proxy, measured while training): for each
modality, the cumulative relative gradient energy of its bypass over its own encoder,

    BDR_m = log10( sum_t sum_{p in E_m} |g_p|^2/|p|^2  /  sum_t sum_{p in encoder_m} |g_p|^2/|p|^2 ).

A modality with a large BDR learns mostly *through the other modalities*. When
``max_m BDR_m - min_m BDR_m > threshold``, the next ``window`` steps are
**re-balancing steps** for the modality with the largest BDR: its excitation is
replaced by its running average, so nothing from the others reaches its branch and
only its own encoder can reduce the loss.

Defaults: ``threshold = 0.01`` (BalanceBenchmark uses 0.001 on the cumulative ratio;
with our small encoders the speeds differ by orders of magnitude more, so the choice
matters little), ``window = 5`` (BB), MMTM reduction 4 (BB).

Deliberate differences from BalanceBenchmark (the original repository was not
checked): one MMTM block on the encoder outputs instead of blocks after ResNet
layers 1-4; no hard-coded batch size; the per-modality logits are the course's
additive decomposition of the head *after* the MMTM block (each ``logits[m]`` reads
only ``m``'s branch, which the other modalities can only rescale channel by channel),
so ``fused == sum(logits.values())`` still holds.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterable, Mapping

import torch
from torch import Tensor, nn

from ..data import Batch, MultimodalDataset
from ..models import MultimodalModel, Output, evaluating
from ..validation import Flag, Integer, Number
from .base import Method, register

if TYPE_CHECKING:
    from ..train import TrainState


# -- the pure math -----------------------------------------------------------------------------

def conditional_utilization_rate(acc_all: float, acc_without: float) -> float:
    """``u(m | rest) = (A(all) - A(without m)) / A(all)`` (0 if ``A(all) = 0``)."""
    return 0.0 if acc_all <= 0 else (acc_all - acc_without) / acc_all


def relative_gradient_energy(params: Iterable[nn.Parameter]) -> float:
    """``sum_p |grad_p|^2 / |p|^2`` over parameters that have a gradient and a non-zero weight."""
    total = 0.0
    for p in params:
        if p.grad is not None:
            norm = p.detach().pow(2).sum().item()
            if norm > 0:
                total += p.grad.detach().pow(2).sum().item() / norm
    return total


def bypass_dominance(main: Mapping[str, float], bypass: Mapping[str, float]) -> dict[str, float]:
    """``BDR_m = log10(bypass_m / main_m)`` (the conditional learning speed; 0 while either is 0)."""
    return {m: math.log10(bypass[m] / main[m]) if main[m] > 0 and bypass[m] > 0 else 0.0 for m in main}


def modality_to_rebalance(bdr: Mapping[str, float], threshold: float) -> str | None:
    """The modality with the largest BDR if the spread exceeds ``threshold``, else None."""
    if len(bdr) < 2:
        return None
    if max(bdr.values()) - min(bdr.values()) <= threshold:
        return None
    return max(bdr, key=lambda m: bdr[m])


# -- the cross-modal block ---------------------------------------------------------------------

class MMTM(nn.Module):
    """Multimodal transfer module on per-modality feature vectors (squeeze, then one excitation each).

    ``curated`` names the modalities whose excitation is replaced by its running
    average (a buffer updated while training and not curated).
    """

    def __init__(self, dims: Mapping[str, int], reduction: int = 4, momentum: float = 0.1) -> None:
        super().__init__()
        self.dims = dict(dims)
        total = sum(self.dims.values())
        squeezed = max(1, total // reduction)
        self.squeeze = nn.Linear(total, squeezed)
        self.excite = nn.ModuleDict({m: nn.Linear(squeezed, d) for m, d in self.dims.items()})
        for m, d in self.dims.items():
            self.register_buffer(f"average_{m}", torch.ones(d))
        self.momentum = momentum
        self.curated: set[str] = set()

    def forward(self, features: Mapping[str, Tensor]) -> dict[str, Tensor]:
        s = torch.relu(self.squeeze(torch.cat([features[m] for m in self.dims], dim=1)))
        out = {}
        for m, layer in self.excite.items():
            gate = 2 * torch.sigmoid(layer(s))
            average = getattr(self, f"average_{m}")
            if m in self.curated:
                gate = average.expand_as(gate)
            elif self.training:
                average.mul_(1 - self.momentum).add_(self.momentum * gate.detach().mean(0))
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
    ``window`` (5 steps; an int >= 1), ``reduction`` (4; an int >= 1), ``rebalance``
    (True; False trains the same MMTM model without re-balancing — the fair baseline
    for this architecture).
    """

    name = "greedy"
    family = "feed-forward"
    paper = ("Wu, Jastrzębski, Cho, Geras. Characterizing and Overcoming the Greedy Nature of Learning "
             "in Multi-modal Deep Neural Networks. ICML 2022")
    hyperparameter_ranges = {"threshold": Number(ge=0), "window": Integer(ge=1), "reduction": Integer(ge=1),
                             "rebalance": Flag()}

    def __init__(self, threshold: float = 0.01, window: int = 5, reduction: int = 4, rebalance: bool = True) -> None:
        self.threshold, self.window, self.reduction, self.rebalance = threshold, window, reduction, rebalance

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        if not isinstance(model.head, MMTMHead):
            dims = {m: enc.out_dim for m, enc in model.encoders.items()}
            model.head = MMTMHead(MMTM(dims, self.reduction), model.head)

    def setup(self, state: "TrainState") -> None:
        super().setup(state)
        names = state.model.modalities
        self.main = {m: 0.0 for m in names}
        self.bypass = {m: 0.0 for m in names}
        self.steps_left = 0

    def after_backward(self, model: MultimodalModel, output: Output, batch: Batch) -> None:
        mmtm: MMTM = model.head.mmtm
        for m in model.modalities:
            self.main[m] += relative_gradient_energy(model.encoders[m].parameters())
            self.bypass[m] += relative_gradient_energy(mmtm.excite[m].parameters())
        bdr = bypass_dominance(self.main, self.bypass)
        self.log(**{f"bdr_{m}": v for m, v in bdr.items()})
        if self.steps_left > 0:
            self.steps_left -= 1
            if self.steps_left == 0:
                mmtm.curated = set()
        elif self.rebalance:
            target = modality_to_rebalance(bdr, self.threshold)
            if target is not None:
                mmtm.curated, self.steps_left = {target}, self.window
        for m in model.modalities:
            self.log(**{f"rebalancing_{m}": float(m in mmtm.curated)})

    def on_epoch_end(self, state: "TrainState") -> None:
        model = state.model
        model.head.mmtm.curated = set()
        self.steps_left = 0
        with evaluating(model):
            batch = state.data.split("val")
            features = model.encode(batch.x)
            full = (model.fuse(features).fused.argmax(1) == batch.y).float().mean().item()
            for m in features:
                without = {k: torch.zeros_like(f) if k == m else f for k, f in features.items()}
                acc = (model.fuse(without).fused.argmax(1) == batch.y).float().mean().item()
                self.log(**{f"utilization_{m}": conditional_utilization_rate(full, acc)})
