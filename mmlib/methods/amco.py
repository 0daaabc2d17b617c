"""AMCo: Adaptive Mask Co-optimisation (feed-forward stage).

Paper: Y. Zhou, X. Liang, S. Zheng, H. Xuan, T. Kumada, "Adaptive Mask Co-Optimization
for Modal Dependence in Multimodal Learning", ICASSP 2023. The authors published no
code; the rule follows BalanceBenchmark's AMCo trainer.

**Which modality the model depends on.** After each step, the per-modality logits of
the batch (as fused, i.e. masked) are put side by side, ``[z_1,i ; ... ; z_M,i]``
(``M * C`` numbers per sample), and one softmax runs over all of them. A modality's
*share* is the softmax mass that falls on its own block, averaged over the batch:

    u_m = (1/N) sum_i sum_{c} softmax([z_1,i ; ... ; z_M,i])[m, c],     dependent: u_m > sigma.

The decision of one batch is applied to the next one; at the start of every epoch no
modality is dependent. (``dependence="true_class"`` gives the course's earlier rule,
the share of the true-class scores ``s_m = sum_i softmax(z_m,i)[y_i]``; the two rules
disagree on many batches and can pick opposite modalities.)

**The mask.** The logits of a dependent modality lose a random subset of
``floor(p_t * C)`` classes per sample (set to 0), so the fused loss must be met by the
other modalities on those classes, while the masking grows smoothly with training:

    p_t = p_max * sin(pi/2 * min(t, T) / T),    t = epoch + 1,  T = ramp_epochs,

    zt_m = mask_m * z_m,   fused = sum_m zt_m,   L = CE(fused, y) + sum_m CE(zt_m, y)   (co-optimisation).

The unimodal losses use the masked logits, as the authors' trainer does
(``unimodal_loss="unmasked"`` gives the course's earlier variant).

Defaults: ``sigma = 0.5`` (BalanceBenchmark), ``p_max = 0.5``, ``ramp_epochs = 5``.
Every difference from the code it was checked against is listed in
``AMCo.differences`` (and in :func:`mmlib.methods.ledger`).
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
from ..validation import Choice, Integer, Number
from .base import Method, register
from .provenance import Difference, Paper, Source

DEPENDENCE_RULES = ("softmax_share", "true_class")
UNIMODAL_LOSSES = ("masked", "unmasked")


def mask_ratio(epoch: int, ramp_epochs: int = 5, p_max: float = 0.5) -> float:
    """``p_t = p_max sin(pi/2 min(epoch + 1, T) / T)``: the fraction of classes masked at ``epoch``."""
    if ramp_epochs < 1:
        raise ValueError(f"ramp_epochs must be >= 1, got {ramp_epochs}")
    if not 0 <= p_max <= 1:
        raise ValueError(f"p_max must be in [0, 1], got {p_max}")
    return p_max * math.sin(math.pi / 2 * min(epoch + 1, ramp_epochs) / ramp_epochs)


def softmax_shares(logits: Mapping[str, Tensor]) -> dict[str, float]:
    """The authors' dependence score: each modality's share of one softmax over the concatenated logits.

    Per sample, ``softmax([z_1 ; ... ; z_M])`` over all ``M * C`` logits; ``u_m`` is the
    mass on modality m's block, averaged over the batch. The shares sum to 1.
    """
    names = list(logits)
    if not names:
        raise ValueError("no logits")
    joint = torch.softmax(torch.cat([logits[m].detach().float() for m in names], dim=1), dim=1)
    blocks = joint.split([logits[m].shape[1] for m in names], dim=1)
    return {m: block.sum(1).mean().item() for m, block in zip(names, blocks)}


def dependence_scores(logits: Mapping[str, Tensor], labels: Tensor,
                      rule: str = "softmax_share") -> dict[str, float]:
    """The score each modality's dependence is judged by.

    ``"softmax_share"`` (the authors'): :func:`softmax_shares`; ``"true_class"`` (the
    course's earlier rule): ``s_m = sum_i softmax(z_m,i)[y_i]``, normalised by
    :func:`dependent_modalities`.
    """
    if rule == "softmax_share":
        return softmax_shares(logits)
    if rule == "true_class":
        return {m: true_class_score(z.detach(), labels).item() for m, z in logits.items()}
    raise ValueError(f"rule must be one of {DEPENDENCE_RULES}, got {rule!r}")


def dependent_modalities(scores: Mapping[str, float], sigma: float = 0.5) -> dict[str, bool]:
    """``u_m = s_m / sum_k s_k > sigma``: which modalities the fused prediction depends on (none if all 0).

    Shares from :func:`softmax_shares` already sum to 1 and pass through unchanged.
    """
    total = sum(float(s) for s in scores.values())
    if not math.isfinite(total) or total <= 0:
        return {m: False for m in scores}
    return {m: float(s) / total > sigma for m, s in scores.items()}


def class_mask(n: int, n_classes: int, n_masked: int, generator: torch.Generator | None = None) -> Tensor:
    """``(n, C)`` 0/1 mask with exactly ``n_masked`` random classes zeroed in each row."""
    if not 0 <= n_masked <= n_classes:
        raise ValueError(f"n_masked must be in [0, {n_classes}], got {n_masked}")
    ranks = torch.rand(n, n_classes, generator=generator).argsort(dim=1).argsort(dim=1)
    return (ranks >= n_masked).float()


@register
class AMCo(Method):
    """Adaptive masking of the dependent modality's logits, with unimodal co-optimisation."""

    name = "amco"
    family = "feed-forward"
    paper = Paper("Zhou, Liang, Zheng, Xuan, Kumada",
                  "Adaptive Mask Co-Optimization for Modal Dependence in Multimodal Learning",
                  "ICASSP", 2023, "https://doi.org/10.1109/ICASSP49357.2023.10096641")
    sources = (
        Source("GeWu-Lab/BalanceBenchmark", "e3d857931f65ab64fd2767df29c184e76aa06985",
               "balancemm/trainer/AMCo_trainer.py", "AMCoTrainer.train_loop, AMCoTrainer.training_step",
               note="no official code; BalanceBenchmark's implementation"),
        Source("GeWu-Lab/BalanceBenchmark", "c1ce5a88c879f6059f21e8b187265dd760cfab2a",
               "balancemm/models/avclassify_model.py",
               "BaseClassifierAMCoModel.forward, BaseClassifierAMCoModel.unimodality_calculate",
               note="no official code; BalanceBenchmark's implementation (the masked logits and linear_star)"),
    )
    differences = (
        Difference("The masked fraction ramps once per epoch, p_t = p_max sin(pi/2 min(epoch + 1, T)/T), capped "
                   "at p_max = 0.5; BalanceBenchmark ramps per batch (l_t grows by epoch/10 each batch, "
                   "p_t = sin(pi/2 min(eps, l_t)/eps), eps = 0.3), which reaches p_t = 1 (every class masked) "
                   "within the second epoch.",
                   "With every class masked the dependent modality vanishes from the fused output; the course "
                   "keeps a smooth, bounded ramp that a reader can plot."),
        Difference("Each sample gets its own random class mask; BalanceBenchmark draws one mask per batch "
                   "(one vector of C entries, shared by every sample).",
                   "Per-sample masks hide different classes within a batch, so no class is hidden from the "
                   "whole batch at once; the expected masked fraction is the same."),
        Difference("The fused output is the plain sum of the (masked) per-modality logits; BalanceBenchmark "
                   "passes that sum through an extra linear layer (linear_star).",
                   "The course keeps its additive head, so fused == sum(logits.values()) holds for every "
                   "method and the per-modality logits stay each modality's exact share."),
        Difference("The course's earlier dependence rule (share of the true-class scores) and unmasked "
                   "unimodal losses remain available; the defaults are the authors' softmax share and masked "
                   "unimodal losses.",
                   "The two dependence rules disagree on many batches (they can pick opposite modalities); the "
                   "options let a reader compare them.",
                   "dependence='true_class', unimodal_loss='unmasked'"),
        Difference("The method is active from the first epoch; BalanceBenchmark has a modulation window "
                   "(modulation_starts/ends) outside which it trains the plain fused loss.",
                   "The course's runs are 20 epochs; a window would only shorten the part under study."),
        Difference("A batch with non-finite logits marks no modality dependent (its softmax shares are NaN).",
                   "No modality can be judged dominant on it; the authors' comparison with NaN also marks none."),
    )
    hyperparameter_ranges = {"sigma": Number(ge=0, le=1), "p_max": Number(ge=0, le=1), "ramp_epochs": Integer(ge=1),
                             "dependence": Choice(DEPENDENCE_RULES), "unimodal_loss": Choice(UNIMODAL_LOSSES)}

    def __init__(self, sigma: float = 0.5, p_max: float = 0.5, ramp_epochs: int = 5,
                 dependence: str = "softmax_share", unimodal_loss: str = "masked") -> None:
        self.sigma, self.p_max, self.ramp_epochs = sigma, p_max, ramp_epochs
        self.dependence, self.unimodal_loss = dependence, unimodal_loss

    def on_epoch_start(self, state) -> None:
        self._dependent: dict[str, bool] = {}  # the authors reset the dependence every epoch

    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        output = model(batch)
        dependent = getattr(self, "_dependent", {})  # decided on the previous batch
        n_classes = output.fused.shape[1]
        ratio = mask_ratio(self.state.epoch, self.ramp_epochs, self.p_max)
        n_masked = int(math.floor(ratio * n_classes))
        logits = {}
        for m, z in output.logits.items():
            if dependent.get(m, False) and n_masked > 0:
                z = z * class_mask(len(batch), n_classes, n_masked, self.state.generator).to(z.device)  # drawn on the CPU
            logits[m] = z
        self.log(mask_ratio=n_masked / n_classes,
                 **{f"dependent_{m}": float(dependent.get(m, False)) for m in output.logits})
        # the decision for the next batch, from this batch's logits as fused (masked), like the authors
        self._dependent = dependent_modalities(dependence_scores(logits, batch.y, self.dependence), self.sigma)
        self._unimodal = logits if self.unimodal_loss == "masked" else output.logits
        return Output(torch.stack(list(logits.values())).sum(0), logits, output.features)

    def loss(self, output: Output, batch: Batch) -> Tensor:
        unimodal = getattr(self, "_unimodal", output.logits)
        return F.cross_entropy(output.fused, batch.y) + sum(F.cross_entropy(z, batch.y) for z in unimodal.values())
