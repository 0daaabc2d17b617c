"""How much does mmlib's loop cost over a minimal hand-written PyTorch loop?

Runs one epoch of ``fit`` with ``Baseline`` and one epoch of the plainest loop
(forward, cross-entropy, backward, step) over the same model and the same
batches, several times each, interleaved, and prints the median times and ratio.
``fit`` is timed twice: the loop alone (``eval_splits=()``) and with the
per-epoch validation + test evaluation it does by default.

    python tests/benchmarks/fit_overhead.py [--dataset synthetic|mfeat] [--repeats 7]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from mmlib.data import load
from mmlib.models import build_model
from mmlib.train import fit, seed_everything


def hand_loop_epoch(model, data, batch_size: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    for batch in data.batches("train", batch_size, shuffle=True, generator=generator):
        loss = F.cross_entropy(model(batch).fused, batch.y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic", choices=["synthetic", "mfeat"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    data = load(args.dataset)
    seed_everything(0)
    template = build_model(data)
    times: dict[str, list[float]] = {"hand loop": [], "fit (loop only)": [], "fit (+ val/test eval)": []}
    for repeat in range(args.repeats):
        for label in times:
            model = copy.deepcopy(template)
            if label == "hand loop":
                work = lambda: hand_loop_epoch(model, data, args.batch_size, repeat)  # noqa: E731
            else:
                splits = () if label == "fit (loop only)" else ("val", "test")
                work = lambda: fit(model, data, epochs=1, batch_size=args.batch_size, seed=repeat,  # noqa: E731
                                   eval_splits=splits, select="last" if not splits else "val", progress=False)
            times[label].append(timed(work))
    base = statistics.median(times["hand loop"])
    print(f"{args.dataset}: one epoch, {len(data.splits['train'])} training samples, batch {args.batch_size}, "
          f"median of {args.repeats}, {torch.get_num_threads()} threads")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:24s} {1000 * median:8.1f} ms   x{median / base:.2f}")


if __name__ == "__main__":
    main()
