"""MLA: Multimodal Learning with Alternating unimodal adaptation (feed-forward stage).

Paper: X. Zhang, J. Yoon, M. Bansal, H. Yao, "Multimodal Representation Learning by
Alternating Unimodal Adaptation", CVPR 2024.

**Training.** One classifier head ``f(h) = W h + b`` is *shared* by all modalities.
Every step visits the modalities in turn; for modality ``m`` it takes one optimizer
step on ``L_m = CE(f(h_m), y)`` alone (its encoder and the shared head), so no
modality can be drowned by another's loss in a joint objective.

**Gradient modification** (protect what the head learned from the other modalities).
For each modality ``m`` a projector ``P_m`` (``d x d``, starts at ``I``) remembers the
features of all *other* modalities seen so far, by the recursive least-squares /
orthogonal-weight-modification update with ``r`` the batch mean feature of another
modality after its step:

    k = P r,     P <- P - k k^T / (a + r^T k),     a = 0.1^(1 + batch / n_batches),

and modality ``m``'s head gradient is projected before its step: ``dW <- dW P_m``
(so ``dW r ~ 0``: the update barely changes the head's answer on the others' features).

**Inference** (dynamic fusion): each modality's prediction is weighted by its confidence,

    w_m = exp(H_max - H(softmax(z_m))) / sum_k exp(H_max - H(softmax(z_k))),
    fused = sum_m w_m z_m,    H_max = log C.

Deliberate differences from the authors' code (Cecile-hi/Multimodal-Learning-with-
Alternating-Unimodal-Adaptation) and BalanceBenchmark (BB):

* the authors' projector test compares a parameter name to ``"module.weight"``, which
  the shared head never yields, so **their projection never runs**; BB *adds* the
  projected gradient to the raw one. We implement the paper's intent: the projected
  gradient *replaces* the raw one.
* one projector per modality built from the *other* modalities' features (the paper's
  "orthogonal to the other modalities' input space"), instead of one projector fed by
  every modality (which would also freeze what a modality learned from itself); no
  Frobenius normalisation of ``P`` (it would rescale the head's learning rate).
* ``fused`` during training and in per-modality logits: ``logits[m] = w_m z_m`` with
  uniform ``w = 1/M`` in training and the entropy weights at test time, so
  ``fused == sum(logits.values())`` holds as everywhere in the course.
* defaults sized for this course: the optimizer and epochs of :func:`mmlib.train.fit`
  (paper: 100 epochs, lr 1e-3, StepLR(70)).

The method replaces the model's fusion head by a :class:`SharedHead` in
``configure_model`` (before the optimizer is built, so the optimizer trains it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import Batch, MultimodalDataset
from ..models import MultimodalModel, Output
from ..validation import Flag
from .base import Method, register
from .gradients import modify_gradients

if TYPE_CHECKING:
    from ..train import TrainState


# -- the pure math -----------------------------------------------------------------------------

def entropy(logits: Tensor) -> Tensor:
    """Shannon entropy (nats) of ``softmax(logits)`` per row."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(-1)


