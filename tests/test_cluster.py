"""The benchmark on a Dask cluster, tested without one: a LocalCluster on the loopback address.

Two single-thread worker processes train a small benchmark; its log must equal the local
pool's (same keys, same numbers for the same seeds), and a worker killed mid-run must leave
a log that a re-run completes with exactly the missing runs and no key twice.
Skipped, saying so, when the optional extra (requirements-cluster.txt) is not installed.
"""

import os
import signal
import time

import pytest

distributed = pytest.importorskip(
    "distributed", reason="the cluster tests need the optional extra: pip install -r requirements-cluster.txt")

import mmlib.benchmark as B  # noqa: E402
from mmlib.benchmark.cluster import dask_executor  # noqa: E402
from mmlib.benchmark.remote import WorkerMismatch  # noqa: E402

# Given by loader name, so each worker loads the data itself (and checks its fingerprint).
DATA = {"synthetic": ("synthetic", {"n_samples": 150})}
FIT = {"epochs": 1, "batch_size": 32}
WHERE = ("seconds", "host")  # how long and on which machine: the only columns allowed to differ


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as local:
        yield local


def _by_key(rows):
    keyed = {}
    for row in rows:
        key = tuple(row[k] for k in B.KEY_COLUMNS)
        assert key not in keyed, f"key {key} twice in the log"
        keyed[key] = {k: v for k, v in row.items() if k not in WHERE}
    return keyed


def test_cluster_log_equals_the_local_pools(cluster, tmp_path):
    methods, seeds = ["baseline", "ogm_ge"], [0, 1]
    local = B.benchmark(DATA, methods, seeds, out=tmp_path / "local.csv", workers=2, **FIT)
    with dask_executor(cluster.scheduler_address) as executor:
        remote = B.benchmark(DATA, methods, seeds, out=tmp_path / "cluster.csv", executor=executor, **FIT)
    local_log, cluster_log = _by_key(B.load_log(tmp_path / "local.csv")), _by_key(B.load_log(tmp_path / "cluster.csv"))
    assert len(local_log) == len(methods) * len(seeds)
    assert cluster_log == local_log  # same keys, and every number equal (CPU on both sides)
    assert set(remote["status"]) == {"ok"} and list(remote["device"].unique()) == ["cpu"]
    hosts = {row["host"] for row in B.load_log(tmp_path / "cluster.csv")}
    assert hosts and all(isinstance(h, str) and h for h in hosts)
    assert (remote["seconds"] > 0).all()
    assert list(remote.columns) == list(local.columns)


def test_killed_worker_then_resume_gives_every_run_once(cluster, tmp_path):
    methods, seeds = ["baseline", "ogm_ge"], [0, 1, 2]
    out = tmp_path / "killed.csv"
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    pids = list(client.run(os.getpid).values())
    client.close()
    assert len(pids) == 2
    seen = []

    def kill_then_stop(row):
        seen.append(row)
        if len(seen) == 1:
            os.kill(pids[0], signal.SIGKILL)  # a lost worker: its run in flight goes back to the scheduler
        if len(seen) == 3:
            raise KeyboardInterrupt  # then the submitting process stops too (a killed client)

    with dask_executor(cluster.scheduler_address) as executor, pytest.raises(KeyboardInterrupt):
        B.benchmark(DATA, methods, seeds, out=out, executor=executor, on_row=kill_then_stop, **FIT)
    before = _by_key(B.load_log(out))
    assert len(before) == 3  # the rows that arrived, written once each by this process alone
    _wait_for_workers(cluster.scheduler_address, 2)
    resumed = []
    with dask_executor(cluster.scheduler_address) as executor:
        table = B.benchmark(DATA, methods, seeds, out=out, executor=executor, on_row=resumed.append, **FIT)
    after = _by_key(B.load_log(out))
    assert len(after) == len(methods) * len(seeds) == len(table)
    assert len(resumed) == len(after) - len(before)  # exactly the missing runs were trained
    assert {k: after[k] for k in before} == before  # the finished ones were not touched
    local = B.benchmark(DATA, methods, seeds, out=tmp_path / "local.csv", workers=1, **FIT)
    assert _by_key(B.load_log(tmp_path / "local.csv")) == after
    assert set(local["status"]) == {"ok"}


def _wait_for_workers(address, n, timeout=60.0):
    client = distributed.Client(address, set_as_default=False)
    try:
        client.wait_for_workers(n, timeout=timeout)
    finally:
        client.close()


def test_worker_with_other_data_fails_clearly(cluster, tmp_path, monkeypatch):
    # the submitting process fingerprints n_samples=150; a task that says otherwise must be refused
    import mmlib.benchmark.pool as P

    real = P.Task

    def wrong_fingerprint(job, key, data, fingerprint, fit_kw, library):
        return real(job, key, data, "0" * 12, fit_kw, library)

    monkeypatch.setattr(P, "Task", wrong_fingerprint)
    with dask_executor(cluster.scheduler_address) as executor, pytest.raises(WorkerMismatch, match="fingerprint"):
        B.benchmark(DATA, ["baseline"], [0], out=tmp_path / "wrong.csv", executor=executor, **FIT)
    assert B.load_log(tmp_path / "wrong.csv") == []


def test_executor_must_be_an_executor_and_excludes_workers(cluster):
    with pytest.raises(TypeError, match="concurrent.futures.Executor"):
        B.benchmark(DATA, ["baseline"], [0], executor="tcp://127.0.0.1:8786", **FIT)
    with dask_executor(cluster.scheduler_address) as executor, pytest.raises(ValueError, match="leave workers at 1"):
        B.benchmark(DATA, ["baseline"], [0], executor=executor, workers=2, **FIT)


def test_no_scheduler_is_a_clear_error():
    started = time.perf_counter()
    with pytest.raises(OSError, match="no Dask scheduler answers at"):
        with dask_executor("tcp://127.0.0.1:9", timeout=2):
            pass
    assert time.perf_counter() - started < 30
