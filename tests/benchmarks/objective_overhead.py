"""Per-step cost of chapter 5's learning-objective methods, relative to Baseline.

For every method: build the same seeded model, run its ``setup`` (timed on its
own: UMT trains its unimodal teachers there), then whole training epochs through
the method's hooks (``on_epoch_start``, ``sample``, ``step``, ``on_epoch_end``) as
:func:`mmlib.train.fit` does, without the evaluation passes. Reports the median
over repeats of milliseconds per optimisation step and its ratio to Baseline,
seconds per epoch (G-Blending's extra evaluation passes fall at super-epoch
boundaries, so its epoch ratio is the honest one), and the one-off set-up seconds.

Usage: ``python tests/benchmarks/objective_overhead.py [--data synthetic] [--epochs 5] [--repeats 3] [--threads 1]``.
MMPareto needs one backward pass per loss and encoder (here 1 + M + a head pass),
so expect roughly 2x Baseline per step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mmlib.data import load
from mmlib.methods import get
from mmlib.models import build_model
from mmlib.train import TrainState, seed_everything, train_epoch

METHODS = ["baseline", "mmpareto", "mmcosine", "umt", "gblending", "cml", "mbsd", "lfm"]


def time_method(data, name: str, epochs: int, seed: int = 0) -> tuple[float, float, int]:
    """(set-up seconds, training seconds, optimisation steps) of ``epochs`` epochs of method ``name``."""
    seed_everything(seed)
    model = build_model(data)
    method = get(name, **({"teacher_epochs": epochs} if name == "umt" else {}))
    started = time.perf_counter()
    state = TrainState.start(model, data, method, epochs=epochs, batch_size=64, seed=seed)  # as fit sets a run up
    setup_seconds = time.perf_counter() - started
    model.train()
    started = time.perf_counter()
    for epoch in range(epochs):
        train_epoch(method, state, epoch)
    return setup_seconds, time.perf_counter() - started, state.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synthetic", help="synthetic or mfeat")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timing (5 = one G-Blending super-epoch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = least sensitive to other load)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load(args.data)
    time_method(data, "baseline", 1)  # warm-up
    timings: dict[str, list[tuple[float, float, int]]] = {name: [] for name in METHODS}
    for r in range(args.repeats):  # interleaved, so a change in machine load hits every method alike
        for name in METHODS:
            timings[name].append(time_method(data, name, args.epochs, seed=r))
    rows = {}
    for name, runs in timings.items():
        train = statistics.median(t for _, t, _ in runs)
        steps = runs[0][2]
        rows[name] = (train / steps, train / args.epochs, statistics.median(s for s, _, _ in runs))
    base_step, base_epoch, _ = rows["baseline"]
    print(f"data={args.data} epochs={args.epochs} repeats={args.repeats} threads={args.threads}")
    print(f"{'method':<11}{'ms/step':>9}{'x step':>8}{'s/epoch':>9}{'x epoch':>9}{'setup s':>9}")
    for name, (per_step, per_epoch, setup) in rows.items():
        print(f"{name:<11}{1000 * per_step:>9.2f}{per_step / base_step:>8.2f}{per_epoch:>9.3f}"
              f"{per_epoch / base_epoch:>9.2f}{setup:>9.2f}")


if __name__ == "__main__":
    main()
