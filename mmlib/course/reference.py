"""The book's yardstick: a fixed reference workload that measures the machine, not the code.

Chapter budgets in ``book.yml`` are relative: a chapter's time divided by the time of
:func:`reference_timings` on the same machine during the same build. The workload is
the same kind of work the chapters do (seeded small MLP and convolution models,
forward + backward + SGD steps on synthetic tensors, one torch thread, no data loading)
and is fixed in its work, so a machine twice as slow doubles the reference and the
chapters' times alike, and their ratio stays put.

Two clocks, two uses. A chapter is judged by **CPU seconds** (its kernel's, and the
processes the kernel waited for) over the reference's CPU seconds: CPU time does not grow
when other processes share the cores, so a busy machine does not fail a chapter. Wall
seconds are recorded beside it and set the per-cell time-out, which must allow for a
busy machine.

Machines of one kind also drift while a build runs (other tenants, a background job), so
the book runner does not trust one timing: :class:`ReferenceSampler` repeats a short probe
of the workload every few seconds in a background thread, and each chapter is judged with
:func:`reference_for_window`, the median of the probes taken while it ran.

``python -m mmlib.course.book reference`` prints :func:`measure_reference`.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["reference_timings", "reference_workload", "reference_seconds", "measure_reference",
           "reference_for_window", "ReferenceSampler", "Sample", "REPEATS", "STEPS", "PROBE_STEPS"]

REPEATS = 3  # timings per measurement; the median is kept
STEPS = 80  # SGD steps of each model per workload
PROBE_STEPS = 20  # steps of one probe of the sampler (scaled to STEPS)


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


def reference_timings(steps: int = STEPS) -> tuple[float, float]:
    """Run the fixed workload once on one torch thread; return its (wall, CPU) seconds.

    Deterministic in its work: seeded models and tensors, a fixed number of steps. The
    CPU seconds are the calling thread's (``time.thread_time``), so a probe in a background
    thread counts only its own work. The torch thread count is restored afterwards.
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
        start, cpu_start = time.perf_counter(), time.thread_time()
        for _ in range(steps):
            logits = mlp["head"](torch.cat([mlp["a"](xa), mlp["b"](xb)], dim=1))
            opt_mlp.zero_grad()
            loss_fn(logits, y).backward()
            opt_mlp.step()
            opt_conv.zero_grad()
            loss_fn(conv(img), y_img).backward()
            opt_conv.step()
        return time.perf_counter() - start, time.thread_time() - cpu_start
    finally:
        torch.set_num_threads(threads)


def reference_workload(steps: int = STEPS) -> float:
    """The wall seconds of one run of the workload (:func:`reference_timings`)."""
    return reference_timings(steps)[0]


def measure_reference(repeats: int = REPEATS) -> tuple[float, float]:
    """The median wall and the median CPU seconds of ``repeats`` runs of the workload."""
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got {repeats!r}")
    reference_timings(steps=5)  # warm-up, untimed: first-call allocations and lazy init
    timings = [reference_timings() for _ in range(repeats)]
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


def reference_seconds(repeats: int = REPEATS) -> float:
    """The median wall time of ``repeats`` runs of the workload (seconds)."""
    return measure_reference(repeats)[0]


@dataclass(frozen=True)
class Sample:
    """One timing of the reference workload: when it ran (seconds on the build's clock), and
    its wall and CPU seconds scaled to a whole workload of ``STEPS`` steps."""

    start: float
    end: float
    seconds: float
    cpu_seconds: float = float("nan")

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


def reference_for_window(samples: "list[Sample]", start: float, end: float, minimum: int = 3,
                         clock: str = "wall") -> float:
    """The reference seconds for a chapter that ran from ``start`` to ``end``.

    The median of the samples (their ``clock``: ``"wall"`` or ``"cpu"`` seconds) whose
    middle lies in ``[start, end]``; when fewer than ``minimum`` do (a short chapter), the
    median of the ``minimum`` samples nearest to the window (ties broken by time).
    Raises ``ValueError`` with no samples, a reversed window or an unknown clock.
    """
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    if not samples:
        raise ValueError("no reference samples to judge with")
    if not end >= start:
        raise ValueError(f"the window must end after it starts, got start={start} end={end}")

    def value(s: Sample) -> float:
        return s.seconds if clock == "wall" else s.cpu_seconds

    inside = [value(s) for s in samples if start <= s.middle <= end]
    if len(inside) >= minimum:
        return statistics.median(inside)

    def distance(s: Sample) -> float:
        return max(start - s.middle, s.middle - end, 0.0)

    nearest = sorted(samples, key=lambda s: (distance(s), s.middle))[:minimum]
    return statistics.median(value(s) for s in nearest)


class ReferenceSampler:
    """Times a probe of the reference workload every ``interval`` seconds in a daemon thread.

    ``clock`` gives the build's time (``time.perf_counter`` minus the build's start);
    ``samples`` grows while the thread runs. A probe costs about ``PROBE_STEPS / STEPS`` of
    one workload (~0.2 s on the developers' machines), so at the default interval it takes
    a few percent of one core.
    """

    def __init__(self, clock, interval: float = 8.0, steps: int = PROBE_STEPS) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval!r}")
        self.clock, self.interval, self.steps = clock, interval, steps
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mmlib-reference-sampler", daemon=True)

    def add(self, start: float, end: float, seconds: float, cpu_seconds: float) -> None:
        """Record a timing made elsewhere (the full measurements at the build's start and end)."""
        self.samples.append(Sample(start, end, seconds, cpu_seconds))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            start = self.clock()
            wall, cpu = reference_timings(self.steps)
            scale = STEPS / self.steps
            self.samples.append(Sample(start, self.clock(), wall * scale, cpu * scale))

    def start(self) -> "ReferenceSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
