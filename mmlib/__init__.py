"""mmlib — the small shared library of the Balanced Multimodal Learning course.

One training loop (:mod:`mmlib.train`) with four hook points, one per stage of
training the survey sorts remedies by (data input, feed-forward, learning
objective, optimization); every method in :mod:`mmlib.methods` overrides one or
more of them. See ``DESIGN.md`` §1 of the course for the picture.

Threads: the course's models are tiny, and on a 2-core laptop several threads
per matrix product cost more in synchronisation than they save (and collapse
when another process competes for the cores). Importing mmlib therefore limits
torch and the BLAS/OpenMP pools to ``MMLIB_THREADS`` threads (default 1); set
``MMLIB_THREADS`` higher for the real data sets on a big machine.
"""

import os

import torch
from threadpoolctl import threadpool_limits

__version__ = "0.1.0"

THREADS = int(os.environ.get("MMLIB_THREADS", "1"))
torch.set_num_threads(THREADS)
threadpool_limits(limits=THREADS)
