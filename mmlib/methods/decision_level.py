"""Adaptive decision-level weighting (family "decision level").

Paper: Ma & Chen, "Revisit Modality Imbalance at the Decision Layer", arXiv 2510.14411
(2025). The paper argues for "adaptive weight allocation mechanisms at the decision
layer ... according to the capabilities of each modality"; it publishes no code and no
single update rule, so the three schemes below are **our own implementations of that
idea** (the math is in :mod:`mmlib.decision`, unit-tested on hand-made inputs).

How they hook into the one training loop
----------------------------------------
* ``loss``: with ``head="unimodal"`` (default) every modality's slice of the head is
  trained as its own classifier, ``L = sum_m CE(z_m, y)`` with ``z_m = h_m W_m^T + b/M``,
  so each ``z_m`` is an output that can be calibrated and weighed. ``head="joint"``
  keeps the plain fused cross-entropy and only reweights afterwards (post hoc).
  Freeze the encoders yourself (``requires_grad_(False)``) to learn only the decision
  layer on balanced, separately trained representations — the setting of the paper.
* ``on_epoch_end``: fits the decision rule on the **validation** split: a temperature
  ``T_m`` per modality (NLL of ``softmax(z_m / T_m)``, golden-section search), then the
  scheme's weights. They are stored as buffers of a small module the method attaches to
  the model (``model.decision``), so ``fit``'s best-validation-epoch restore brings back
  the weights that belong to the restored parameters.
* ``predict``: returns ``Output`` with ``logits[m] = M * w_m * z_m / T_m`` and
  ``fused = sum_m logits[m]`` (uniform weights and ``T = 1`` give back the plain sum).
  Training-time forwards are untouched.

Schemes (weights sum to 1 over modalities):
* ``calibrated_weighting``: ``w_m ∝ max(acc_m^val - 1/C, 0)^power`` (capability).
* ``confidence_weighting``: per sample, ``w_m(x) ∝ (max_c softmax(z_m/T_m)_c - 1/C)^sharpness``.
* ``class_weighting``: per class, ``A[:, c] = softmax_m(alpha[:, c])`` minimising
  ``CE + balance * mean_c KL(R[:, c] || A[:, c])`` on the validation split, ``R`` the
  modalities' relative per-class capability.

Defaults: ``head="unimodal"``, ``calibrate=True``, ``power=1``, ``sharpness=1``,
``balance=1`` (class weights: 60 full-batch Adam steps, lr 0.2, refitted every epoch). There
is no authors' code to differ from; the choices the course made in its place are listed in
each class's ``differences`` (and in :func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import decision as D
from ..data import Batch, MultimodalDataset
from ..metrics import predict as predict_split
from ..models import MultimodalModel, Output
from ..validation import Choice, Flag, Integer, Number
from .base import Method, register
from .provenance import THIS_COURSE, Difference, Paper, Source

if TYPE_CHECKING:
    from ..train import TrainState

HEADS = ("unimodal", "joint")


class DecisionState(nn.Module):
    """Buffers holding a fitted decision rule: one temperature per modality and the weights."""

    def __init__(self, n_modalities: int, weight_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("temperature", torch.ones(n_modalities))
        self.register_buffer("weights", torch.full(weight_shape, 1.0 / n_modalities))


class DecisionWeighting(Method):
    """Shared machinery: per-slice training, validation-split calibration, weighted prediction."""

    family = "decision level"
    paper = Paper("Ma, Chen", "Revisit Modality Imbalance at the Decision Layer", "arXiv preprint 2510.14411", 2025,
                  "https://arxiv.org/abs/2510.14411")
    sources = (Source(THIS_COURSE, note="from the paper's abstract; the authors published no code and no single "
                                        "update rule"),)
    differences = (
        Difference("The weighting scheme is the course's own implementation of the paper's idea (adaptive "
                   "weight allocation at the decision layer according to each modality's capability).",
                   "The paper gives the idea, not a rule; the course offers three schemes so a chapter can "
                   "compare them."),
        Difference("With ``head='unimodal'`` each modality's slice of the head is trained on its own "
                   "cross-entropy; ``head='joint'`` keeps the fused cross-entropy and weighs post hoc.",
                   "A slice trained on its own loss gives logits that can be calibrated and weighed; the "
                   "joint head is the post-hoc variant.", "head='joint'"),
        Difference("Temperatures and weights are fitted on the validation split, which also selects the "
                   "epoch, so validation scores are optimistic; only test scores are reported.",
                   "The course's data sets have no split to spare for it; test scores stay unbiased."),
    )
    per = "modality"
    hyperparameter_ranges = {"head": Choice(HEADS), "calibrate": Flag()}

    def __init__(self, head: str = "unimodal", calibrate: bool = True) -> None:
        self.head = head
        self.calibrate = calibrate

    def weight_shape(self, n_modalities: int, n_classes: int) -> tuple[int, ...]:
        return (n_modalities,)

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        names = model.modalities
        model.decision = DecisionState(len(names), self.weight_shape(len(names), data.n_classes))

    def loss(self, output: Output, batch: Batch) -> Tensor:
        if self.head == "joint":
            return F.cross_entropy(output.fused, batch.y)
        return sum(F.cross_entropy(z, batch.y) for z in output.logits.values())

    def fit_weights(self, logits: dict[str, Tensor], labels: Tensor) -> Tensor:
        """The scheme's weights from calibrated validation logits."""
        raise NotImplementedError

    def on_epoch_end(self, state: "TrainState") -> None:
        model = state.model
        output, labels = predict_split(model, state.data, "val")
        names = model.modalities
        temps = D.fit_temperatures(output.logits, labels) if self.calibrate else {m: 1.0 for m in names}
        weights = self.fit_weights(D.calibrate(output.logits, temps), labels)
        model.decision.temperature.copy_(torch.tensor([temps[m] for m in names]))
        model.decision.weights.copy_(weights)
        self.log(**{f"temperature_{m}": temps[m] for m in names})
        if weights.dim() == 1:
            self.log(**{f"weight_{m}": weights[i] for i, m in enumerate(names)})

    def weigh(self, logits: dict[str, Tensor], model: MultimodalModel) -> dict[str, Tensor]:
        return D.weighted_logits(logits, model.decision.weights, per=self.per)

    def predict(self, model: MultimodalModel, batch: Batch) -> Output:
        output = model(batch)
        if not hasattr(model, "decision"):
            return output
        temps = dict(zip(model.modalities, model.decision.temperature.tolist()))
        weighted = self.weigh(D.calibrate(output.logits, temps), model)
        return Output(torch.stack(list(weighted.values())).sum(0), weighted, output.features)


