"""MMPareto: multimodal and unimodal gradients combined without conflict.

Paper: Wei, Hu, "MMPareto: Boosting Multimodal Learning with Innocent Unimodal
Assistance", ICML 2024.

The model is trained as a multitask problem: the multimodal loss ``L_mm`` on the
fused logits plus one unimodal loss ``L_m`` per modality (on that modality's own
logits). For every encoder ``m`` the two gradients that reach it,

    g_mm = dL_mm / d theta_m,        g_u = dL_m / d theta_m,

are computed by separate backward passes and combined:

1. cosine test ``cos = <g_mm, g_u> / (|g_mm| |g_u|)``;
2. if ``cos > 0`` (no conflict) the weights are ``(1/2, 1/2)``; otherwise the
   min-norm (Pareto-stationary) weights of the two gradients, in closed form

       alpha* = clip( <g_u - g_mm, g_u> / |g_mm - g_u|^2, 0, 1 ),
       d      = alpha* g_mm + (1 - alpha*) g_u          (the shortest vector in their hull);

3. the update direction ``new = 2 alpha g_mm + 2 (1 - alpha) g_u`` is rescaled to the
   magnitude of the plain multitask gradient ``g_sum = g_mm + g_u`` when it is
   shorter, and boosted by ``gamma``:

       g = gamma * max(1, |g_sum| / |new|) * new.

The head is trained with the plain gradient of ``L_mm + sum_m L_m``.

Defaults: ``gamma = 1.5`` (the authors' code and BalanceBenchmark).

Every difference from the authors' code is listed in ``MMPareto.differences`` (and in
:func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import Output
from ..validation import Flag, Number
from .base import Method, encoder_parameters, register
from .gradients import loss_gradient, loss_gradients, write_gradients
from .provenance import Difference, Paper, Source


def min_norm_weight(g1: Tensor, g2: Tensor) -> Tensor:
    """Weight ``alpha`` of ``g1`` in the shortest vector ``alpha g1 + (1 - alpha) g2``, alpha in [0, 1].

    ``alpha* = clip(<g2 - g1, g2> / |g1 - g2|^2, 0, 1)``; 1/2 when ``g1 == g2``
    (every point of the hull is then the same vector).
    """
    diff = g1 - g2
    denominator = diff.dot(diff)
    if denominator <= 0:
        return torch.tensor(0.5, dtype=g1.dtype)
    return ((g2 - g1).dot(g2) / denominator).clamp(0.0, 1.0)


def gradient_cosine(a: Tensor, b: Tensor) -> Tensor:
    """Cosine of two flat vectors; 0 when either is the zero vector (no direction, no conflict)."""
    norm = a.norm() * b.norm()
    if norm <= 0:
        return torch.zeros((), dtype=a.dtype)
    return (a.dot(b) / norm).clamp(-1.0, 1.0)


@dataclass
class ParetoStep:
    """The result of combining one encoder's two gradients."""

    update: Tensor      # the gradient handed to the optimizer
    cosine: Tensor      # cos(g_multi, g_uni) before combining
    conflict: bool      # cosine <= 0 with both gradients non-zero
    alpha: Tensor       # weight of the multimodal gradient (1/2 when aligned)


def pareto_combine(g_multi: Tensor, g_uni: Tensor, gamma: float = 1.5) -> ParetoStep:
    """MMPareto's combination of one encoder's multimodal and unimodal gradients (flat vectors).

    Aligned (``cos > 0``), or either gradient zero: ``alpha = 1/2``. Conflicting:
    the min-norm weight :func:`min_norm_weight`. Then
    ``new = 2 alpha g_multi + 2 (1 - alpha) g_uni`` and
    ``update = gamma * max(1, |g_multi + g_uni| / |new|) * new`` (zero when ``new`` is zero).
    """
    if g_multi.shape != g_uni.shape or g_multi.dim() != 1:
        raise ValueError(f"expected two flat gradients of equal length, got {tuple(g_multi.shape)} "
                         f"and {tuple(g_uni.shape)}")
    if gamma <= 0:
        raise ValueError(f"gamma must be positive, got {gamma}")
    cosine = gradient_cosine(g_multi, g_uni)
    both = bool(g_multi.norm() > 0) and bool(g_uni.norm() > 0)
    conflict = both and bool(cosine <= 0)
    alpha = min_norm_weight(g_multi, g_uni) if conflict else torch.tensor(0.5, dtype=g_multi.dtype)
    new = 2 * alpha * g_multi + 2 * (1 - alpha) * g_uni
    new_norm = new.norm()
    # Exactly opposite gradients (any norms): the shortest point of their hull is the origin, and ``new``
    # is rounding error; rescaling it to |g_multi + g_uni| would give a full step in an arbitrary direction.
    tolerance = 100 * torch.finfo(new.dtype).eps * max(g_multi.norm().item(), g_uni.norm().item())
    if new_norm.item() <= tolerance:
        return ParetoStep(torch.zeros_like(g_multi), cosine, conflict, alpha)
    scale = torch.clamp((g_multi + g_uni).norm() / new_norm, min=1.0)
    return ParetoStep(gamma * scale * new, cosine, conflict, alpha)


