"""PMR: Prototypical Modal Rebalance.

Paper: Fan, Xu, Wang, Wang, Guo, "PMR: Prototypical Modal Rebalance for Multimodal
Learning", CVPR 2023.

The fused cross-entropy gives the weak encoder only the shared, shrinking factor
``softmax(z) - onehot(y)``. PMR gives it a second signal that does not depend on
the fused head at all: distances to class prototypes in its own feature space.

    c_m[k]   = (1 - mu) * mean{h_m,i : y_i = k} + mu * c_m[k]      (EMA, every epoch)
    p_m,i[k] = -||h_m,i - c_m[k]||_2                                 (prototype logits)
    s_m      = sum_i softmax(p_m,i)[y_i]                             (prototype score)
    rho_m    = s_m / mean_{j != m} s_j
    L        = CE(fused, y) + alpha * sum_{m : rho_m < 1} CE(p_m, y)

With two modalities the prototypical cross-entropy (PCE) is added for the weaker
one only, the binary switch of the authors' script (a tie adds nothing).

``alpha = 1.0`` and ``momentum = 0.2`` are the authors' defaults (BalanceBenchmark: 0.6
and 0.5). Every difference from the authors' code is listed in ``PMR.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch, MultimodalDataset
from ..metrics import true_class_score
from ..models import MultimodalModel, Output, evaluating
from ..validation import Number
from .base import Method, feature_widths, register
from .provenance import Difference, Paper, Source
from .ogm import discrepancy_ratios


def class_prototypes(features: Tensor, labels: Tensor, n_classes: int, previous: Tensor | None = None,
                     momentum: float = 0.0) -> Tensor:
    """Per-class mean features ``(n_classes, d)``, blended with ``previous`` by EMA momentum.

    ``c = (1 - momentum) * mean + momentum * previous``; a class with no sample keeps
    ``previous`` (or zeros when there is none).
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    d = features.shape[1]
    sums = torch.zeros(n_classes, d, dtype=features.dtype, device=features.device).index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=n_classes).to(features.dtype)
    old = previous if previous is not None else torch.zeros(n_classes, d, dtype=features.dtype, device=features.device)
    means = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], old)
    blended = (1 - momentum) * means + momentum * old if previous is not None else means
    return torch.where(counts[:, None] > 0, blended, old)


def prototype_logits(features: Tensor, prototypes: Tensor) -> Tensor:
    """``-||h_i - c_k||_2`` for every sample i and class k."""
    return -torch.cdist(features, prototypes)


def weak_modalities(scores: Mapping[str, float | Tensor]) -> list[str]:
    """Modalities whose prototype score is below the mean of the others (``rho_m < 1``)."""
    return [m for m, rho in discrepancy_ratios(scores).items() if rho < 1]


@register
class PMR(Method):
    """PMR (Fan et al., CVPR 2023). See the module docstring."""

    name = "pmr"
    family = "optimization"
    paper = Paper("Fan, Xu, Wang, Wang, Guo", "PMR: Prototypical Modal Rebalance for Multimodal Learning", "CVPR", 2023,
                  "https://arxiv.org/abs/2211.07089")
    sources = (Source("fanyunfeng-bit/Modal-Imbalance-PMR", "1e5c79b645ad0980c145f016e52a31b935d0d7fc",
                      "main_Prototype_grad.py", "train_epoch"),
               Source("fanyunfeng-bit/Modal-Imbalance-PMR", "1e5c79b645ad0980c145f016e52a31b935d0d7fc",
                      "main_Prototype_grad.py", "calculate_prototype"))
    differences = (
        Difference("Prototypes are the class means over the whole training split, computed at the start of "
                   "every epoch; the authors use the first tenth of the training batches (all of AVE's "
                   "validation split).", "The course's data sets are small, so the whole split is cheap and "
                   "less noisy."),
        Difference("A class with no sample keeps its previous prototype (zeros before the first); the "
                   "authors divide by its count of zero, which makes that prototype NaN for good.",
                   "No NaN reaches the loss."),
        Difference("The EMA blends from the second computation on; the authors' first two computations "
                   "(before training and after epoch 0) both skip it.",
                   "One rule for every epoch; the difference is one early blend."),
        Difference("The prototypical cross-entropy runs for the whole run; the authors' script modulates "
                   "epochs 0-100 of 150.", "The course trains 15-20 epochs."),
        Difference("The paper's prototypical entropy regulariser (PER) for the dominant modality is not "
                   "implemented; it lives in a separate script of the authors (main_Proto_PER.py), not in the "
                   "one compared.", "The course implements the script the authors' README runs for PCE."),
        Difference("More than two modalities: every modality whose prototype score is below the mean of the "
                   "others gets the prototypical cross-entropy; the authors' code has two.",
                   "An extension; with two modalities it is exactly their binary switch (a tie adds nothing)."),
    )
    hyperparameter_ranges = {"alpha": Number(ge=0), "momentum": Number(ge=0, le=1)}

    def __init__(self, alpha: float = 1.0, momentum: float = 0.2) -> None:
        self.alpha = alpha
        self.momentum = momentum

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        feature_widths(model, self.name)  # NotApplicable on token features: prototypes are (C, d) feature means

    def setup(self, state) -> None:
        super().setup(state)
        self.prototypes: dict[str, Tensor] = {}

    def on_epoch_start(self, state) -> None:
        model, data = state.model, state.data
        train = data.split("train")
        with evaluating(model):
            features = model.encode(train.x)
        for m, h in features.items():
            self.prototypes[m] = class_prototypes(h, train.y, data.n_classes, self.prototypes.get(m),
                                                  self.momentum)

    def loss(self, output: Output, batch: Batch) -> Tensor:
        loss = F.cross_entropy(output.fused, batch.y)
        logits = {m: prototype_logits(h, self.prototypes[m]) for m, h in output.features.items()}
        scores = {m: true_class_score(p.detach(), batch.y) for m, p in logits.items()}
        weak = weak_modalities(scores)
        for m in weak:
            loss = loss + self.alpha * F.cross_entropy(logits[m], batch.y)
        for m, p in logits.items():
            self.log(**{f"proto_acc_{m}": (p.argmax(1) == batch.y).float().mean(),
                        f"pce_on_{m}": float(m in weak)})
        return loss
