"""ReconBoost: alternating boosting of the modality learners.

Paper: Hua, Xu, Bao, Yang, Huang, "ReconBoost: Boosting Can Achieve Modality
Reconcilement", ICML 2024, arXiv 2405.09321.

Joint training sends every encoder the same shared factor ``softmax(z) - onehot(y)``
at the same time, so the modality that fits fastest silences the others. ReconBoost
never trains two modalities at once. Each epoch is one *stage* for one modality m
(taken in turn), followed by a *correction* pass over the ensemble:

    ensemble E  = the learners that have had a stage (the current one included after it)
    stage (learner f = z_m, the others' ensemble F = sum_{j in E, j != m} z_j, frozen):
        L = (1/C) * mean_i [ (-w1 + w2 * q_i) * log softmax(f_i)[y_i] ]
            + alpha * MSE( softmax(f), softmax(z_prev).detach() )        (not in stage 0)
        q_i = softmax(F_i)[y_i],  and q_i = 1 while F is empty (stage 0)
    correction (the encoders of E and the head):
        L = CE( sum_{m in E} z_m, y )

The first term is gradient boosting with a KL reconcilement: samples the other
modalities already get right weigh less (``w2 * q``), so the current learner spends
its capacity on what the others miss. In stage 0 the authors' ensemble holds only a
constant, whose softmax over one column is 1: every sample weighs ``w2 - w1``, plain
cross-entropy. ``z_prev`` is the learner trained in the previous stage.

The memory-consolidation term (alpha): the public code computes it with *both*
arguments detached, so it adds a constant and no gradient -- the term does nothing
(``alpha=0`` is exactly their code). We implement the paper's intent: a regulariser of
the current learner, so its side keeps its gradient (the previous learner stays
detached); the sign follows the code (+alpha).

Each phase gets a fresh optimizer of the run's kind and settings, as the authors create
a new SGD per phase (:meth:`ReconBoost.configure_optimizers` makes one per phase once;
its state, e.g. momentum, is cleared at the start of every epoch). The phase of a batch
is its type: :meth:`ReconBoost.sample` yields the stage pass as :class:`StageBatch` es and
the correction pass as plain batches, and ``optimizer_for``, ``forward`` and ``loss``
read it from the batch. Every difference from the authors' code is listed in
``ReconBoost.differences`` (and in :func:`mmlib.methods.ledger`).
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
from .provenance import Paper, Difference, Source


def boosting_loss(logits: Tensor, others_logits: Tensor | None, labels: Tensor, w1: float, w2: float) -> Tensor:
    """ReconBoost's stage loss (without the consolidation term), averaged over the batch.

    ``(1/C) * mean_i (-w1 + w2 * softmax(F_i)[y_i]) * log softmax(f_i)[y_i]``;
    ``others_logits`` (F) is treated as a constant. ``None`` is the empty ensemble of
    stage 0: ``q = 1`` for every sample (the authors' constant ensemble), so each weighs
    ``w2 - w1``.
    """
    n_classes = logits.shape[1]
    log_p = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    if others_logits is None:
        q = torch.ones_like(log_p)
    else:
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
    paper = Paper("Hua, Xu, Bao, Yang, Huang", "ReconBoost: Boosting Can Achieve Modality Reconcilement", "ICML",
                  2024, "https://arxiv.org/abs/2405.09321")
    sources = (Source("huacong/ReconBoost", "441eb5190f8799a0fa04338159b927e1ced0c00d", "train.py", "main"),
               Source("huacong/ReconBoost", "441eb5190f8799a0fa04338159b927e1ced0c00d", "models/dynamic_net.py",
                      "DynamicNet"))
    differences = (
        Difference("The consolidation term keeps its gradient on the current learner; the authors detach both "
                   "arguments, so theirs adds a constant and no gradient.",
                   "The paper describes a regulariser that keeps the new learner close to the previous one; "
                   "the code's version does nothing.", "alpha=0"),
        Difference("No learnable boost rate: the ensemble is the plain sum of the learners' logits; the authors "
                   "multiply it by a scalar (initialised at 1.0) trained in the correction phase.",
                   "A positive scalar on all logits is a temperature: it does not change any prediction (the "
                   "arg max), only how sharp the correction loss and the weights q are; the course keeps the "
                   "baseline's model, with no extra parameter."),
        Difference("One epoch per stage and one correction pass per epoch; the authors run 4 and 4 for 100+ "
                   "stages (BalanceBenchmark 1 and 1).",
                   "The course trains 15-20 epochs: with 4-epoch stages each modality would get two stages."),
        Difference("The learners share the course's concatenation head (z_m is m's slice of one linear layer, "
                   "with a 1/M share of its bias); the authors apply one shared two-layer head to each "
                   "learner's features.", "The course compares every method on the same model."),
        Difference("Validation and test score the whole model from epoch 0; the authors score the ensemble, "
                   "which in stage 0 holds only the first learner.",
                   "Evaluation is the same for every method; from the second epoch on the two agree."),
        Difference("The authors' script can start from pre-trained unimodal encoders (``--use_pretrain``, in "
                   "their README); the course starts from scratch, the script's other path.",
                   "Every method in the course starts from the same random initialisation."),
    )
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
        # the ensemble before this stage: the learners of the earlier stages (empty in stage 0)
        self.ensemble = [m for m in names[:min(state.epoch, len(names))] if m != self.learner]
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
        """Stage: the boosting loss of the learner (+ consolidation). Correction: CE on the ensemble's logits
        (the fused logits once every modality has had a stage)."""
        if not isinstance(batch, StageBatch):
            members = [*self.ensemble, self.learner]
            if len(members) == len(output.logits):
                return F.cross_entropy(output.fused, batch.y)
            return F.cross_entropy(sum(output.logits[m] for m in members), batch.y)
        f = output.logits[self.learner]
        others = sum(output.logits[m] for m in self.ensemble) if self.ensemble else None
        loss = boosting_loss(f, others, batch.y, self.w1, self.w2)
        if self.previous is not None and self.previous != self.learner and self.alpha > 0:
            consolidation = consolidation_loss(f, output.logits[self.previous])
            loss = loss + self.alpha * consolidation
            self.log(consolidation=consolidation)
        self.log(boost_loss=loss)
        return loss
