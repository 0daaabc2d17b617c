"""The benchmark: every registered method x data sets x seeds, resumable, and "relative balance".

One run trains one method on one data set with one seed (:func:`mmlib.experiment.run_row`,
model selection on the validation split only) and becomes one row: fused test accuracy,
macro-F1, each modality's accuracy, the Shapley contribution of each modality, the
imbalance of those contributions and the wall time. A method that declares it cannot
run on the model or data (it raises :class:`mmlib.methods.NotApplicable`) gets a row
with ``status == "n/a"`` instead of crashing the benchmark.

Resumable: each finished run is appended as one JSON line to a log and flushed to disk
before the next starts; a run whose key (data set, method, seed, settings) is already in
the log is never recomputed. ``settings`` is a hash of everything that decides the result:
the fit options, the method's full hyperparameters, a fingerprint of the data, and the
source of the library and of the method's class (change the code and its runs are redone).

Diverged runs: a run whose training loss stops being finite (:class:`mmlib.train.DivergedError`)
becomes a row with ``status == "diverged"`` and the error in ``note``. It stays in the log
(a resumed benchmark does not train it again) but is left out of every mean, summary,
family average and frontier; :func:`mmlib.results.diverged_runs` lists them and the command line counts them.

One writer at a time: the benchmark holds a lock on ``<log>.lock`` while it runs, so a
second benchmark on the same log fails at once with :class:`BenchmarkLocked` (naming the
log and the holder's pid), or waits for it with ``wait_for_lock=`` (``--wait``). The lock
dies with its process. Worker processes end with the process that started them. A corrupt
line in the log is skipped with a warning naming its line number; every valid row is kept.

"Relative balance" (the chapter 7 frontier): a method is on the Pareto frontier of a
data set when no other method is at least as accurate *and* at least as balanced and
strictly better in one of the two (:func:`mmlib.results.pareto_frontier`; the result
tables are in :mod:`mmlib.results`, the figure is :func:`mmlib.plots.plot_relative_balance`)::

    i is dominated  <=>  exists j: acc_j >= acc_i and imb_j <= imb_i and (acc_j > acc_i or imb_j < imb_i)

Beyond one machine: the runs go to any ``concurrent.futures.Executor`` (``executor=``), by
default the local process pool; ``--scheduler ADDRESS`` sends them to a Dask cluster
(the optional extra ``requirements-cluster.txt``). Workers only return rows; the
submitting process alone appends them to the log, under its lock, so a lost worker or a
killed benchmark loses at most the runs in flight and the same command resumes exactly
the missing ones. Each run trains on its worker's device (``$MMLIB_DEVICE``, else CUDA
when visible, else the CPU) and its row records ``device``, ``host`` and ``seconds``.

The package, one concern per module: :mod:`~mmlib.benchmark.keys` (run keys: library
hash, data fingerprint, :class:`Job`), :mod:`~mmlib.benchmark.log` (the JSONL log and its
lock), :mod:`~mmlib.benchmark.pool` (one run, the local worker processes, the executor
loop), :mod:`~mmlib.benchmark.remote` (one run as a self-contained task for any executor),
:mod:`~mmlib.benchmark.cluster` (the Dask connection), :mod:`~mmlib.benchmark.checks`
(argument checks), :mod:`~mmlib.benchmark.run` (:func:`benchmark`) and
:mod:`~mmlib.benchmark.cli` (the command line).

From a shell::

    python -m mmlib.benchmark --methods baseline ogm_ge --datasets synthetic mfeat \
        --seeds 0 1 2 --epochs 20 --out _build/benchmark/benchmark.csv

and on a Dask cluster (``dask scheduler``, then ``dask worker tcp://HOST:8786 --nthreads 1``
per GPU or core, each started in the course folder)::

    python -m mmlib.benchmark --datasets cremad --root data/CREMAD --encoder resnet18 \
        --feature-dim 512 --seeds 0 1 2 3 4 --epochs 30 --scheduler tcp://HOST:8786
"""

from .cli import main
from .keys import FIT_DEFAULTS, Job, data_fingerprint, job_key, library_hash
from .log import KEY_COLUMNS, BenchmarkLocked, CorruptLogWarning, default_out, load_log
from .run import benchmark

__all__ = ["FIT_DEFAULTS", "KEY_COLUMNS", "BenchmarkLocked", "CorruptLogWarning", "Job", "benchmark",
           "data_fingerprint", "default_out", "job_key", "library_hash", "load_log", "main"]
