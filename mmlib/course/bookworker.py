"""One chapter's worker process for the book runner (:mod:`mmlib.course.book`).

The runner loads this file by path (``importlib``), not as ``mmlib.course.bookworker``: importing
the ``mmlib`` package imports torch, seconds of start-up that a worker driving papermill
does not need (the chapter's kernel imports what the chapter uses). So this module imports
nothing from ``mmlib``; :mod:`mmlib.course.book` imports its helpers from here.

A worker reads a pickled job of plain values, executes the chapter with papermill into a
temporary notebook renamed into place when done, renders its HTML page if asked, and
writes its result as JSON (atomically). Its environment (``MMLIB_PROGRESS``, ``MMLIB_BOOK``)
is set by the runner and inherited by the kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RECORD_MIME = "application/vnd.mmlib.record+json"
KERNEL = "python3"
KERNELSPEC = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o777  # keep the mode of the file replaced
    except OSError:
        mode = 0o666 & ~_umask()  # a new file: what open() would give
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_records(nb: Any) -> dict[str, Any]:
    """Merge every ``mmlib.course.book.record`` output of an executed notebook (later values win)."""
    found: dict[str, Any] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                found.update(json.loads(payload) if isinstance(payload, str) else dict(payload))
    return found


def read_source(path: Path) -> Any:
    """A chapter's .py read by jupytext, with the python3 kernelspec papermill needs."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    return nb


def error_info(exc: BaseException) -> dict[str, Any]:
    """Where and why a chapter failed, for the report and the terminal."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return {"cell": exc.exec_count, "source": exc.source, "ename": exc.ename, "evalue": exc.evalue}
    return {"cell": None, "source": "", "ename": type(exc).__name__, "evalue": str(exc)}


def _children_cpu() -> float:
    """User + system CPU seconds of this process's reaped children (0 where unsupported)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def execute(source: Path, slug: str, params: dict[str, Any], out_dir: Path, timeout_s: int | None) -> dict[str, Any]:
    """Execute the chapter ``source`` with papermill into ``out_dir/notebooks/<slug>.ipynb``.

    The notebook is written to ``.<slug>.tmp-<pid>.ipynb`` and renamed into place when
    papermill is done (also when the chapter failed: the error is part of the record).
    ``seconds`` is papermill's wall time, kernel start included.
    """
    import nbformat
    import papermill

    nb_dir = out_dir / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    out_nb = nb_dir / f"{slug}.ipynb"
    tmp_nb = nb_dir / f".{slug}.tmp-{os.getpid()}.ipynb"
    result: dict[str, Any] = {"timeout_s": timeout_s}
    cpu_before = _children_cpu()
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            read_source(source), str(tmp_nb), parameters=params or None,
            kernel_name=KERNEL, cwd=str(source.parent), progress_bar=False,
            execution_timeout=timeout_s,  # per cell: a hung cell ends the run (None: no limit)
        )
        result["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        result["status"] = "failed"
        result["error"] = error_info(exc)
    result["seconds"] = round(time.perf_counter() - start, 2)
    # CPU time of the kernel (and the processes it waited for), once papermill has reaped it:
    # unlike wall seconds it hardly depends on the machine's load (informative, not judged)
    result["cpu_seconds"] = round(_children_cpu() - cpu_before, 2)
    result["records"] = {}
    if tmp_nb.exists():
        nb = nbformat.read(tmp_nb, as_version=4)
        nb.metadata.get("papermill", {})["output_path"] = str(out_nb)
        result["records"] = read_records(nb)
        write_atomic(out_nb, nbformat.writes(nb))
        tmp_nb.unlink()
    return result


def main(job_path: str) -> int:
    """Run the pickled job (plain values, written by the runner); write its result JSON."""
    # jsonschema (under nbformat) imports the optional rfc3987_syntax, which compiles a grammar
    # for ~2 s of CPU per process, for an IRI format check no notebook uses: skip it here, in
    # the worker only, so a chapter's start-up steals less CPU from the chapters running beside it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]
    with open(job_path, "rb") as f:
        job = pickle.load(f)  # noqa: S301 - written by this build's runner process
    result = execute(Path(job["source"]), job["slug"], job["params"], Path(job["out"]), job["timeout_s"])
    write_atomic(Path(job["result"]), json.dumps(result, default=str))
    return 0


if __name__ == "__main__":  # pragma: no cover - the runner loads this file by path
    sys.exit(main(sys.argv[1]))
