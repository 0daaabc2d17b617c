"""The ``multitask`` control: the fused loss plus one loss per modality, plain summed gradient.

Most of the winners of chapters 04-07 (MMPareto, MBSD, MLA, AMCo, InfoReg...) give each
modality its own loss on top of whatever else they do. This control has that ingredient
and nothing else:

    L = CE(z, y) + sum_m CE(z_m, y),        z = sum_m z_m,

one backward pass, the gradients of all terms summed. ``z_m`` is modality ``m``'s slice
of the fused head (``W_m h_m + b/M``), the logits every chapter reads per-modality scores
from. It is the ablation MMPareto's paper compares with ("multitask": the same losses
without the Pareto combination), so a method whose gain over ``baseline`` does not survive
against ``multitask`` owes that gain to the extra per-modality losses, not to its own rule.
With ``mmlib.methods.get("mmpareto", pareto=False, gamma=1.0)`` it computes the same
update by two backward passes (a test checks that they agree).

Family ``control``: shown beside the methods, left out of the family averages.

``log_conflict=True`` (default off) also logs, per step and encoder ``m``, how the two
gradients that reach the encoder relate (:func:`plain_sum_conflict`):
``g_mm = dCE(z, y)/dtheta_m`` and ``g_u = dCE(z_m, y)/dtheta_m`` (two extra backward
passes per step, by ``torch.autograd.grad``; the update is unchanged). The History then
holds ``cos_<m>``, ``conflict_<m>`` and ``harm_<m>`` per epoch, the keys MMPareto logs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import Output
from ..validation import Flag
from .base import Method, encoder_parameters, register
from .gradients import loss_gradient, loss_gradients
from .mmpareto import gradient_cosine
from .provenance import THIS_COURSE, Paper, Source

HARM_TOLERANCE = 1e-6  # a cosine below -HARM_TOLERANCE counts as pointing against a gradient (as MMPareto's log)


def multitask_loss(output: Output, labels: Tensor) -> Tensor:
    """``CE(z, y) + sum_m CE(z_m, y)``: the fused loss plus every modality's own."""
    return F.cross_entropy(output.fused, labels) + sum(F.cross_entropy(z, labels) for z in output.logits.values())


def plain_sum_conflict(g_mm: Tensor, g_u: Tensor) -> dict[str, float]:
    """How one encoder's fused-loss and unimodal-loss gradients relate under the plain summed update.

    ``cos``: ``cos(g_mm, g_u)`` (0 when either is the zero vector); ``conflict``: 1.0 when
    both are non-zero and ``cos <= 0`` (MMPareto's test); ``harm``: 1.0 when the plain sum
    ``g = g_mm + g_u`` points against one of them, ``cos(g, g_mm) < -1e-6`` or
    ``cos(g, g_u) < -1e-6``, i.e. a small step along ``-g`` raises that loss to first order.
    A zero gradient conflicts with nothing and is never harmed (``<g, 0> = 0``).
    """
    if g_mm.shape != g_u.shape or g_mm.dim() != 1:
        raise ValueError(f"expected two flat gradients of equal length, got {tuple(g_mm.shape)} and {tuple(g_u.shape)}")
    cosine = gradient_cosine(g_mm, g_u).item()
    both = bool(g_mm.norm() > 0) and bool(g_u.norm() > 0)
    plain = g_mm + g_u
    worst = min(gradient_cosine(plain, g_mm).item(), gradient_cosine(plain, g_u).item())
    return {"cos": cosine, "conflict": float(both and cosine <= 0), "harm": float(worst < -HARM_TOLERANCE)}


@register
class Multitask(Method):
    """The fused loss plus one loss per modality, plain summed gradient (a control, not a remedy)."""

    name = "multitask"
    family = "control"
    paper = Paper(THIS_COURSE, "Control: the fused loss plus one loss per modality (the ablation MMPareto's "
                               "paper calls multitask)")
    sources = (Source(THIS_COURSE, note="the shared ingredient of the methods that add per-modality losses"),)
    differences = ()
    hyperparameter_ranges = {"log_conflict": Flag()}

    def __init__(self, log_conflict: bool = False) -> None:
        self.log_conflict = log_conflict

    def loss(self, output: Output, batch: Batch) -> Tensor:
        return multitask_loss(output, batch.y)

    def step(self, state, batch: Batch, optimizer: torch.optim.Optimizer) -> tuple[Output, Tensor]:
        """The plain step; with ``log_conflict``, first log :func:`plain_sum_conflict` for every encoder."""
        if not self.log_conflict:
            return super().step(state, batch, optimizer)
        model = state.model
        output = self.forward(model, batch)
        params = {m: encoder_parameters(model, m) for m in model.modalities}
        params = {m: p for m, p in params.items() if p}  # frozen encoders have no gradient to compare
        g_mm = loss_gradients(F.cross_entropy(output.fused, batch.y), params)
        for m, p in params.items():
            g_u = loss_gradient(F.cross_entropy(output.logits[m], batch.y), p)
            self.log(**{f"{key}_{m}": value for key, value in plain_sum_conflict(g_mm[m], g_u).items()})
        return output, self.update(model, output, batch, optimizer)
