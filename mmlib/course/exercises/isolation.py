"""Run a learner's code and the checks in a child process with a time limit.

One child runs the notebook's cells, then each pending task, and reports through a pipe
as it goes: ``("cell", i)`` / ``("cell_error", i, why)`` / ``("task", name)`` /
``("result", name, status, hint, output)`` / ``("fatal", why)`` / ``("done",)``. The parent
(:func:`supervise`) waits at most ``timeout`` seconds for each task and ``cell_timeout`` for
each cell (a notebook's top-level code may legitimately train for minutes). When the child
runs past it, or ends before ``done`` (``os._exit``, a signal, a crash), the parent kills
it, blames the cell or task it was in, and starts a fresh child for the rest (skipping a
blamed cell): one fault never loses the other tasks' results.

The ``fork`` start method is preferred (torch is already imported, and the functions of a
notebook kernel are inherited); elsewhere ``spawn`` re-reads the notebook from its file.

Guards inside the child: output is captured (capped) instead of flooding the terminal;
the attributes of ``builtins``, ``torch``, the checks module and this package are
snapshot before the learner's code runs, and a change is undone and reported as a fail
(so monkeypatching ``torch.allclose`` or ``mmlib.course.exercises.FAIL`` cannot make a check
pass). This protects against accidents and casual tampering; it is a learning aid, not a
security boundary.
"""

from __future__ import annotations

import builtins
import faulthandler
import functools
import io
import multiprocessing
import os
import signal
import sys
import time
import types
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

MAX_MESSAGE = 2000  # characters of a hint sent back
MAX_OUTPUT = 1000  # characters of printed output kept per task
STARTUP_S = 120.0  # seconds a child may take to start and load the checks, whatever the limit
_MISSING = object()


@dataclass
class Job:
    """What a child grades: the checks file, and a notebook's cells or a (forked) namespace."""

    checks_path: str
    exercise_id: str
    notebook: str | None
    cells: list[str]
    namespace: dict[str, Any] | None = field(default=None, repr=False)


def can_fork() -> bool:
    """Whether the ``fork`` start method is available here."""
    return "fork" in multiprocessing.get_all_start_methods()


def _context(job: Job) -> multiprocessing.context.BaseContext:
    if can_fork():
        return multiprocessing.get_context("fork")
    if job.namespace is not None:
        raise RuntimeError("grading a namespace needs the fork start method")
    return multiprocessing.get_context("spawn")


def _cap(text: str, limit: int = MAX_MESSAGE) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f" … ({len(text) - limit} more characters cut)"


def describe_exit(exitcode: int | None) -> str:
    """What a child's exit code says about how it ended, for a hint."""
    if exitcode is None:
        return "the grading process stopped responding"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        why = {"SIGKILL": " (os.kill, or the machine ran out of memory?)",
               "SIGSEGV": " (a crash: segmentation fault)", "SIGABRT": " (a crash: abort)",
               "SIGBUS": " (a crash: bus error)", "SIGFPE": " (a crash)", "SIGILL": " (a crash)"}.get(name, "")
        return f"the grading process was killed by {name}{why}"
    return (f"your code ended the grading process (os._exit({exitcode}) or a fatal error) "
            "— grading cannot continue in this task")


