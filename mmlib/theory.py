"""The closed forms of chapter 1: the additive forward pass and the shared gradient term.

Concatenation fusion with a linear head ``W = [W_1 ... W_M]`` (C x sum d_m), bias b:

    f(x) = sum_m W_m h_m + b                           (forward: additive in modalities)
    dL/df = softmax(f) - onehot(y)                     (cross-entropy, per sample)
    dL/dh_m = (softmax(f) - onehot(y)) W_m             (what encoder m receives)
    dL/dW_m = (softmax(f) - onehot(y))^T h_m           (what head slice m receives)

The term ``softmax(f) - onehot(y)`` is *shared*: it depends on the fused output,
so once one modality alone makes ``f`` confident and correct, the term is small
for every modality, and the other encoder stops learning (Peng et al., OGM-GE,
CVPR 2022; the survey's Fig. 3). Everything here is a pure function of tensors;
chapter 1 checks each one against autograd.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor


def softmax_minus_onehot(logits: Tensor, labels: Tensor) -> Tensor:
    """``dL/df`` of the summed cross-entropy: ``softmax(f) - onehot(y)``, shape ``(B, C)``."""
    return F.softmax(logits, dim=1) - F.one_hot(labels, logits.shape[1]).to(logits.dtype)


def _reduced_shared_term(logits: Tensor, labels: Tensor, reduction: str) -> Tensor:
    """The shared term, divided by the batch size for a mean-reduced loss."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    shared = softmax_minus_onehot(logits, labels)
    return shared / logits.shape[0] if reduction == "mean" else shared


def additive_logits(features: Mapping[str, Tensor], weights: Mapping[str, Tensor], bias: Tensor) -> Tensor:
    """``f = sum_m h_m W_m^T + b`` — the fused logits as a sum of unimodal parts."""
    return sum(features[m] @ weights[m].T for m in weights) + bias


def feature_gradients(logits: Tensor, labels: Tensor, weights: Mapping[str, Tensor],
                      reduction: str = "mean") -> dict[str, Tensor]:
    """``dL/dh_m = (softmax(f) - onehot(y)) W_m`` for every modality (mean or sum over the batch)."""
    shared = _reduced_shared_term(logits, labels, reduction)
    return {m: shared @ w for m, w in weights.items()}


def head_gradients(logits: Tensor, labels: Tensor, features: Mapping[str, Tensor],
                   reduction: str = "mean") -> dict[str, Tensor]:
    """``dL/dW_m = (softmax(f) - onehot(y))^T h_m`` for every modality."""
    shared = _reduced_shared_term(logits, labels, reduction)
    return {m: shared.T @ h for m, h in features.items()}


def shared_term_size(margins: Mapping[str, float], n_classes: int) -> float:
    """``1 - p_y``: the size of the shared term when modality m adds ``margins[m]`` to the true
    class logit (all other logits 0). The larger any one margin, the smaller it is for everyone.

    With fused true-class logit ``z = sum_m margins[m]``: ``p_y = e^z / (e^z + C - 1)``.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    z = torch.tensor(float(sum(margins.values())))
    p_true = torch.sigmoid(z - torch.log(torch.tensor(float(n_classes - 1))))
    return float(1 - p_true)
