"""Modality imbalance at the decision layer: measuring it, and weighting the modalities' outputs.

Ma & Chen, "Revisit Modality Imbalance at the Decision Layer", arXiv 2510.14411 (2025),
argue that even when every encoder is trained to its full strength, a jointly learned
decision layer leans on one modality, because the modalities' feature spaces (norm,
dimension, geometry) and hence their decision weights differ; summing *uncalibrated*
per-modality outputs lets that skew decide. They propose adaptive weight allocation at
the decision layer, according to each modality's capability. No code of theirs is
public: every function here is our own reading of that idea.

All functions take the additive decomposition of the course (DESIGN.md §3): a dict
``logits[m]`` of ``(N, C)`` tensors with ``fused = sum_m logits[m]``.

Measurement
    :func:`weight_norms`, :func:`per_class_weight_norms` (``||W_m||``, ``||W_m[c]||``),
    :func:`feature_energy` (``E||h_m||^2``: how fast a fresh head's logits grow for m),
    :func:`logit_magnitudes`, :func:`decision_shares`, :func:`removal_drops`,
    :func:`per_class_accuracy`.

Weighting (the weights of every scheme sum to 1 over the modalities; the weighted
logits are ``M * w_m * z_m / T_m``, so uniform weights and ``T_m = 1`` give back the
plain sum)
    :func:`fit_temperature` (per-modality temperature on a validation split),
    :func:`capability_weights` (global, from calibrated unimodal accuracy),
    :func:`confidence_weights` (per sample, from each modality's confidence),
    :func:`class_capabilities` and :func:`fit_class_weights` (per class, learned, with a
    relative-balance term), :func:`weighted_logits`.

Removing the disparity and comparing with capability
    :func:`equal_energy_scales`, :func:`capability_shares`, :func:`skew_report`.

This module holds only pure functions of tensors (it imports nothing above
:mod:`mmlib.models` and :mod:`mmlib.metrics`; ``accuracy`` is :func:`mmlib.metrics.accuracy`).
The model builders (:class:`~mmlib.models.Rescale`, :func:`~mmlib.models.model_with_dims`,
:func:`~mmlib.models.head_model`) live in :mod:`mmlib.models`; encoder pre-training and
frozen-feature data sets in :mod:`mmlib.studies.decision_layer`; the weight explorer in
:mod:`mmlib.widgets`.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .metrics import accuracy

Logits = Mapping[str, Tensor]


def _check(logits: Logits) -> list[str]:
    if not logits:
        raise ValueError("logits must hold at least one modality")
    shapes = {tuple(z.shape) for z in logits.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"every modality's logits must be one (N, C) shape; got {shapes}")
    return list(logits)


def _fused(logits: Logits) -> Tensor:
    return torch.stack(list(logits.values())).sum(0)


# -- the decision layer's weights and the features it reads ---------------------------------------

def weight_norms(slices: Mapping[str, Tensor]) -> dict[str, float]:
    """Frobenius norm ``||W_m||`` of each modality's slice of the head (``ConcatFusion.weight_slices()``)."""
    return {m: w.detach().norm().item() for m, w in slices.items()}