class _Capped(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written to it."""

    def __init__(self, limit: int = MAX_OUTPUT) -> None:
        super().__init__()
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        s = str(s)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(room, len(s))
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def take(self) -> str:
        text = "".join(self.parts) + (f"\n… ({self.dropped} more characters of output cut)" if self.dropped else "")
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


class _Snapshot:
    """Identity of every attribute of the modules and classes a check relies on.

    The grader's own modules and the checks must not change at all. Library modules
    (``builtins``, ``torch``, ...) may patch themselves (importing ``torch._dynamo``
    rewraps ``torch.manual_seed``), so there a change counts only when the new value is
    code from outside the installed packages: a learner's function, lambda or class.
    """

    MODULES = ("builtins", "math", "operator", "torch", "torch.nn", "torch.nn.functional", "numpy")
    OWN = ("mmlib.course.exercises", "mmlib.course.exercises.isolation")

    def __init__(self, checks: dict[str, Any], checks_module: types.ModuleType) -> None:
        owners: list[tuple[str, Any, bool]] = [(m, sys.modules[m], False) for m in self.MODULES if m in sys.modules]
        owners += [(m, sys.modules[m], True) for m in self.OWN if m in sys.modules]
        owners += [("checks", checks_module, True), ("_Snapshot", _Snapshot, True), ("_Capped", _Capped, True)]
        torch = sys.modules.get("torch")
        if torch is not None:
            owners.append(("torch.Tensor", torch.Tensor, False))
            if hasattr(torch._C, "TensorBase"):
                owners.append(("torch.Tensor", torch._C.TensorBase, False))
        self.items = [(label, owner, name, value, strict, False)
                      for label, owner, strict in owners for name, value in list(vars(owner).items())]
        self.items += [(f"checks.{fn.__name__}", fn, attr, getattr(fn, attr), True, True)
                       for n, fn in checks.items() for attr in ("__code__", "__defaults__", "__kwdefaults__")
                       if isinstance(fn, types.FunctionType)]
        self._builtins = builtins.__dict__
        self._builtins_saved = dict(self._builtins)
        self.allowed = tuple(str(Path(p).resolve()) for p in
                             {sys.prefix, sys.base_prefix, sys.exec_prefix, Path(__file__).parents[1],
                              Path(checks_module.__file__).parent} if p)

    def origin(self, value: Any) -> str | None:
        """Where ``value``'s code comes from, when that is outside the installed packages."""
        if isinstance(value, types.MethodType):
            value = value.__func__
        if isinstance(value, functools.partial):
            value = value.func
        if isinstance(value, types.FunctionType):
            where = value.__code__.co_filename
        elif isinstance(value, type) or callable(value):
            cls = value if isinstance(value, type) else type(value)
            name = str(cls.__module__)
            if name in ("__main__", "__exercise__"):
                return f"module {name}"
            module = sys.modules.get(name) or sys.modules.get(name.split(".")[0])
            if module is None:
                return f"module {name}"
            where = getattr(module, "__file__", None)
            if where is None:  # builtins and other modules compiled into Python
                return None
        else:
            return None
        if where.startswith("<frozen") or str(Path(where).resolve()).startswith(self.allowed):
            return None
        return where

    @staticmethod
    def _now(owner: Any, name: str, by_attr: bool) -> Any:
        return getattr(owner, name, _MISSING) if by_attr else vars(owner).get(name, _MISSING)

    def _fix_builtins(self) -> list[str]:
        """Put replaced builtins back first, using dict operations only (the rest uses builtins)."""
        saved, now = self._builtins_saved, self._builtins
        changed = [name for name, value in saved.items() if now.get(name, _MISSING) is not value]
        for name in changed:
            now[name] = saved[name]
        return ["builtins." + name for name in changed]

    def _changed_items(self) -> list[tuple]:
        out = []
        for item in self.items:
            if item[0] == "builtins":
                continue
            label, owner, name, value, strict, by_attr = item
            now = self._now(owner, name, by_attr)
            if now is not value and (strict or now is _MISSING or self.origin(now) is not None):
                out.append(item)
        return out

    def changed(self) -> list[str]:
        """Attributes replaced by outside code, or deleted, since the snapshot (builtins: already undone)."""
        return self._fix_builtins() + [f"{item[0]}.{item[2]}" for item in self._changed_items()]

    def restore(self) -> None:
        """Put the changed attributes back."""
        for label, owner, name, value, strict, by_attr in self._changed_items():
            try:
                setattr(owner, name, value)
            except (AttributeError, TypeError):
                pass

    def foreign(self) -> list[str]:
        """Library attributes that hold code from outside the installed packages (a kernel's patch)."""
        out = []
        for label, owner, name, value, strict, by_attr in self.items:
            if strict or name.startswith("__"):
                continue
            where = self.origin(value)
            if where is not None:
                out.append(f"{label}.{name} (now code from {where})")
        return out


def _silence() -> _Capped:
    """Send fd 1/2 to /dev/null and ``sys.stdout``/``sys.stderr`` to a capped buffer."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
    except OSError:
        pass
    capture = _Capped()
    sys.stdout = sys.stderr = capture
    return capture


def _child_main(job: Job, pending: list[str], skip: list[int], conn: Any) -> None:
    """Child process: run the notebook's cells, then each pending task; report via ``conn``."""
    send = conn.send
    if hasattr(os, "setpgid"):
        try:
            os.setpgid(0, 0)  # a group of our own: the parent kills it, and what the learner's code started
        except OSError:
            pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the parent, which kills us
    faulthandler.disable()  # a crash is reported by the parent, not as a dump on the terminal
    capture = _silence()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)  # OpenMP thread pools inherited through fork can deadlock
    import mmlib.course.exercises as ex

    ex._grading_file = True  # the notebook's own check() cell stays quiet (set before the snapshot)
    module = ex._load_module(Path(job.checks_path), f"mmlib_exercise_checks_{job.exercise_id}")
    checks = dict(module.CHECKS)
    snapshot = _Snapshot(checks, module)
    patched = snapshot.foreign()
    if patched:
        send(("fatal", _cap("grading refused: library functions were replaced by your code: "
                            + ", ".join(patched[:5]) + " — restart the kernel and run your cells again")))
        send(("done",))
        return
    namespace = job.namespace if job.namespace is not None else {"__name__": "__exercise__"}
    if job.notebook is not None:
        name = Path(job.notebook).name
        for i, source in enumerate(job.cells):
            if i in skip:
                continue
            send(("cell", i))
            error = ex.exec_cell(source, i, name, namespace)
            changed = snapshot.changed()
            if changed:
                snapshot.restore()
                error = (error + "; " if error else "") + (
                    f"cell {i} replaced {', '.join(changed[:5])} (undone before grading)")
            capture.take()
            if error:
                send(("cell_error", i, _cap(error)))
    for task in pending:
        send(("task", task))
        fn = namespace.get(task)
        if fn is None:
            send(("result", task, "missing", "", ""))
            continue
        status, hint = ex.run_task(checks[task], fn)
        changed = snapshot.changed()
        if changed:
            snapshot.restore()
            status, hint = ex.FAIL, (f"your code replaced {', '.join(changed[:5])} while the check ran "
                                     "— the check cannot be trusted (undone)")
        send(("result", task, str(status), _cap(hint), capture.take()))
    send(("done",))


