"""What one run costs in training work: optimizer steps and backward passes.

"The same budget" in a benchmark usually means the same number of epochs, yet methods do
different amounts of work per epoch: MLA takes one optimizer step per modality per batch,
MMPareto one backward pass per loss, UMT trains its teachers first, ReconBoost trains its
learners in turn. :func:`counted_work` counts, while a run trains in this process:

* ``optimizer_steps``: every ``Optimizer.step()`` of any optimizer, through torch's own
  global hook ``torch.optim.optimizer.register_optimizer_step_post_hook``;
* ``backward_passes``: every call of ``torch.autograd.backward`` (which ``Tensor.backward``
  calls) and of ``torch.autograd.grad`` — torch has no global hook for these, so the two
  functions are wrapped for the duration of the ``with`` block and restored after it.

The counts cover everything the run does, including work a method does outside the
training step (UMT's teachers, the decision-level schemes' weight fitting).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook


@contextlib.contextmanager
def counted_work() -> Iterator[dict[str, int]]:
    """Count optimizer steps and backward passes made inside the block (a dict, filled as it runs)."""
    counts = {"optimizer_steps": 0, "backward_passes": 0}

    def on_step(optimizer: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        counts["optimizer_steps"] += 1

    backward, grad = torch.autograd.backward, torch.autograd.grad

    def counted_backward(*args, **kwargs):
        counts["backward_passes"] += 1
        return backward(*args, **kwargs)

    def counted_grad(*args, **kwargs):
        counts["backward_passes"] += 1
        return grad(*args, **kwargs)

    handle = register_optimizer_step_post_hook(on_step)
    torch.autograd.backward, torch.autograd.grad = counted_backward, counted_grad
    try:
        yield counts
    finally:
        torch.autograd.backward, torch.autograd.grad = backward, grad
        handle.remove()
