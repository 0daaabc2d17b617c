"""The benchmark on a Dask cluster: ``--scheduler ADDRESS`` (the optional extra ``requirements-cluster.txt``).

Dask (``dask``, ``distributed``) is imported here only, and only when a scheduler is
given: the course's default path never needs it. A cluster is a ``dask scheduler`` and
any number of ``dask worker`` processes (on one machine, several, or started by a queue
with ``dask-jobqueue``); the benchmark connects to the scheduler and submits one task per
run through ``Client.get_executor()``, a ``concurrent.futures.Executor``.

Start one by hand (one worker per GPU, one run at a time each)::

    dask scheduler --host 0.0.0.0 --port 8786
    # from the course folder, with its environment active; --preload imports mmlib (and torch)
    # when the worker starts rather than inside its first task
    CUDA_VISIBLE_DEVICES=0 dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1 --preload mmlib.benchmark.remote
    CUDA_VISIBLE_DEVICES=1 dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1 --preload mmlib.benchmark.remote
    python -m mmlib.benchmark --datasets cremad --root data/CREMAD ... --scheduler tcp://HOST:8786

or with a queue (``pip install dask-jobqueue``; ``SLURMCluster(...).scale(jobs=N)``, then
pass ``cluster.scheduler_address``). Every worker needs the course installed (the same
mmlib: workers check it) and the data: a relative ``--root`` is relative to the folder
the worker was started in. The submitting machine needs the data too: it loads each data
set once to fingerprint it (the fingerprint is part of every run's key, and each worker
checks its own copy against it). Each run trains on its worker's device (``$MMLIB_DEVICE``,
else CUDA when visible, else the CPU) and its row records device, host and seconds.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Executor
from typing import Iterator

__all__ = ["ClusterExtraMissing", "HOW_TO_START", "dask_executor"]

#: What ``--help`` says about starting a cluster.
HOW_TO_START = ("A Dask cluster (pip install -r requirements-cluster.txt): start `dask scheduler --port 8786` and, "
                "from the course folder on each machine, one `dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1` "
                "per GPU (CUDA_VISIBLE_DEVICES=N) or per core; on a queue, dask-jobqueue's SLURMCluster / "
                "PBSCluster. Every worker needs the data (a relative --root is relative to its folder).")


class ClusterExtraMissing(ImportError):
    """``--scheduler`` was given but Dask is not installed."""


def _client_class():
    try:
        from distributed import Client
    except ImportError as error:
        raise ClusterExtraMissing(f"running the benchmark on a Dask scheduler needs the optional cluster extra "
                                  f"({error}); install it with: pip install -r requirements-cluster.txt") from None
    return Client


@contextlib.contextmanager
def dask_executor(address: str, timeout: float = 30.0) -> Iterator[Executor]:
    """Connect to the Dask scheduler at ``address`` and yield its ``concurrent.futures`` executor.

    Raises :class:`ClusterExtraMissing` when ``distributed`` is not installed and
    ``OSError`` (with the address) when no scheduler answers within ``timeout`` seconds.
    The client is closed on exit; runs still queued are then cancelled by the scheduler.
    """
    Client = _client_class()
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise OSError(f"no Dask scheduler answers at {address!r} within {timeout:g} s ({error}); "
                      f"start one with `dask scheduler` (see --help)") from None
    try:
        yield client.get_executor(pure=False)  # one task per run, never merged with an earlier one
    finally:
        client.close()
