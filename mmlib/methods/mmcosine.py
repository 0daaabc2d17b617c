"""MMCosine: cosine logits so that no modality wins by the norm of its weights or features.

Paper: Xu, Feng, Zhang, Hu, "MMCosine: Multi-Modal Cosine Loss Towards Balanced
Audio-Visual Fine-Grained Learning", ICASSP 2023.

Each modality's logits are scaled cosines between its normalised features and its
normalised class weights, with no bias:

    z_m[c] = s * <h_m / |h_m|, W_m[c] / |W_m[c]|>,        fused = sum_m z_m,

and the loss is the cross-entropy of ``fused``. A dominant modality can no longer
take over the fused decision by growing ``|W_m|`` or ``|h_m|``: every modality's
logit is bounded by ``s``.

The method installs a :class:`CosineFusion` head in ``configure_model`` (it reuses the
concat head's weight slices, ``W_m``), so training, evaluation (``predict``), the
per-modality accuracies in History and the Shapley contributions all read the
same cosine logits ``z_m`` — "this modality's own logits".

Defaults: ``scale = 10`` (the authors' code; BalanceBenchmark uses 15).
Every difference from the authors' code is listed in ``MMCosine.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import MultimodalDataset
from ..models import ConcatFusion, MultimodalModel, SumFusion
from ..validation import Number
from .base import Method, NotApplicable, register
from .provenance import Difference, Paper, Source


def cosine_logits(features: Tensor, weight: Tensor, scale: float, eps: float = 1e-8) -> Tensor:
    """``scale * normalize(features) @ normalize(weight rows).T``; a zero feature vector gives zero logits."""
    return scale * F.normalize(features, dim=1, eps=eps) @ F.normalize(weight, dim=1, eps=eps).T


def class_weights(head: nn.Module) -> dict[str, Tensor]:
    """Each modality's class-weight matrix ``W_m`` (C x d_m) of a concat or sum head."""
    if isinstance(head, CosineFusion):
        return class_weights(head.base)
    if isinstance(head, ConcatFusion):
        return head.weight_slices()
    if isinstance(head, SumFusion):
        return {m: linear.weight for m, linear in head.heads.items()}
    raise NotApplicable(f"mmcosine needs a concat or sum fusion head (fusion='concat' or 'sum'), "
                        f"got {type(head).__name__}")


class CosineFusion(nn.Module):
    """A fusion head whose per-modality logits are scaled cosines (no bias); ``fused = sum_m z_m``."""

    def __init__(self, base: nn.Module, scale: float) -> None:
        super().__init__()
        self.base = base
        self.scale = scale
        class_weights(base)  # fail early on an unsupported head

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logits = {m: cosine_logits(features[m], w, self.scale) for m, w in class_weights(self.base).items()}
        return torch.stack(list(logits.values())).sum(0), logits


@register
class MMCosine(Method):
    """Cross-entropy on the sum of per-modality cosine logits (the model's head is replaced in ``configure_model``)."""

    name = "mmcosine"
    family = "learning objective"
    paper = Paper("Xu, Feng, Zhang, Hu", "MMCosine: Multi-Modal Cosine Loss Towards Balanced Audio-Visual "
                  "Fine-Grained Learning", "ICASSP", 2023, "https://arxiv.org/abs/2303.05338")
    sources = (
        Source("GeWu-Lab/MMCosine_ICASSP23", "214797ce07f3b0c5864ca3061a881795e4c2b4b2", "main_CD.py",
               "train_epoch, valid"),
        Source("GeWu-Lab/BalanceBenchmark", "0cea99cb9fe8285d8eb67d3096e8b54b8676efc7",
               "balancemm/trainer/MMCosine_trainer.py", "MMCosineTrainer.training_step"),
    )
    differences = (
        Difference("The fused prediction at evaluation is the sum of the cosine logits, the same logits the "
                   "loss trains; the authors' valid() predicts with the model's ordinary linear head output "
                   "(with its bias) and uses the cosine logits only for the per-modality accuracies.",
                   "A model is evaluated on the decision it was trained to make."),
        Difference("The optional contrastive (NCE) term of the authors' code is left out.",
                   "Its default weight there is 0 (lam = 0); the paper reports it only in the supplement."),
        Difference("More than two modalities and the sum head: each modality's class-weight slice (or its own "
                   "linear layer) is normalised per class; the authors' code slices a two-modality concat "
                   "head.", "An extension; with two modalities and the concat head it is exactly their "
                   "logits."),
    )
    hyperparameter_ranges = {"scale": Number(gt=0)}

    def __init__(self, scale: float = 10.0) -> None:
        self.scale = scale

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        if not isinstance(model.head, CosineFusion):
            model.head = CosineFusion(model.head, self.scale)
