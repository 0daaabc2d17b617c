"""The book's yardstick: a fixed reference workload that measures the machine, not the code.

Chapter budgets in ``book.yml`` are relative: a chapter's wall time divided by
``reference_s``, the wall time of :func:`reference_workload` on the same machine at
the same time. The workload is the same kind of work the chapters do (seeded small
MLP and convolution models, forward + backward + SGD steps on synthetic tensors, one
torch thread, no data loading) and is fixed in its work, so a machine twice as slow
(or twice as loaded) doubles ``reference_s`` and the chapters' seconds alike, and their
ratio stays put.

``python -m mmlib.book reference`` prints :func:`reference_seconds`.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

__all__ = ["reference_workload", "reference_seconds", "REPEATS", "STEPS"]

REPEATS = 3  # timings per measurement; the median is kept
STEPS = 80  # SGD steps of each model per workload


def _models() -> tuple[nn.Module, nn.Module]:
    """A two-branch late-fusion MLP and a small convnet, as in the chapters."""
    mlp = nn.ModuleDict({
        "a": nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU()),
        "b": nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU()),
        "head": nn.Linear(128, 10),
    })
    conv = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(16, 10),
    )
    return mlp, conv


def reference_workload(steps: int = STEPS) -> float:
    """Run the fixed workload once on one torch thread; return its wall seconds.

    Deterministic in its work: seeded models and tensors, a fixed number of steps.
    The torch thread count is restored afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        xa, xb = torch.randn(256, 64, generator=gen), torch.randn(256, 32, generator=gen)
        img = torch.randn(64, 1, 16, 16, generator=gen)
        y, y_img = torch.randint(0, 10, (256,), generator=gen), torch.randint(0, 10, (64,), generator=gen)
        torch.manual_seed(0)
        mlp, conv = _models()
        opt_mlp = torch.optim.SGD(mlp.parameters(), lr=0.05, momentum=0.9)
        opt_conv = torch.optim.SGD(conv.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        start = time.perf_counter()
        for _ in range(steps):
            logits = mlp["head"](torch.cat([mlp["a"](xa), mlp["b"](xb)], dim=1))
            opt_mlp.zero_grad()
            loss_fn(logits, y).backward()
            opt_mlp.step()
            opt_conv.zero_grad()
            loss_fn(conv(img), y_img).backward()
            opt_conv.step()
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def reference_seconds(repeats: int = REPEATS) -> float:
    """The median wall time of ``repeats`` runs of :func:`reference_workload` (seconds)."""
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    reference_workload(steps=5)  # warm-up, untimed: first-call allocations and lazy init
    return statistics.median(reference_workload() for _ in range(repeats))
