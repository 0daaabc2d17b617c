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
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import Output
from .base import Method, register
from .provenance import THIS_COURSE, Paper, Source


def multitask_loss(output: Output, labels: Tensor) -> Tensor:
    """``CE(z, y) + sum_m CE(z_m, y)``: the fused loss plus every modality's own."""
    return F.cross_entropy(output.fused, labels) + sum(F.cross_entropy(z, labels) for z in output.logits.values())


@register
class Multitask(Method):
    """The fused loss plus one loss per modality, plain summed gradient (a control, not a remedy)."""

    name = "multitask"
    family = "control"
    paper = Paper(THIS_COURSE, "Control: the fused loss plus one loss per modality (the ablation MMPareto's "
                               "paper calls multitask)")
    sources = (Source(THIS_COURSE, note="the shared ingredient of the methods that add per-modality losses"),)
    differences = ()

    def loss(self, output: Output, batch: Batch) -> Tensor:
        return multitask_loss(output, batch.y)
