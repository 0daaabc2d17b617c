"""Measuring a multimodal model: accuracies, probes, Shapley contributions, imbalance.

Per-modality scores are always read from the model's own decomposition
(``Output.logits[m]``, DESIGN.md §3): for concatenation fusion, modality m's
logits are its slice of the fused head plus b/M, as in OGM-GE and BalanceBenchmark.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .data import MultimodalDataset
from .models import MultimodalModel, Output, evaluating

if TYPE_CHECKING:
    from .methods import Method


# -- accuracies -------------------------------------------------------------------------------

def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Fraction of samples whose arg-max logit is the label."""
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return (logits.argmax(dim=1) == labels).float().mean().item()


def modality_accuracies(output: Output, labels: Tensor) -> dict[str, float]:
    """Accuracy of each modality's own logits ``logits[m]`` (the head slices)."""
    return {m: accuracy(z, labels) for m, z in output.logits.items()}


def true_class_score(logits: Tensor, labels: Tensor) -> Tensor:
    """OGM-GE's score: ``s = sum_i softmax(z_i)[y_i]`` over the batch (a sum, not a mean)."""
    return F.softmax(logits, dim=1).gather(1, labels[:, None]).sum()


def predict(model: MultimodalModel, data: MultimodalDataset, split: str, method: "Method | None" = None,
            batch_size: int = 1024) -> tuple[Output, Tensor]:
    """The model's :class:`Output` on a whole split (evaluation mode), and the labels."""
    with evaluating(model):
        outputs = [method.predict(model, batch) if method is not None else model(batch)  # hook [12]
                   for batch in data.batches(split, batch_size)]
    fused = torch.cat([o.fused for o in outputs])
    logits = {m: torch.cat([o.logits[m] for o in outputs]) for m in outputs[0].logits}
    features = {m: torch.cat([o.features[m] for o in outputs]) for m in outputs[0].features}
    return Output(fused, logits, features), data.labels[data.splits[split]].to(fused.device)


def evaluate(model: MultimodalModel, data: MultimodalDataset, split: str, method: "Method | None" = None
             ) -> dict[str, float]:
    """``{'acc': fused accuracy, 'acc_<m>': modality m's accuracy, 'loss': fused CE}`` on a split."""
    output, labels = predict(model, data, split, method)
    result = {"acc": accuracy(output.fused, labels), "loss": F.cross_entropy(output.fused, labels).item()}
    result.update({f"acc_{m}": a for m, a in modality_accuracies(output, labels).items()})
    return result


def macro_f1(logits: Tensor, labels: Tensor, n_classes: int | None = None) -> float:
    """Mean over classes of the per-class F1 score (a class never seen nor predicted scores 0)."""
    n_classes = n_classes or int(max(logits.shape[1], labels.max().item() + 1))
    predicted = logits.argmax(dim=1)
    scores = []
    for c in range(n_classes):
        tp = ((predicted == c) & (labels == c)).sum().item()
        fp = ((predicted == c) & (labels != c)).sum().item()
        fn = ((predicted != c) & (labels == c)).sum().item()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return sum(scores) / n_classes


# -- linear probes ------------------------------------------------------------------------------

