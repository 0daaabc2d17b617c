"""Gradient-Blending: weight each branch's loss by how well it generalises.

Paper: Wang, Tran, Feiszli, "What Makes Training Multi-Modal Classification Networks
Hard?", CVPR 2020.

The model is trained on a weighted sum of one loss per branch ``k`` (each
modality's own logits, and the fused logits):

    L = sum_k w_k CE(z_k, y).

The weights come from each branch's overfitting-to-generalization ratio over a
window of training (a "super-epoch" of ``super_epoch`` epochs), measured with
the mean losses on the train split and on a held-out split at the window's start
(0) and end (1):

    G_k = L*_k(0) - L*_k(1)                         (generalization gain, held-out loss drop)
    O_k = (L*_k(1) - L_k(1)) - (L*_k(0) - L_k(0))   (growth of the held-out - train gap)
    w_k ∝ G_k / O_k^2,   sum_k w_k = 1.

A branch whose held-out loss falls while its gap to the train loss stays small
gets a large weight; one that only overfits gets a small one.

Held-out split: ``holdout='val'`` (default) uses the validation split; a number
``0 < holdout < 1`` holds out that fraction of the train split (never trained
on). The test split is never used.

Defaults: ``super_epoch = 5`` (four re-estimates in the course's 20 epochs;
BalanceBenchmark uses 10 of 30), uniform weights during the first super-epoch.
The authors published no code; every difference from BalanceBenchmark's implementation
is listed in ``GBlending.differences`` (and in :func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import Output, evaluating
from ..validation import AnyOf, Choice, Integer, Number
from .base import Method, register
from .provenance import Difference, Paper, Source

FUSED = "fused"


def blending_weights(train_start: Mapping[str, float], train_end: Mapping[str, float],
                     held_start: Mapping[str, float], held_end: Mapping[str, float],
                     eps: float = 1e-6) -> dict[str, float] | None:
    """``w_k ∝ max(G_k, 0) / max(O_k^2, eps)``, normalised; ``None`` when no branch generalised."""
    keys = list(train_start)
    for name, losses in (("train_end", train_end), ("held_start", held_start), ("held_end", held_end)):
        if set(losses) != set(keys):
            raise KeyError(f"{name} has branches {sorted(losses)}, expected {sorted(keys)}")
    raw = {}
    for k in keys:
        gain = held_start[k] - held_end[k]
        overfit = (held_end[k] - train_end[k]) - (held_start[k] - train_start[k])
        raw[k] = max(gain, 0.0) / max(overfit ** 2, eps)
    total = sum(raw.values())
    if not total > 0 or total != total or total == float("inf"):
        return None
    return {k: v / total for k, v in raw.items()}


@register
class GBlending(Method):
    """Weighted sum of the fused and per-modality losses, weights re-estimated every super-epoch."""

    name = "gblending"
    family = "learning objective"
    paper = Paper("Wang, Tran, Feiszli", "What Makes Training Multi-Modal Classification Networks Hard?", "CVPR",
                  2020, "https://arxiv.org/abs/1905.12681")
    sources = (Source("GeWu-Lab/BalanceBenchmark", "01458a1193a29ebced9570b22e113115433adf48",
                      "balancemm/trainer/GBlending_trainer.py", "GBlendingTrainer.super_epoch_origin",
                      note="no official code; BalanceBenchmark's implementation"),)
    differences = (
        Difference("Online: the branches' own heads in the one jointly trained model, measured at the start "
                   "and end of each super-epoch; BalanceBenchmark copies the model and trains each branch "
                   "separately for a super-epoch (other modalities zero-padded) before every re-estimate.",
                   "The paper's online variant: two evaluation passes per super-epoch instead of three extra "
                   "trainings."),
        Difference("The held-out split is the validation split (or a held-out part of train); "
                   "BalanceBenchmark measures on the test split.", "The test split must not choose the "
                   "weights it is then scored with."),
        Difference("Losses are means over the samples from an evaluation pass; BalanceBenchmark sums batch "
                   "losses (train: the running losses of the training epoch; the train and test sums have "
                   "different batch counts).", "Means make G and O comparable across splits of different "
                   "size, as the paper defines them."),
        Difference("w_k is proportional to max(G_k, 0) / max(O_k^2, eps); BalanceBenchmark takes |G_k| / O_k^2, "
                   "so a branch whose held-out loss rose gets a positive weight, and O_k = 0 divides by zero.",
                   "A branch that did not generalise should get no weight; the floor keeps the weights finite."),
        Difference("Uniform weights during the first super-epoch, and the weights are kept when no branch "
                   "generalised; BalanceBenchmark estimates weights before the first epoch.",
                   "The online estimate needs one super-epoch of training to measure."),
    )
    hyperparameter_ranges = {"super_epoch": Integer(ge=1), "holdout": AnyOf(Choice(("val",)), Number(gt=0, lt=1)),
                             "eps": Number(gt=0)}

    def __init__(self, super_epoch: int = 5, holdout: str | float = "val", eps: float = 1e-6) -> None:
        self.super_epoch = super_epoch
        self.holdout = holdout
        self.eps = eps

    def setup(self, state) -> None:
        super().setup(state)
        train = state.data.splits["train"]
        if self.holdout == "val":
            self.train_index, self.held_index = train, state.data.splits["val"]
        else:
            order = train[torch.randperm(len(train), generator=state.generator)]
            n_held = max(1, int(round(self.holdout * len(train))))
            self.held_index = torch.sort(order[:n_held]).values
            self.train_index = torch.sort(order[n_held:]).values
        branches = [FUSED, *state.model.modalities]
        self.weights = {k: 1.0 / len(branches) for k in branches}
        self._start: tuple[dict[str, float], dict[str, float]] | None = None

    def branch_losses(self, index: Tensor) -> dict[str, float]:
        """Mean CE of every branch on the samples ``index`` (evaluation mode)."""
        model = self.state.model
        with evaluating(model):
            output = self.predict(model, self.state.data.batch(index))
        labels = self.state.data.labels[index]
        losses = {FUSED: F.cross_entropy(output.fused, labels).item()}
        losses.update({m: F.cross_entropy(z, labels).item() for m, z in output.logits.items()})
        return losses

    def sample(self, state):
        return state.data.batches("train", state.batch_size, shuffle=True, generator=state.generator,
                                  index=self.train_index)

    def on_epoch_start(self, state) -> None:
        if state.epoch % self.super_epoch == 0:
            self._start = (self.branch_losses(self.train_index), self.branch_losses(self.held_index))
        self.log(**{f"w_{k}": v for k, v in self.weights.items()})  # the weights in force this epoch

    def on_epoch_end(self, state) -> None:
        last_of_window = (state.epoch + 1) % self.super_epoch == 0
        if last_of_window and self._start is not None:
            end = (self.branch_losses(self.train_index), self.branch_losses(self.held_index))
            new = blending_weights(self._start[0], end[0], self._start[1], end[1], self.eps)
            if new is not None:
                self.weights = new

    def loss(self, output: Output, batch: Batch) -> Tensor:
        total = self.weights[FUSED] * F.cross_entropy(output.fused, batch.y)
        for m, z in output.logits.items():
            total = total + self.weights[m] * F.cross_entropy(z, batch.y)
        return total
