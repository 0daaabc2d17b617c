"""OPM: On-the-fly Prediction Modulation (feed-forward stage).

Paper: Y. Wei, D. Hu, H. Du, J.-R. Wen, "On-the-fly Modulation for Balanced Multimodal
Learning", IEEE T-PAMI 2024, arXiv 2410.11582 (the journal extension of OGM-GE).

While training, the features of the modality that currently *predicts* better are
randomly dropped, so the fused prediction has to lean on the others. With the
batch's true-class scores ``s_m = sum_i softmax(z_m,i)[y_i]`` (per-modality logits of
the additive decomposition):

    r_m = tanh(relu(s_m / sum_{k != m} s_k - 1)),
    q_m = clip(q_base * (1 + lam * r_m), 0, 1)  if r_m > 0  else 0,

and, with probability ``p_exe`` per step, each sample keeps modality ``m``'s features
with probability ``1 - q_m`` (Bernoulli mask). The kept features are rescaled by
``1 / (1 - theta)``, ``theta = sum_m d_m q_m / sum_m d_m`` (d_m: feature sizes), like
inverted dropout over the concatenated features. Samples that lost every modality
are left out of the loss. Evaluation uses every feature, unscaled.

Defaults: ``q_base = 0.5``, ``lam = 0.5``, ``p_exe = 0.7`` (the authors' train_opm.sh);
``warmup_epochs = 1`` (authors: 5 of 100 epochs — scaled to a 20-epoch run).

Every difference from the authors' code is listed in ``OPM.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..metrics import true_class_score
from ..models import MultimodalModel, Output
from ..validation import Integer, Number
from .base import Method, register
from .provenance import Difference, Paper, Source


def drop_probabilities(scores: Mapping[str, float], q_base: float = 0.5, lam: float = 0.5) -> dict[str, float]:
    """OPM's drop probability of every modality from its true-class score.

    ``r_m = tanh(relu(s_m / sum_{k != m} s_k - 1))``; ``q_m = clip(q_base (1 + lam r_m), 0, 1)``
    if ``r_m > 0`` else 0. A modality whose score does not exceed the others' is never
    dropped; ties drop nothing; if every other score is 0 the ratio is taken as infinite.
    A non-finite score (NaN or inf, e.g. from a diverging batch) drops nothing: no
    modality can be judged the stronger on it.
    """
    if not 0 <= q_base <= 1:
        raise ValueError(f"q_base must be in [0, 1], got {q_base}")
    if lam < 0:
        raise ValueError(f"lam must be non-negative, got {lam}")
    if len(scores) < 2:
        raise ValueError(f"OPM needs at least two modalities, got {list(scores)}")
    if not all(math.isfinite(float(v)) for v in scores.values()):
        return {m: 0.0 for m in scores}
    q = {}
    for m, s in scores.items():
        others = sum(float(v) for k, v in scores.items() if k != m)
        if others > 0:
            r = torch.tanh(torch.relu(torch.tensor(float(s) / others - 1.0))).item()
        else:
            r = 1.0 if float(s) > 0 else 0.0
        q[m] = min(1.0, max(0.0, q_base * (1 + lam * r))) if r > 0 else 0.0
    return q


def rescale_factor(q: Mapping[str, float], dims: Mapping[str, int]) -> float:
    """``1 / (1 - theta)``, ``theta = sum_m d_m q_m / sum_m d_m`` (1 when nothing is dropped; inf if all)."""
    total = sum(dims[m] for m in q)
    theta = sum(dims[m] * q[m] for m in q) / total
    return float("inf") if theta >= 1 else 1.0 / (1.0 - theta)


@register
class OPM(Method):
    """Prediction-aware feature dropping of the dominant modality (see module docstring)."""

    name = "opm"
    family = "feed-forward"
    paper = Paper("Wei, Hu, Du, Wen", "On-the-fly Modulation for Balanced Multimodal Learning", "IEEE T-PAMI", 2024,
                  "https://arxiv.org/abs/2410.11582")
    sources = (
        Source("GeWu-Lab/BML_TPAMI2024", "8db168f1a08c030abd0f9524ec02a48e4cb977d2", "code/models/Classifier.py",
               "calcu_q, Modality_drop.execute_drop, Classifier.forward"),
        Source("GeWu-Lab/BalanceBenchmark", "39ed569712e48ed97d9999a032ba6918a2d360b1",
               "balancemm/trainer/OPM_trainer.py", "OPMTrainer", note="BalanceBenchmark's port (three modalities)"),
    )
    differences = (
        Difference("The kept features are rescaled by a plain multiplication by 1/(1 - theta); the authors use "
                   "a custom autograd function that divides in the forward pass and hard-codes the same factor "
                   "in the backward pass.", "Autograd gives exactly that factor; the result is the same."),
        Difference("Samples that lost every modality stay in the output and are masked out of the loss; the "
                   "authors remove them from the batch (masked_select). A batch in which every sample lost "
                   "everything gives a zero loss; theirs would take the cross-entropy of an empty batch (NaN).",
                   "The same loss on the kept samples, while per-modality training accuracy is still logged "
                   "over the whole batch, and no NaN reaches the weights."),
        Difference("Warm-up of 1 epoch (warmup_epochs=1); the authors' scripts warm up for up to 5 of 100 "
                   "epochs.", "Scaled to the course's 20-epoch runs.", "warmup_epochs=5"),
        Difference("More than two modalities: r_m compares s_m with the sum of the other scores, as "
                   "BalanceBenchmark does; the authors' code has two.",
                   "An extension; with two modalities it is exactly their s_1/s_2 - 1."),
        Difference("A non-finite score (NaN or inf) drops nothing; in the authors' code a NaN also drops "
                   "nothing (NaN > 0 is false) but an infinite score would be dropped with q_base (1 + lam).",
                   "No modality can be judged the stronger on a diverging batch."),
    )
    hyperparameter_ranges = {"q_base": Number(ge=0, le=1), "lam": Number(ge=0), "p_exe": Number(ge=0, le=1),
                             "warmup_epochs": Integer(ge=0)}

    def __init__(self, q_base: float = 0.5, lam: float = 0.5, p_exe: float = 0.7, warmup_epochs: int = 1) -> None:
        self.q_base, self.lam, self.p_exe, self.warmup_epochs = q_base, lam, p_exe, warmup_epochs

    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        features = model.encode(batch.x)
        output = model.fuse(features)
        names = list(features)
        self._loss_mask = None
        with torch.no_grad():
            scores = {m: true_class_score(output.logits[m], batch.y).item() for m in names}
        q = drop_probabilities(scores, self.q_base, self.lam)
        g = self.state.generator
        execute = self.state.epoch >= self.warmup_epochs and torch.rand(1, generator=g).item() < self.p_exe
        self.log(executed=float(execute), **{f"q_{m}": q[m] for m in names})
        if not execute or not any(q.values()):
            return output
        n = len(batch)
        keep = {m: (torch.rand(n, generator=g) >= q[m]).float().to(batch.y.device) for m in names}  # drawn on the CPU
        scale = rescale_factor(q, {m: f.shape[1] for m, f in features.items()})
        kept_any = torch.stack(list(keep.values())).amax(0) > 0
        self._loss_mask = kept_any
        for m in names:
            self.log(**{f"dropped_{m}": 1.0 - keep[m].mean()})
        return model.fuse({m: f * keep[m][:, None] * scale for m, f in features.items()})

    def loss(self, output: Output, batch: Batch) -> Tensor:
        mask = getattr(self, "_loss_mask", None)
        if mask is None:
            return F.cross_entropy(output.fused, batch.y)
        if not mask.any():
            return output.fused.sum() * 0.0
        return F.cross_entropy(output.fused[mask], batch.y[mask])