def _kill_group(proc: multiprocessing.process.BaseProcess) -> None:
    """Kill the child and whatever it started (its own process group, where there is one)."""
    if proc.pid is None:
        return
    if hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:  # the group is gone, or the child could not make one
            pass
    if proc.is_alive():
        proc.kill()
    proc.join()


def supervise(job: Job, tasks: list[str], timeout: float, cell_timeout: float | None = None
              ) -> tuple[dict[str, tuple[str, str, str]], dict[int, str], str | None]:
    """Grade ``tasks`` in child processes; returns (task -> (status, hint, output), cell errors, fatal)."""
    from mmlib.course.exercises import FAIL

    ctx = _context(job)
    pending, skip = list(tasks), set()
    results: dict[str, tuple[str, str, str]] = {}
    cell_errors: dict[int, str] = {}
    fatal: str | None = None
    while True:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child_main, args=(job, list(pending), sorted(skip), send),
                           name=f"mmlib-grader-{job.exercise_id}")
        unit: tuple[str, Any] | None = None
        done, what = False, ""
        try:
            proc.start()
            send.close()
            # starting up is the grader's own work (with spawn: importing torch), not the learner's
            deadline = time.monotonic() + max(timeout, STARTUP_S)
            limits = {"cell": timeout if cell_timeout is None else cell_timeout, "task": timeout}

            def handle(msg: tuple) -> None:
                nonlocal unit, done, deadline, fatal
                kind = msg[0]
                if kind in ("cell", "task"):
                    unit, deadline = (kind, msg[1]), time.monotonic() + limits[kind]
                elif kind == "cell_error":
                    cell_errors[msg[1]] = str(msg[2])
                elif kind == "result" and msg[1] in pending:
                    results[msg[1]] = (str(msg[2]), str(msg[3]), str(msg[4]))
                    pending.remove(msg[1])
                    unit = ("idle", None)
                elif kind == "fatal":
                    fatal = str(msg[1])
                elif kind == "done":
                    done = True

            while not done:
                ready = wait([recv, proc.sentinel], timeout=max(0.0, deadline - time.monotonic()))
                if not ready:
                    limit = limits["cell" if unit is not None and unit[0] == "cell" else "task"]
                    what = f"ran longer than the {limit:g} s limit (an infinite loop?) and was stopped"
                    break
                if recv in ready:
                    try:
                        handle(recv.recv())
                        continue
                    except (EOFError, OSError):
                        pass
                    except Exception:  # noqa: BLE001 - not one of our messages
                        what = "your code wrote something unreadable into the grader's pipe"
                        break
                while True:  # the child ended: read what it sent before
                    try:
                        if not recv.poll():
                            break
                        handle(recv.recv())
                    except Exception:  # noqa: BLE001 - EOF, or garbage after the child's end
                        break
                if not done:
                    proc.join(5)
                    what = describe_exit(proc.exitcode)
                break
        finally:
            if proc.is_alive() and done:
                proc.join(1)
            _kill_group(proc)
            recv.close()
        if done or fatal:
            break
        if unit is None or unit[0] == "idle":
            fatal = f"the grading process ended outside any cell or task: {what}"
            break
        if unit[0] == "cell":
            cell_errors[unit[1]] = f"cell {unit[1]}: " + what.replace("grading cannot continue in this task",
                                                                      "the cell was skipped")
            skip.add(unit[1])
        else:
            results[unit[1]] = (FAIL, f"task {what}" if what.startswith("ran ") else what, "")
            pending.remove(unit[1])
            if not pending:
                break
    return results, cell_errors, fatal