def entropy_fusion_weights(logits: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Per-sample weights ``w_m ∝ exp(H_max - H(softmax(z_m)))``, summing to 1 over modalities."""
    names = list(logits)
    if not names:
        raise ValueError("no logits to fuse")
    n_classes = logits[names[0]].shape[-1]
    confidence = torch.stack([math.log(n_classes) - entropy(logits[m]) for m in names])
    weights = torch.softmax(confidence, dim=0)
    return {m: weights[i] for i, m in enumerate(names)}


def owm_update(projector: Tensor, r: Tensor, alpha: float) -> Tensor:
    """One orthogonal-weight-modification (recursive least-squares) update of ``P`` with feature ``r``.

    ``k = P r``, ``P' = P - k k^T / (alpha + r^T k)``. After it, ``P' r`` is small
    (``= alpha P r / (alpha + r^T P r)``): directions seen before are shut.
    A zero ``r`` leaves ``P`` unchanged.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    r = r.reshape(-1, 1).to(projector.dtype)
    k = projector @ r
    return projector - (k @ k.T) / (alpha + (r.T @ k).squeeze())


def project_gradient(grad: Tensor, projector: Tensor) -> Tensor:
    """``dW P``: a head-weight gradient ``(C, d)`` with the protected input directions removed."""
    return grad @ projector


# -- the shared head ---------------------------------------------------------------------------

class SharedHead(nn.Module):
    """One linear classifier ``z_m = W h_m + b`` applied to every modality's features.

    ``forward(features)`` returns ``(fused, logits)`` with ``logits[m] = z_m / M`` and
    ``fused = mean_m z_m = sum_m logits[m]`` (uniform fusion, as in training).
    """

    def __init__(self, dims: Mapping[str, int], n_classes: int) -> None:
        super().__init__()
        sizes = set(dims.values())
        if len(sizes) != 1:
            raise ValueError(f"a shared head needs equal feature sizes, got {dict(dims)}")
        self.dims = dict(dims)
        self.linear = nn.Linear(sizes.pop(), n_classes)

    def unimodal(self, h: Tensor) -> Tensor:
        return self.linear(h)

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logits = {m: self.linear(features[m]) / len(self.dims) for m in self.dims}
        return torch.stack(list(logits.values())).sum(0), logits


@register
class MLA(Method):
    """Alternating unimodal steps through a shared head; entropy-weighted fusion at test time.

    Hyperparameters: ``project`` (True or False; True: the gradient modification, False: plain alternation).
    """

    name = "mla"
    family = "feed-forward"
    paper = ("Zhang, Yoon, Bansal, Yao. Multimodal Representation Learning by Alternating "
             "Unimodal Adaptation. CVPR 2024")
    hyperparameter_ranges = {"project": Flag()}

    def __init__(self, project: bool = True) -> None:
        self.project = project

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        if not isinstance(model.head, SharedHead):
            model.head = SharedHead({m: enc.out_dim for m, enc in model.encoders.items()}, data.n_classes)

    def setup(self, state: "TrainState") -> None:
        super().setup(state)
        d = state.model.head.linear.in_features
        self.projectors = {m: torch.eye(d) for m in state.model.modalities}
        self.n_batches = max(1, math.ceil(len(state.data.splits["train"]) / state.batch_size))

    def step(self, state: "TrainState", batch: Batch, optimizer: torch.optim.Optimizer) -> tuple[Output, Tensor]:
        model = state.model
        head: SharedHead = model.head
        alpha = 0.1 ** (1 + (state.step % self.n_batches) / self.n_batches)
        logits, features, losses = {}, {}, []
        for m in model.modalities:
            h = model.encoders[m](batch.x[m])
            z = head.unimodal(h)
            loss = F.cross_entropy(z, batch.y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.project:
                modify_gradients([head.linear.weight], lambda g: project_gradient(g, self.projectors[m]))
            optimizer.step()
            r = h.detach().mean(0)
            for other in self.projectors:
                if other != m:
                    self.projectors[other] = owm_update(self.projectors[other], r, alpha)
            logits[m], features[m] = z.detach() / len(model.modalities), h.detach()
            losses.append(loss.detach())
            self.log(**{f"loss_{m}": loss.detach()})
        fused = torch.stack(list(logits.values())).sum(0)
        return Output(fused, logits, features), torch.stack(losses).mean()

    def predict(self, model: MultimodalModel, batch: Batch) -> Output:
        head = model.head
        if not isinstance(head, SharedHead):
            return model(batch)
        features = model.encode(batch.x)
        z = {m: head.unimodal(h) for m, h in features.items()}
        weights = entropy_fusion_weights(z)
        logits = {m: weights[m][:, None] * z[m] for m in z}
        return Output(torch.stack(list(logits.values())).sum(0), logits, features)