def fit_linear_probe(features: Tensor, labels: Tensor, n_classes: int, epochs: int = 200,
                     weight_decay: float = 1e-3, seed: int = 0) -> torch.nn.Linear:
    """A multinomial logistic regression on frozen features (full-batch L-BFGS, standardised inputs).

    Returns a ``Linear`` layer that expects the *same* standardisation, so use
    :func:`linear_probe_accuracy` to evaluate it.
    """
    torch.manual_seed(seed)
    probe = torch.nn.Linear(features.shape[1], n_classes)
    optimizer = torch.optim.LBFGS(probe.parameters(), lr=1.0, max_iter=epochs, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(probe(features), labels) + weight_decay * probe.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return probe


def linear_probe_accuracy(train_features: Tensor, train_labels: Tensor, test_features: Tensor,
                          test_labels: Tensor, n_classes: int, seed: int = 0) -> float:
    """Test accuracy of a linear probe fitted on frozen train features.

    How much class information an encoder's features hold, independent of the
    fusion head it was trained with (the linear-probe protocol of BalanceBenchmark).
    """
    mean, std = train_features.mean(0), train_features.std(0).clamp_min(1e-6)
    probe = fit_linear_probe((train_features - mean) / std, train_labels, n_classes, seed=seed)
    with torch.no_grad():
        return accuracy(probe((test_features - mean) / std), test_labels)


def probe_encoders(model: MultimodalModel, data: MultimodalDataset, train_split: str = "train",
                   test_split: str = "test", seed: int = 0) -> dict[str, float]:
    """Linear-probe accuracy of every encoder's frozen features (fit on train, score on test)."""
    train_out, train_y = predict(model, data, train_split)
    test_out, test_y = predict(model, data, test_split)
    return {m: linear_probe_accuracy(train_out.features[m], train_y, test_out.features[m], test_y,
                                     data.n_classes, seed) for m in model.modalities}


# -- Shapley contributions ----------------------------------------------------------------------

def shapley_values(value_fn: Callable[[frozenset[str]], float | Tensor],
                   modalities: Sequence[str]) -> dict[str, float | Tensor]:
    """Exact Shapley values of a cooperative game over modalities.

    ``phi_m = sum_{S subset of M \\ {m}} |S|! (n-|S|-1)! / n! * [v(S + {m}) - v(S)]``

    ``value_fn`` maps a frozenset of modalities to its value (a number, or a
    tensor of per-sample values); it is called once per subset (2^n calls).
    The values sum to ``v(all) - v(empty)`` (efficiency). A modality named twice is an
    error (a set cannot hold it twice, so the game would be ill-defined).
    """
    players = list(modalities)
    n = len(players)
    if n == 0:
        raise ValueError("a Shapley game needs at least one modality")
    repeated = sorted({m for m in players if players.count(m) > 1})
    if repeated:
        raise ValueError(f"a Shapley game needs distinct modalities; {repeated} named more than once in {players}")
    cache = {frozenset(s): value_fn(frozenset(s)) for k in range(n + 1) for s in combinations(players, k)}
    result = {}
    for m in players:
        others = [p for p in players if p != m]
        total = 0.0
        for k in range(n):
            weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for subset in combinations(others, k):
                s = frozenset(subset)
                total = total + weight * (cache[s | {m}] - cache[s])
        result[m] = total
    return result


def subset_output(model: MultimodalModel, features: Mapping[str, Tensor], keep: Iterable[str]) -> Output:
    """The model's output when only the modalities in ``keep`` are present (others' features zeroed)."""
    keep = set(keep)
    return model.fuse({m: f if m in keep else torch.zeros_like(f) for m, f in features.items()})


@torch.no_grad()
def shapley_contributions(model: MultimodalModel, data: MultimodalDataset, split: str = "test",
                          per_sample: bool = False) -> dict[str, float | Tensor]:
    """Shapley contribution of each modality to the model's accuracy.

    A modality is removed by zeroing its encoder features (its logit slice drops
    out, the bias stays). Dataset level (``per_sample=False``): ``v(S)`` is the
    accuracy with only ``S`` present, and ``v(empty)`` the accuracy with none
    (the bias alone), as BalanceBenchmark does. Sample level: ``v(S) = 1[correct]``
    and ``v(empty) = 0`` (Wei et al., CVPR 2024); returns one tensor per modality.
    BalanceBenchmark zeroes the *inputs* instead; with ReLU encoders zero input
    does not mean zero features, so we remove the modality after its encoder.
    """
    output, labels = predict(model, data, split)

    def value(subset: frozenset[str]) -> float | Tensor:
        if per_sample and not subset:
            return torch.zeros(len(labels), device=labels.device)
        correct = (subset_output(model, output.features, subset).fused.argmax(1) == labels).float()
        return correct if per_sample else correct.mean().item()

    return shapley_values(value, model.modalities)


# -- gradients and imbalance --------------------------------------------------------------------

def gradient_norms(model: MultimodalModel) -> dict[str, float]:
    """L2 norm of each encoder's current gradient (0 for an encoder with no gradient yet)."""
    norms = {}
    for m, encoder in model.encoders.items():
        grads = [p.grad.pow(2).sum() for p in encoder.parameters() if p.grad is not None]
        norms[m] = torch.stack(grads).sum().sqrt().item() if grads else 0.0
    return norms


def imbalance(scores: Mapping[str, float]) -> float:
    """Normalised spread of per-modality scores: ``(max - min) / (|s_1| + ... + |s_M|)``.

    0 when every modality scores the same, 1 when one modality has everything and
    the others nothing. Applied to Shapley contributions it answers "how unevenly
    is the fused accuracy shared between modalities" — the quantity
    BalanceBenchmark (Xu et al., 2025) reports per modality but does not reduce to
    one number. Returns 0 when every score is 0 (no evidence of imbalance).

    Scores of opposite sign (a modality whose contribution is negative: it hurts the
    fused prediction) are allowed and the value stays in [0, 1], because
    ``max - min <= |max| + |min| <= sum |s_m|``; with two modalities of opposite sign it is
    exactly 1, as much imbalance as when one has everything and the other nothing.
    """
    values = list(scores.values())
    total = sum(abs(v) for v in values)
    return 0.0 if total == 0 else (max(values) - min(values)) / total


def imbalance_ratio(output: Output, labels: Tensor, dominant: str, weak: str) -> float:
    """OGM-GE's discrepancy ratio ``rho = s_dominant / s_weak`` of true-class scores (inf if s_weak = 0)."""
    s_dom = true_class_score(output.logits[dominant], labels).item()
    s_weak = true_class_score(output.logits[weak], labels).item()
    return math.inf if s_weak == 0 else s_dom / s_weak