@register
class MMPareto(Method):
    """Multimodal + unimodal losses, each encoder's two gradients combined by :func:`pareto_combine`.

    Logs per encoder ``m``: ``cos_<m>`` (cosine of its multimodal and unimodal
    gradients), ``conflict_<m>`` (fraction of steps with ``cos <= 0``),
    ``alpha_<m>`` (weight of the multimodal gradient) and ``update_cos_multi_<m>`` /
    ``update_cos_uni_<m>`` (cosine of the applied update with each gradient) and
    ``harm_<m>`` (fraction of steps whose update points against one of the two
    gradients, i.e. raises that loss to first order; 0 for the Pareto update).

    ``pareto=False`` (with ``gamma=1``) gives the plain multitask update ``g_mm + g_u``
    with the same losses and logs: the ablation that shows what the Pareto step adds.
    """

    name = "mmpareto"
    family = "learning objective"
    paper = Paper("Wei, Hu", "MMPareto: Boosting Multimodal Learning with Innocent Unimodal Assistance", "ICML",
                  2024, "https://arxiv.org/abs/2405.17730")
    sources = (
        Source("GeWu-Lab/MMPareto_ICML2024", "cc923ec3db08e012b30b084c433bdf32899cfc89", "code/MMPareto.py",
               "train_epoch"),
        Source("GeWu-Lab/BalanceBenchmark", "39ed569712e48ed97d9999a032ba6918a2d360b1",
               "balancemm/trainer/MMPareto_trainer.py", "MMParetoTrainer.training_step"),
    )
    differences = (
        Difference("The unimodal logits are the fused head's slices (as BalanceBenchmark), not separate "
                   "unimodal heads (the authors' model).", "The per-modality accuracies in History are then "
                   "those of the logits the unimodal losses train, as for every other method of the course."),
        Difference("The rescaling max(1, |g_sum| / |new|) uses the norm of the encoder's whole flattened "
                   "gradient; the authors rescale each parameter tensor separately.",
                   "Per-tensor factors differ between tensors and so change the direction the Pareto step "
                   "chose; one factor per encoder keeps it."),
        Difference("The conflict case uses the closed-form min-norm weight of two vectors instead of the "
                   "Frank-Wolfe MinNormSolver.", "For two gradients both give the same weight."),
        Difference("A zero gradient counts as aligned (weights 1/2), and a combined direction of zero length "
                   "(two exactly opposite gradients, of any norms: the shortest point of their hull is the "
                   "origin; |new| up to 100 float eps of the longer gradient counts as zero) gives a zero "
                   "update; the authors' code sends a zero gradient to the solver and divides by |new| = 0 "
                   "(inf * 0 = NaN) or rescales rounding error to a full step, and BalanceBenchmark assigns "
                   "the solver's weights to the wrong variable in the conflict branch (weights stay 0, NaN "
                   "gradients).", "No NaN, and no step in a direction chosen by rounding, reaches the weights."),
        Difference("The course keeps its usual SGD lr 0.05 and 15-20 epochs; the authors train ResNet-18 "
                   "with lr 2e-3 for 50 epochs.", "The same training schedule for every method of the "
                   "chapter."),
    )
    hyperparameter_ranges = {"gamma": Number(gt=0), "pareto": Flag()}

    def __init__(self, gamma: float = 1.5, pareto: bool = True) -> None:
        self.gamma = gamma
        self.pareto = pareto

    def losses(self, output: Output, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """The multimodal loss and one unimodal loss per modality."""
        return (F.cross_entropy(output.fused, batch.y),
                {m: F.cross_entropy(z, batch.y) for m, z in output.logits.items()})

    def loss(self, output: Output, batch: Batch) -> Tensor:
        multi, uni = self.losses(output, batch)
        return multi + sum(uni.values())

    def step(self, state, batch: Batch, optimizer: torch.optim.Optimizer) -> tuple[Output, Tensor]:
        model = state.model
        output = self.forward(model, batch)
        multi, uni = self.losses(output, batch)
        params = {m: encoder_parameters(model, m) for m in model.modalities}
        g_multi_all = loss_gradients(multi, params)  # every encoder's g_mm, one backward pass
        optimizer.zero_grad(set_to_none=True)
        total = multi + sum(uni.values())
        combined: dict[str, Tensor] = {}
        for m in model.modalities:
            g_multi = g_multi_all[m]
            g_uni = loss_gradient(uni[m], params[m])
            if self.pareto:
                result = pareto_combine(g_multi, g_uni, self.gamma)
            else:  # the plain multitask gradient, for comparison: same losses, no Pareto step
                cosine = gradient_cosine(g_multi, g_uni)
                result = ParetoStep(self.gamma * (g_multi + g_uni), cosine, bool(cosine <= 0), torch.tensor(0.5))
            combined[m] = result.update
            cos_multi, cos_uni = gradient_cosine(result.update, g_multi), gradient_cosine(result.update, g_uni)
            self.log(**{f"cos_{m}": result.cosine, f"conflict_{m}": float(result.conflict),
                        f"alpha_{m}": result.alpha,
                        f"update_cos_multi_{m}": cos_multi, f"update_cos_uni_{m}": cos_uni,
                        f"harm_{m}": float(min(cos_multi.item(), cos_uni.item()) < -1e-6)})
        encoder_ids = {id(p) for m in model.modalities for p in params[m]}
        head = [p for p in model.parameters() if p.requires_grad and id(p) not in encoder_ids]
        total.backward(inputs=head)  # the head's plain multitask gradient
        for m in model.modalities:
            write_gradients(params[m], combined[m])
        self.after_backward(model, output, batch)
        optimizer.step()
        return output, total
