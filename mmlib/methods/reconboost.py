"""ReconBoost: alternating boosting of the modality learners.

Paper: Hua, Xu, Bao, Yang, Huang, "ReconBoost: Boosting Can Achieve Modality
Reconcilement", ICML 2024.

Joint training sends every encoder the same shared factor ``softmax(z) - onehot(y)``
at the same time, so the modality that fits fastest silences the others. ReconBoost
never trains two modalities at once. Each epoch is one *stage* for one modality m
(taken in turn), followed by a *correction* pass over the whole model:

    stage (learner f = z_m, the others' ensemble F = sum_{j != m} z_j, frozen):
        L = (1/C) * mean_i [ (-w1 + w2 * softmax(F_i)[y_i]) * log softmax(f_i)[y_i] ]
            + alpha * MSE( softmax(f), softmax(z_prev).detach() )        (not in stage 0)
    correction (all parameters):
        L = CE( sum_m z_m, y )

The first term is gradient boosting with a KL reconcilement: samples the other
modalities already get right weigh less (``w2 * softmax(F)[y]``), so the current
learner spends its capacity on what the others miss. ``z_prev`` is the learner
trained in the previous stage.

The memory-consolidation term (alpha): the public code computes it with *both*
arguments detached, so it adds a constant and no gradient -- the term does nothing.
We implement the paper's intent: a regulariser of the current learner, so its side
keeps its gradient (the previous learner stays detached); the sign follows the
code (+alpha).

Defaults and deliberate differences: ``w1 = 5, w2 = 1, alpha = 0.5`` (the authors'
CREMA-D defaults); one epoch per stage and one correction pass per epoch
(BalanceBenchmark's ``T_epochs = 1``; the authors use 4 and 4 for 100+ stages). Each
phase gets a fresh optimizer of the run's kind and settings, as the authors create
a new SGD per phase (:meth:`ReconBoost.configure_optimizers` makes one per phase once;
its state, e.g. momentum, is cleared at the start of every epoch). The phase of a batch
is its type: :meth:`ReconBoost.sample` yields the stage pass as :class:`StageBatch` es and
the correction pass as plain batches, and ``optimizer_for``, ``forward`` and ``loss``
read it from the batch. The learners share the course's concatenation head (z_m is a
head slice), not one head per learner.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import MultimodalModel, Output
from ..validation import Flag, Number
from .base import Method, encoder_parameters, register


def boosting_loss(logits: Tensor, others_logits: Tensor, labels: Tensor, w1: float, w2: float) -> Tensor:
    """ReconBoost's stage loss (without the consolidation term), averaged over the batch.

    ``(1/C) * mean_i (-w1 + w2 * softmax(F_i)[y_i]) * log softmax(f_i)[y_i]``;
    ``others_logits`` (F) is treated as a constant.
    """
    n_classes = logits.shape[1]
    log_p = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    q = F.softmax(others_logits.detach(), dim=1).gather(1, labels[:, None]).squeeze(1)
    return ((-w1 + w2 * q) * log_p).mean() / n_classes


def consolidation_loss(logits: Tensor, previous_logits: Tensor) -> Tensor:
    """``MSE(softmax(f), softmax(f_prev))`` with gradient through ``f`` only."""
    return F.mse_loss(F.softmax(logits, dim=1), F.softmax(previous_logits.detach(), dim=1))


class StageBatch(Batch):
    """A batch of the stage pass: only the current learner trains on it (a plain batch is a correction step)."""


@register
class ReconBoost(Method):
    """ReconBoost (Hua et al., ICML 2024). See the module docstring."""

    name = "reconboost"
    family = "optimization"
    paper = "Hua et al., ReconBoost: Boosting Can Achieve Modality Reconcilement, ICML 2024"
    hyperparameter_ranges = {"w1": Number(gt=0), "w2": Number(ge=0), "alpha": Number(ge=0), "correction": Flag()}

    def __init__(self, w1: float = 5.0, w2: float = 1.0, alpha: float = 0.5, correction: bool = True) -> None:
        self.w1 = w1
        self.w2 = w2
        self.alpha = alpha
        self.correction = correction

    def configure_optimizers(self, model: MultimodalModel, make_optimizer) -> list[torch.optim.Optimizer]:
        """One optimizer per phase: the correction's over every parameter (``state.optimizer``),
        and one per stage learner over its encoder and the head."""
        head = [p for p in model.head.parameters() if p.requires_grad]
        self.correction_optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad])
        self.stage_optimizers = {m: make_optimizer(encoder_parameters(model, m) + head) for m in model.modalities}
        return [self.correction_optimizer, *self.stage_optimizers.values()]

    def on_epoch_start(self, state) -> None:
        names = state.model.modalities
        self.learner = names[state.epoch % len(names)]
        self.previous = names[(state.epoch - 1) % len(names)] if state.epoch > 0 else None
        for optimizer in state.optimizers:  # a fresh start for each phase, as the authors make a new
            optimizer.state.clear()         # SGD per phase (no momentum carried over)
        self.log(**{f"stage_{m}": float(m == self.learner) for m in names})

    def sample(self, state) -> Iterator[Batch]:
        """The stage pass (:class:`StageBatch` es), then the correction pass (plain batches)."""
        for batch in state.data.batches("train", state.batch_size, shuffle=True, generator=state.generator):
            yield StageBatch(batch.x, batch.y, batch.index)
        if self.correction:
            yield from state.data.batches("train", state.batch_size, shuffle=True, generator=state.generator)

    def optimizer_for(self, state, batch: Batch) -> torch.optim.Optimizer:
        return self.stage_optimizers[self.learner] if isinstance(batch, StageBatch) else self.correction_optimizer

    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        """Stage: only the learner's encoder builds a graph (the others are frozen). Correction: the model."""
        if not isinstance(batch, StageBatch):
            return model(batch)
        features = {}
        for m, encoder in model.encoders.items():
            if m == self.learner:
                features[m] = encoder(batch.x[m])
            else:
                with torch.no_grad():
                    features[m] = encoder(batch.x[m])
        return model.fuse(features)

    def loss(self, output: Output, batch: Batch) -> Tensor:
        """Stage: the boosting loss of the learner (+ consolidation). Correction: CE on the fused logits."""
        if not isinstance(batch, StageBatch):
            return F.cross_entropy(output.fused, batch.y)
        f = output.logits[self.learner]
        others = sum(z for m, z in output.logits.items() if m != self.learner)
        loss = boosting_loss(f, others, batch.y, self.w1, self.w2)
        if self.previous is not None and self.previous != self.learner and self.alpha > 0:
            consolidation = consolidation_loss(f, output.logits[self.previous])
            loss = loss + self.alpha * consolidation
            self.log(consolidation=consolidation)
        self.log(boost_loss=loss)
        return loss
