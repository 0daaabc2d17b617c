"""RollingQ: rotate the fusion query to break the attention's self-reinforcing loop.

Paper: Ni, Wei, Liu, Chen, Peng, Lin, Hu, "RollingQ: Reviving the Cooperation Dynamics
in Multimodal Transformer", ICML 2025 (arXiv 2506.11465; code GeWu-Lab/RollingQ_ICML2025).

Update rule (after every epoch, on the training split, for modalities a and v):

    AIR   = mean_x [cos(q, kbar_a(x)) - cos(q, kbar_v(x))]          (attention imbalance ratio)
    if |AIR| > beta and fewer than max_rotations rotations were done:
        alpha = (1 + tanh(-sigma * AIR)) / 2
        t     = normalize(alpha * khat_a + (1 - alpha) * khat_v)       (re-balanced target)
        R     = rotation taking qhat to t, in the plane of the two     (:func:`rotation_matrix`)
        q    <- R q   for all later forward passes (R composes with earlier rotations)

``khat_m`` is the mean over samples of the unit mean-key of modality m. When audio is
preferred (AIR > 0), alpha < 1/2 and the target leans toward the visual keys: the
query is turned so the neglected modality gets attention, hence gradient, again.
With alpha = 1/2 the target is the bisector of the two key directions, where both
cosines are equal (AIR = 0 for keys that all point the same way).

Defaults: beta = 0.05, sigma = 2.0, max_rotations = 3. The course chose them for its
32-dimensional fusion head (the authors' values for their 768-d ViT are not recorded
in methods-as-coded §2.19).

Every difference from the authors' code is listed in ``RollingQ.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import MultimodalDataset
from ..models import MultimodalModel
from ..transformer import FusionTransformer, attention_imbalance_ratio, attention_on
from ..validation import Integer, Number
from .base import Method, NotApplicable, register
from .provenance import THIS_COURSE, Difference, Paper, Source


def rotation_matrix(u: Tensor, v: Tensor, eps: float = 1e-6) -> Tensor:
    """The rotation ``R`` with ``R u_hat = v_hat`` that turns only the plane spanned by u and v.

    With ``w = normalize(v_hat - (u_hat . v_hat) u_hat)`` and ``cos t = u_hat . v_hat``:

        R = I + (cos t - 1)(u_hat u_hat^T + w w^T) + sin t (w u_hat^T - u_hat w^T).

    Vectors orthogonal to both are left unchanged; ``R`` is orthogonal with det +1.
    ``u == v`` gives the identity; ``u == -v`` turns by pi in the plane of ``u`` and the
    coordinate axis least parallel to it (directions closer than ``eps`` count as
    parallel). Zero vectors are an error (no direction).
    """
    if u.dim() != 1 or u.shape != v.shape:
        raise ValueError(f"u and v must be vectors of the same length, got {tuple(u.shape)} and {tuple(v.shape)}")
    if u.norm() < eps or v.norm() < eps:
        raise ValueError("cannot rotate to or from a zero vector: it has no direction")
    u_hat, v_hat = u / u.norm(), v / v.norm()
    cos_t = torch.clamp(u_hat @ v_hat, -1.0, 1.0)
    orthogonal = v_hat - cos_t * u_hat
    eye = torch.eye(len(u), dtype=u.dtype, device=u.device)
    sin_t = orthogonal.norm()  # v_hat = cos t u_hat + sin t w: more accurate than sqrt(1 - cos^2)
    if sin_t < eps:
        if cos_t > 0:
            return eye
        cos_t, sin_t = torch.tensor(-1.0, dtype=u.dtype), torch.tensor(0.0, dtype=u.dtype)
        axis = eye[int(torch.argmin(u_hat.abs()))]  # the axis least parallel to u
        orthogonal = axis - (axis @ u_hat) * u_hat
    orthogonal = orthogonal - (orthogonal @ u_hat) * u_hat  # remove round-off along u
    w = orthogonal / orthogonal.norm()
    return (eye + (cos_t - 1) * (torch.outer(u_hat, u_hat) + torch.outer(w, w))
            + sin_t * (torch.outer(w, u_hat) - torch.outer(u_hat, w)))


def rebalance_weight(air: float, sigma: float) -> float:
    """``alpha = (1 + tanh(-sigma * AIR)) / 2``: the weight of modality a's keys in the target."""
    return (1.0 + math.tanh(-sigma * air)) / 2.0