def per_class_weight_norms(slices: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``||W_m[c]||`` for every class ``c``: how strongly the head reads modality m to score class c."""
    return {m: w.detach().norm(dim=1) for m, w in slices.items()}


def feature_energy(features: Mapping[str, Tensor]) -> dict[str, float]:
    """``E_x ||h_m(x)||^2``, the mean squared feature norm of each modality.

    Why it matters (chapter 1's decomposition applied to a fresh head): one SGD step on
    ``W_m`` changes modality m's logits by ``dz_m(x) = -eta/B sum_i (p_i - e_{y_i}) <h_m(x_i), h_m(x)>``,
    so the rate at which a modality's logits grow scales with its features' inner
    products — their norm squared, which grows with dimension. The modality with more
    energy fits the labels first and leaves the others little loss to learn from.
    """
    return {m: h.detach().pow(2).sum(1).mean().item() for m, h in features.items()}


# -- what the decision layer does with each modality's logits -------------------------------------

def logit_magnitudes(logits: Logits) -> dict[str, float]:
    """Mean over samples of the RMS of each modality's centred logits, ``E_x std_c z_m(x)_c``.

    Centring removes what does not change a decision (a constant added to every class).
    A modality whose logits are all zero has magnitude 0.
    """
    _check(logits)
    return {m: z.detach().std(dim=1, unbiased=False).mean().item() for m, z in logits.items()}


def contributions(logits: Logits) -> Tensor:
    """``(N, M)``: each modality's push towards the fused decision ``y_hat``.

    ``c_m(x) = z_m(x)[y_hat] - mean_c z_m(x)[c]``. They add up to the fused margin of the
    decided class over the mean class, ``sum_m c_m = fused[y_hat] - mean_c fused[c] >= 0``.
    """
    _check(logits)
    z = torch.stack([v.detach() for v in logits.values()], dim=1)  # (N, M, C)
    decided = z.sum(1).argmax(1)
    centred = z - z.mean(2, keepdim=True)
    return centred.gather(2, decided[:, None, None].expand(-1, z.shape[1], 1)).squeeze(2)


def decision_shares(logits: Logits) -> dict[str, float]:
    """The share of the test decisions each modality's logits carry (sums to 1).

    Per sample, modality m's share is its positive push towards the decided class over
    all modalities' positive pushes, ``max(c_m, 0) / sum_k max(c_k, 0)`` (see
    :func:`contributions`); a sample where no modality pushes (all logits tied) counts
    every modality equally. The result is the mean over samples. A modality whose
    logits are all zero gets share 0 — and no NaN.
    """
    names = _check(logits)
    push = contributions(logits).clamp_min(0)
    total = push.sum(1, keepdim=True)
    share = torch.where(total > 0, push / total.clamp_min(1e-12), torch.full_like(push, 1 / len(names)))
    return dict(zip(names, share.mean(0).tolist()))


def removal_drops(logits: Logits, labels: Tensor, bias: Tensor | None = None) -> dict[str, float]:
    """Accuracy lost when modality m's logits are removed from the sum: ``acc(fused) - acc(fused - z_m)``.

    With ``bias`` (the head's bias ``b``, of which every ``logits[m]`` holds ``b / M``),
    the bias share stays, as when the modality's features are zeroed
    (:func:`mmlib.metrics.subset_output`). A negative drop means the modality hurt.
    """
    names = _check(logits)
    fused = _fused(logits)
    keep = 0 if bias is None else bias.detach() / len(names)
    full = accuracy(fused, labels)
    return {m: full - accuracy(fused - logits[m] + keep, labels) for m in names}


def per_class_accuracy(scores: Tensor, labels: Tensor, n_classes: int | None = None) -> Tensor:
    """Recall of every class, ``(C,)``; a class with no sample is NaN (undefined, not 0)."""
    n_classes = n_classes or scores.shape[1]
    hits = (scores.argmax(1) == labels).float()
    counts = torch.bincount(labels, minlength=n_classes).float()
    correct = torch.bincount(labels, weights=hits, minlength=n_classes)
    return torch.where(counts > 0, correct / counts.clamp_min(1), torch.full_like(counts, math.nan))


# -- calibration ------------------------------------------------------------------------------------

def fit_temperature(logits: Tensor, labels: Tensor, max_temperature: float = 100.0, iterations: int = 60) -> float:
    """The temperature ``T`` minimising the validation NLL of ``softmax(z / T)`` (Guo et al., 2017).

    The NLL is convex in ``beta = 1 / T`` (a log-sum-exp of functions linear in beta
    minus a linear term), so a golden-section search over ``beta in [1/max_temperature, 100]``
    finds it without a learning rate. Logits that do not depend on the sample's class
    information at all (e.g. all zero) leave the NLL flat: ``T = 1`` is returned.
    """
    z = logits.detach().double()
    if torch.allclose(z, z.mean(1, keepdim=True)):
        return 1.0

    def nll(beta: float) -> float:
        return F.cross_entropy(z * beta, labels).item()

    lo, hi = 1.0 / max_temperature, 100.0
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(iterations):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return 1.0 / ((lo + hi) / 2)


def fit_temperatures(logits: Logits, labels: Tensor) -> dict[str, float]:
    """:func:`fit_temperature` for every modality separately."""
    return {m: fit_temperature(z, labels) for m, z in logits.items()}


def calibrate(logits: Logits, temperatures: Mapping[str, float]) -> dict[str, Tensor]:
    """``z_m / T_m`` for every modality."""
    return {m: z / temperatures[m] for m, z in logits.items()}


# -- the weighting schemes --------------------------------------------------------------------------

def capability_weights(logits: Logits, labels: Tensor, power: float = 1.0) -> dict[str, float]:
    """Global weights from each modality's capability: ``w_m ∝ max(acc_m - 1/C, 0)^power``, summing to 1.

    ``acc_m`` is the accuracy of modality m's logits alone (on the split given, the
    validation split in the methods); chance level ``1/C`` counts as no capability.
    ``power`` sharpens (> 1) or flattens (< 1) the allocation; ``power = 0`` is uniform.
    If no modality beats chance the weights are uniform.
    """
    names = _check(logits)
    chance = 1.0 / next(iter(logits.values())).shape[1]
    gains = torch.tensor([max(accuracy(logits[m], labels) - chance, 0.0) for m in names], dtype=torch.float64)
    if power == 0:
        gains = (gains > 0).double() if gains.sum() > 0 else gains
    else:
        gains = gains ** power
    weights = gains / gains.sum() if gains.sum() > 0 else torch.full_like(gains, 1 / len(names))
    return dict(zip(names, weights.tolist()))


def confidence(logits: Tensor) -> Tensor:
    """``max_c softmax(z)_c - 1/C`` per sample: 0 for a flat (e.g. all-zero) output, up to ``1 - 1/C``."""
    return logits.softmax(1).max(1).values - 1.0 / logits.shape[1]


def confidence_weights(logits: Logits, sharpness: float = 1.0) -> Tensor:
    """Per-sample weights ``(N, M)``, each row summing to 1: ``w_m(x) ∝ confidence_m(x)^sharpness``.

    Use calibrated logits (:func:`calibrate`), or a modality that is merely
    over-confident wins. A sample on which every modality is flat gets uniform weights.
    """
    _check(logits)
    conf = torch.stack([confidence(z.detach()) for z in logits.values()], dim=1).clamp_min(0) ** sharpness
    total = conf.sum(1, keepdim=True)
    return torch.where(total > 0, conf / total.clamp_min(1e-12), torch.full_like(conf, 1 / conf.shape[1]))


def class_capabilities(logits: Logits, labels: Tensor) -> Tensor:
    """``(M, C)`` relative capability per class: each modality's recall on class c above chance, normalised over m.

    Columns sum to 1; a class no modality recognises above chance (or that has no
    sample) gets a uniform column.
    """
    names = _check(logits)
    n_classes = next(iter(logits.values())).shape[1]
    recall = torch.stack([per_class_accuracy(logits[m], labels, n_classes) for m in names])
    gain = (torch.nan_to_num(recall, nan=0.0) - 1.0 / n_classes).clamp_min(0)
    total = gain.sum(0, keepdim=True)
    return torch.where(total > 0, gain / total.clamp_min(1e-12), torch.full_like(gain, 1 / len(names)))


def class_weighted_sum(logits: Logits, weights: Tensor) -> Tensor:
    """``fused[:, c] = M * sum_m weights[m, c] * z_m[:, c]`` for ``(M, C)`` weights."""
    z = torch.stack(list(logits.values()))  # (M, N, C)
    return len(logits) * (weights[:, None, :] * z).sum(0)


def fit_class_weights(logits: Logits, labels: Tensor, balance: float = 1.0, steps: int = 60,
                      lr: float = 0.2) -> Tensor:
    """Per-class modality weights ``A (M, C)``, each column summing to 1, learned on a labelled split.

    ``A[:, c] = softmax_m(alpha[:, c])`` minimises

        CE( M * sum_m A[m, c] z_m[:, c] , y )  +  balance * mean_c KL( R[:, c] || A[:, c] )

    where ``R = class_capabilities(logits, labels)`` is each modality's relative
    capability on class c. The cross-entropy alone tends to hand every class to the
    modality that is best on average; the relative-balance term keeps each class's
    allocation near what each modality can actually do on that class. Full-batch Adam
    from uniform weights, ``steps`` steps (deterministic).
    """
    names = _check(logits)
    z = {m: v.detach().float() for m, v in logits.items()}
    target = class_capabilities(z, labels)
    alpha = torch.zeros(len(names), next(iter(z.values())).shape[1], device=labels.device, requires_grad=True)
    optimizer = torch.optim.Adam([alpha], lr=lr)
    for _ in range(steps):
        weights = alpha.softmax(0)
        loss = F.cross_entropy(class_weighted_sum(z, weights), labels)
        if balance > 0:
            loss = loss + balance * (target * (target.clamp_min(1e-12).log() - weights.log())).sum(0).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return alpha.detach().softmax(0)


def weighted_logits(logits: Logits, weights: Mapping[str, float] | Tensor, per: str = "modality") -> dict[str, Tensor]:
    """``M * w_m * z_m`` for every modality; the result's sum is the fused decision (the course's contract).

    ``per="modality"``: ``weights`` is a dict ``{m: w_m}`` (or an ``(M,)`` tensor);
    ``per="sample"``: an ``(N, M)`` tensor; ``per="class"``: an ``(M, C)`` tensor
    (modalities in ``logits``' order).
    """
    names = _check(logits)
    n, c = next(iter(logits.values())).shape
    scale = len(names)
    expected = {"modality": (len(names),), "sample": (n, len(names)), "class": (len(names), c)}
    if per not in expected:
        raise ValueError(f"per must be one of {sorted(expected)}, got {per!r}")
    if isinstance(weights, Mapping):
        if per != "modality":
            raise ValueError("a dict of weights is per modality; pass a tensor for per='sample' or 'class'")
        weights = torch.tensor([float(weights[m]) for m in names])
    if tuple(weights.shape) != expected[per]:
        raise ValueError(f"per={per!r} needs weights of shape {expected[per]}, got {tuple(weights.shape)}")
    if per == "modality":
        return {m: scale * weights[i] * logits[m] for i, m in enumerate(names)}
    if per == "sample":
        return {m: scale * weights[:, i:i + 1] * logits[m] for i, m in enumerate(names)}
    return {m: scale * weights[i][None, :] * logits[m] for i, m in enumerate(names)}


# -- removing the disparity -------------------------------------------------------------------------

def equal_energy_scales(features: Mapping[str, Tensor]) -> dict[str, float]:
    """Factors ``s_m`` giving every modality the same mean squared feature norm, the mean of theirs.

    ``s_m = sqrt(mean_k E||h_k||^2 / E||h_m||^2)``: the disparity goes, the total energy (and
    so the head's effective learning rate) stays. A modality with zero features keeps scale 1.
    """
    energy = feature_energy(features)
    target = sum(energy.values()) / len(energy)
    return {m: (math.sqrt(target / e) if e > 0 else 1.0) for m, e in energy.items()}


# -- capability against decision ------------------------------------------------------------------

def capability_shares(capability: Mapping[str, float], n_classes: int) -> dict[str, float]:
    """Each modality's share of the total above-chance unimodal accuracy, ``(acc_m - 1/C)_+ / sum_k (acc_k - 1/C)_+``.

    What a decision layer allocating "according to capability" would give each modality:
    compare it with :func:`decision_shares`.
    """
    gains = {m: max(a - 1.0 / n_classes, 0.0) for m, a in capability.items()}
    total = sum(gains.values())
    return {m: (g / total if total > 0 else 1.0 / len(gains)) for m, g in gains.items()}


# -- one summary ------------------------------------------------------------------------------------

def skew_report(logits: Logits, labels: Tensor, slices: Mapping[str, Tensor] | None = None,
                bias: Tensor | None = None) -> dict[str, dict[str, float]]:
    """Every per-modality measure of this module in one dict: ``{measure: {modality: value}}``.

    Measures: ``accuracy`` (of the modality's logits alone), ``logit_magnitude``,
    ``decision_share``, ``removal_drop`` and, with ``slices``, ``weight_norm``.
    """
    names = _check(logits)
    report = {
        "accuracy": {m: accuracy(logits[m], labels) for m in names},
        "logit_magnitude": logit_magnitudes(logits),
        "decision_share": decision_shares(logits),
        "removal_drop": removal_drops(logits, labels, bias),
    }
    if slices is not None:
        report["weight_norm"] = weight_norms(slices)
    return report
