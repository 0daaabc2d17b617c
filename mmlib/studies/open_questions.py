"""Chapter 11's reference for "true" balance: a product of calibrated unimodal posteriors.

The survey's first open question asks whether the *relative* balance a remedy reaches
(modalities sharing the fused accuracy more evenly) is the *right* balance. On data whose
modalities are conditionally independent given the class (the synthetic generator draws
each modality's noise independently), Bayes' rule gives the best combination of
well-trained unimodal models::

    p(y | x_1, ..., x_M)  ∝  p(y)^{1-M} * prod_m p(y | x_m)

With balanced classes the prior term is a constant, so the decision is the argmax of
``sum_m log p(y | x_m)``; with temperature-calibrated unimodal posteriors
``p(y | x_m) = softmax(z_m / T_m)`` that is the argmax of ``sum_m z_m / T_m`` (the log-
normaliser of each softmax does not depend on y). ``T_m`` minimises the validation NLL
(:func:`mmlib.decision.fit_temperature`, Guo et al., ICML 2017).

The contributions it implies are Shapley values over modalities (as
:func:`mmlib.metrics.shapley_contributions` for a trained model) with ``v(S)`` the accuracy
of the combiner restricted to ``S`` (``sum_{m in S} z_m / T_m``) and ``v(empty)`` chance,
1 / C. :func:`mmlib.metrics.imbalance` of these is the reference imbalance.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from ..decision import calibrate, fit_temperatures
from ..metrics import imbalance, shapley_values

__all__ = ["ProductOfExperts", "product_of_experts"]


class ProductOfExperts:
    """The reference combiner's scores: accuracy, Shapley contributions, imbalance."""

    def __init__(self, temperatures: Mapping[str, float], accuracy: float, contributions: Mapping[str, float],
                 unimodal_accuracy: Mapping[str, float]):
        self.temperatures = dict(temperatures)
        self.accuracy = float(accuracy)
        self.contributions = dict(contributions)
        self.unimodal_accuracy = dict(unimodal_accuracy)

    @property
    def imbalance(self) -> float:
        """:func:`mmlib.metrics.imbalance` of the Shapley contributions."""
        return imbalance(self.contributions)

    def __repr__(self) -> str:
        return (f"ProductOfExperts(accuracy={self.accuracy:.3f}, imbalance={self.imbalance:.3f}, "
                f"contributions={ {m: round(v, 3) for m, v in self.contributions.items()} })")


def _accuracy(scores: Tensor, labels: Tensor) -> float:
    return (scores.argmax(1) == labels).float().mean().item()


def product_of_experts(val_logits: Mapping[str, Tensor], val_labels: Tensor, test_logits: Mapping[str, Tensor],
                       test_labels: Tensor) -> ProductOfExperts:
    """Fit one temperature per modality on validation logits, score ``sum_m z_m / T_m`` on test.

    ``*_logits`` map each modality to its unimodal model's ``N x C`` logits (the same
    modalities in both). Returns the temperatures, the test accuracy of the combiner, each
    modality's Shapley contribution to it (``v(empty)`` = 1 / C) and each calibrated
    unimodal model's own test accuracy.
    """
    if set(val_logits) != set(test_logits) or not val_logits:
        raise ValueError(f"product_of_experts: val and test need the same non-empty modalities, got "
                         f"{sorted(val_logits)} and {sorted(test_logits)}")
    shapes = {m: tuple(z.shape) for m, z in test_logits.items()}
    if len({s[1] for s in shapes.values()}) != 1 or any(s[0] != len(test_labels) for s in shapes.values()):
        raise ValueError(f"product_of_experts: every test logit must be N x C with N = {len(test_labels)} "
                         f"labels and one C, got {shapes}")
    temperatures = fit_temperatures(val_logits, val_labels)
    calibrated = calibrate(test_logits, temperatures)
    n_classes = next(iter(shapes.values()))[1]

    def value(subset: frozenset[str]) -> float:
        if not subset:
            return 1.0 / n_classes
        return _accuracy(torch.stack([calibrated[m] for m in subset]).sum(0), test_labels)

    names = list(test_logits)
    return ProductOfExperts(temperatures, value(frozenset(names)), shapley_values(value, names),
                            {m: value(frozenset([m])) for m in names})