def rebalanced_target(mean_keys_a: Tensor, mean_keys_b: Tensor, air: float, sigma: float) -> Tensor:
    """``normalize(alpha khat_a + (1 - alpha) khat_b)``, ``khat_m`` = mean of the unit mean keys ``(N, d)``."""
    alpha = rebalance_weight(air, sigma)
    k_a = F.normalize(mean_keys_a, dim=-1).mean(0)
    k_b = F.normalize(mean_keys_b, dim=-1).mean(0)
    target = alpha * F.normalize(k_a, dim=0) + (1 - alpha) * F.normalize(k_b, dim=0)
    return F.normalize(target, dim=0)


@register
class RollingQ(Method):
    """Rotate the fusion query toward the re-balanced key direction when attention is imbalanced."""

    name = "rollingq"
    family = "feed-forward"
    paper = Paper("Ni, Wei, Liu, Chen, Peng, Lin, Hu",
                  "RollingQ: Reviving the Cooperation Dynamics in Multimodal Transformer", "ICML", 2025,
                  "https://arxiv.org/abs/2506.11465")
    sources = (Source(THIS_COURSE, note="from the paper and the notes on the authors' repository "
                                        "GeWu-Lab/RollingQ_ICML2025 (methods-as-coded 2.19); that repository is "
                                        "not in the code index the course could read, so no line of it was "
                                        "compared"),)
    differences = (
        Difference("The target's key direction khat_m is the normalised mean, over the training samples, of "
                   "each sample's *unit* mean key (every sample counts the same, whatever its key norm).",
                   "The course's reading of the paper's k-hat; whether the authors normalise per sample before "
                   "averaging was not checked against their code (see sources)."),
        Difference("The model is the course's one-layer query fusion (mmlib.transformer) and the rotation acts "
                   "on its single class-token query; the authors rotate the class-token query of a ViT-style "
                   "multimodal transformer (768-d).", "The course's transformer chapter uses a small fusion head."),
        Difference("AIR and the keys are computed on the full training split, in evaluation mode, after each "
                   "epoch.", "A deterministic statistic per epoch (no dropout, no batch noise)."),
        Difference("Defaults beta = 0.05, sigma = 2.0, max_rotations = 3 are the course's choice for its "
                   "32-dimensional head.", "The authors' values for their model were not available to compare."),
    )
    hyperparameter_ranges = {"beta": Number(ge=0), "sigma": Number(ge=0), "max_rotations": Integer(ge=0)}

    def __init__(self, beta: float = 0.05, sigma: float = 2.0, max_rotations: int = 3) -> None:
        self.beta = beta
        self.sigma = sigma
        self.max_rotations = max_rotations
        self.rotations = 0

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        if not isinstance(model, FusionTransformer):
            raise NotApplicable(
                f"rollingq rotates the query of a fusion transformer; got a {type(model).__name__}. "
                "Build the model with mmlib.transformer.build_transformer(data), e.g. "
                "mmlib.train.run(data, 'rollingq', build=mmlib.transformer.build_transformer).")
        if len(model.modalities) != 2:
            raise ValueError(f"rollingq balances two modalities, the model has {model.modalities}")

    def setup(self, state) -> None:
        super().setup(state)
        self.rotations = 0

    @torch.no_grad()
    def on_epoch_end(self, state) -> None:
        model: FusionTransformer = state.model
        a, b = model.modalities
        attention = attention_on(model, state.data, "train")
        air = attention_imbalance_ratio(attention.query, attention.mean_keys[a], attention.mean_keys[b])
        rotated = abs(air) > self.beta and self.rotations < self.max_rotations
        if rotated:
            target = rebalanced_target(attention.mean_keys[a], attention.mean_keys[b], air, self.sigma)
            turn = rotation_matrix(attention.query, target)
            model.head.rotation.copy_(turn @ model.head.rotation)
            self.rotations += 1
        self.log(air=air, rotated=float(rotated), rotations=float(self.rotations))
