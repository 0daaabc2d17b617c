"""What does a Dask cluster cost per run over the local process pool?

Times the same small benchmark (methods x seeds on a small synthetic data set, in memory,
no log) on the local pool with two worker processes and on a two-worker Dask
``LocalCluster`` on the loopback address (single-thread worker processes), interleaved,
``--repeats`` times each, and prints the median wall times, their ratio, and each side's
overhead per run: ``(wall - sum of the runs' training seconds / 2 workers) / runs`` (the
local pool's includes forking and warming up its workers on every call; the cluster's is
connecting, sending each task and its row, and scheduling). The cluster is started once
and warmed by one throw-away benchmark first (a real cluster stays up between
benchmarks; its start-up is printed apart); the local pool forks its workers on every
call, as the benchmark does. The rows of both are checked to be equal.

    python tests/benchmarks/cluster_overhead.py [--seeds 4] [--epochs 2] [--repeats 3]

Needs the optional extra: ``pip install -r requirements-cluster.txt``.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["baseline", "ogm_ge"])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import distributed

    import mmlib.benchmark as B
    from mmlib.benchmark.cluster import dask_executor

    data = {"synthetic": ("synthetic", {"n_samples": args.samples})}
    seeds = list(range(args.seeds))
    fit = {"epochs": args.epochs, "batch_size": 32}
    runs = len(args.methods) * len(seeds)
    where = {"seconds", "host"}

    def rows(table):
        return table.drop(columns=sorted(where)).sort_values(["method", "seed"]).reset_index(drop=True)

    started = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=50) as cluster:
        up = time.perf_counter() - started
        with dask_executor(cluster.scheduler_address) as executor:
            warm_start = time.perf_counter()
            B.benchmark(data, args.methods, seeds, executor=executor, **fit)  # each worker's first run: imports
            warm = time.perf_counter() - warm_start
        local_times, cluster_times, local_table, cluster_table = [], [], None, None
        local_over, cluster_over = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            local_table = B.benchmark(data, args.methods, seeds, workers=2, **fit)
            local_times.append(time.perf_counter() - t)
            local_over.append((local_times[-1] - local_table["seconds"].sum() / 2) / runs)
            t = time.perf_counter()
            with dask_executor(cluster.scheduler_address) as executor:
                cluster_table = B.benchmark(data, args.methods, seeds, executor=executor, **fit)
            cluster_times.append(time.perf_counter() - t)
            cluster_over.append((cluster_times[-1] - cluster_table["seconds"].sum() / 2) / runs)
    same = rows(local_table).equals(rows(cluster_table))
    local, remote = statistics.median(local_times), statistics.median(cluster_times)
    train = statistics.median(local_table["seconds"])
    train_remote = statistics.median(cluster_table["seconds"])
    print(f"{runs} runs ({len(args.methods)} methods x {len(seeds)} seeds, synthetic n={args.samples}, "
          f"{args.epochs} epochs), {args.repeats} repeats, medians:")
    print(f"  local pool, 2 processes      {local:7.2f} s   ({', '.join(f'{t:.2f}' for t in local_times)})")
    print(f"  Dask LocalCluster, 2 workers {remote:7.2f} s   ({', '.join(f'{t:.2f}' for t in cluster_times)})")
    print(f"  ratio cluster / local        {remote / local:7.2f}")
    print(f"  difference per run           {(remote - local) / runs:+7.3f} s   (median training time of one run: "
          f"{train:.3f} s in the pool, {train_remote:.3f} s on the cluster)")
    print(f"  overhead per run, local pool {statistics.median(local_over):7.3f} s   (wall - training / 2 workers)")
    print(f"  overhead per run, cluster    {statistics.median(cluster_over):7.3f} s")
    print(f"  cluster start-up {up:.1f} s, first benchmark on fresh workers {warm:.1f} s (not in the ratio)")
    print(f"  rows equal (all but seconds, host): {same}")


if __name__ == "__main__":
    main()