@register
class CalibratedWeighting(DecisionWeighting):
    """Calibrate each modality's logits (temperature on val), then weight by capability:
    ``fused = M * sum_m w_m z_m / T_m``, ``w_m ∝ max(acc_m^val - 1/C, 0)^power`` (Ma & Chen, 2025, idea)."""

    name = "calibrated_weighting"
    differences = DecisionWeighting.differences + (
        Difference("Capability is validation accuracy above chance, ``max(acc_m - 1/C, 0)^power``.",
                   "The abstract names 'capabilities of each modality' without a measure; accuracy above "
                   "chance is zero for a modality that knows nothing."),)
    hyperparameter_ranges = {"power": Number(ge=0)}

    def __init__(self, head: str = "unimodal", calibrate: bool = True, power: float = 1.0) -> None:
        super().__init__(head, calibrate)
        self.power = power

    def fit_weights(self, logits: dict[str, Tensor], labels: Tensor) -> Tensor:
        weights = D.capability_weights(logits, labels, self.power)
        return torch.tensor([weights[m] for m in logits])


@register
class ConfidenceWeighting(DecisionWeighting):
    """Per-sample weights from each modality's calibrated confidence:
    ``w_m(x) ∝ (max_c softmax(z_m/T_m)_c - 1/C)^sharpness`` (Ma & Chen, 2025, idea)."""

    name = "confidence_weighting"
    differences = DecisionWeighting.differences + (
        Difference("Weights are per sample, from each modality's calibrated confidence above chance.",
                   "A per-sample reading of 'adaptive weight allocation'; calibration makes confidences "
                   "comparable across modalities."),)
    per = "sample"
    hyperparameter_ranges = {"sharpness": Number(ge=0)}

    def __init__(self, head: str = "unimodal", calibrate: bool = True, sharpness: float = 1.0) -> None:
        super().__init__(head, calibrate)
        self.sharpness = sharpness

    def fit_weights(self, logits: dict[str, Tensor], labels: Tensor) -> Tensor:
        weights = D.confidence_weights(logits, self.sharpness)
        return weights.mean(0)  # only logged: the weights themselves are computed per sample

    def weigh(self, logits: dict[str, Tensor], model: MultimodalModel) -> dict[str, Tensor]:
        return D.weighted_logits(logits, D.confidence_weights(logits, self.sharpness), per="sample")


@register
class ClassWeighting(DecisionWeighting):
    """Per-class modality weights learned on val with a relative-balance term:
    ``min CE(M sum_m A[m,c] z_m[:,c]/T_m) + balance * mean_c KL(R[:,c] || A[:,c])`` (Ma & Chen, 2025, idea)."""

    name = "class_weighting"
    differences = DecisionWeighting.differences + (
        Difference("Per-class weights are learned on the validation split with a KL pull towards the "
                   "modalities' relative per-class capability (``balance``).",
                   "The abstract asks for balance 'relative' to each modality's capability; per class is "
                   "the course's finest reading of it, and ``balance=0`` learns the weights by "
                   "cross-entropy alone.", "balance=0"),)
    per = "class"
    hyperparameter_ranges = {"balance": Number(ge=0), "steps": Integer(ge=1)}

    def __init__(self, head: str = "unimodal", calibrate: bool = True, balance: float = 1.0,
                 steps: int = 60) -> None:
        super().__init__(head, calibrate)
        self.balance = balance
        self.steps = steps

    def weight_shape(self, n_modalities: int, n_classes: int) -> tuple[int, ...]:
        return (n_modalities, n_classes)

    def fit_weights(self, logits: dict[str, Tensor], labels: Tensor) -> Tensor:
        return D.fit_class_weights(logits, labels, balance=self.balance, steps=self.steps)

    def on_epoch_end(self, state: "TrainState") -> None:
        super().on_epoch_end(state)
        model = state.model
        self.log(**{f"weight_{m}": model.decision.weights[i].mean() for i, m in enumerate(model.modalities)})
