"""The ``.py``/``.ipynb`` pair of an exercise: which one to grade, and a guard for JupyterLab.

How jupytext (1.18, ``jupytext/sync_contentsmanager.py`` and ``pairs.py``) resolves a pair
when JupyterLab opens it: the **inputs** (code and markdown) always come from the text
file (``.py``), the outputs from the ``.ipynb``. Only when the ``.ipynb`` is newer than the
``.py`` by more than ``outdated_text_notebook_margin`` (1 s by default) *and* their inputs
differ does it refuse to open the notebook (HTTP 400, "... is more recent than ...").
So after ``git pull`` rewrites a ``.py`` (a fresh mtime), JupyterLab shows the ``.py``'s
code and the learner's work in the ``.ipynb`` is gone on the next save, without a word.

The guard (``python -m mmlib.course.exercises guard``, run by ``make lab``) copies, for every
pair whose code differs, the side that would be lost into ``exercises/backup/`` and says
how to restore it. It never modifies the pair itself.
"""

from __future__ import annotations

import shutil
import time
import tomllib
from datetime import datetime, timezone
from pathlib import Path

from mmlib.course.bookfile import BookError

__all__ = ["code_of", "differ", "choose_notebook", "guard", "BACKUP_DIR"]

BACKUP_DIR = "backup"
DEFAULT_MARGIN = 1.0  # jupytext's default outdated_text_notebook_margin, seconds


def code_of(path: Path) -> list[str]:
    """The code cells' sources of a notebook, whitespace-only differences removed."""
    from mmlib.course.exercises import notebook_cells

    return [" ".join(source.split()) for source in notebook_cells(path) if source.strip()]


def differ(a: Path, b: Path) -> bool:
    """Whether two notebooks differ in code (whitespace-only differences ignored)."""
    return code_of(a) != code_of(b)


def _stamp(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def choose_notebook(stub: Path, path: Path | None = None) -> tuple[Path, list[str], list[str]]:
    """The file to grade, notes (which one and why) and warnings (the pair differs in code).

    Without ``path``: the newer (by mtime) of ``stub``'s ``.ipynb`` and ``.py``; a tie
    goes to the ``.ipynb``. With ``path``: that file, with a warning when its paired
    sibling is newer and differs in code.
    """
    notes: list[str] = []
    if path is None:
        ipynb, py = stub.with_suffix(".ipynb"), stub.with_suffix(".py")
        existing = [p for p in (ipynb, py) if p.is_file()]
        if not existing:
            raise BookError(f"no exercise notebook at {ipynb} or {py}")
        path = max(existing, key=lambda p: p.stat().st_mtime_ns)  # max keeps the first (.ipynb) on a tie
        if len(existing) == 2:
            other = py if path == ipynb else ipynb
            notes.append(f"graded {_shown(path)} (modified {_stamp(path)}), the newer of the pair; "
                         f"{_shown(other)} was modified {_stamp(other)}")
    path = Path(path)
    if not path.is_file():
        raise BookError(f"no exercise notebook at {path} (give an .ipynb or a py:percent .py file)")
    warnings: list[str] = []
    sibling = path.with_suffix(".py" if path.suffix == ".ipynb" else ".ipynb")
    if path.suffix in (".ipynb", ".py") and sibling.is_file() and differ(path, sibling):
        newer, older = (path, sibling) if path.stat().st_mtime_ns >= sibling.stat().st_mtime_ns else (sibling, path)
        warnings.append(f"{_shown(path)} and {_shown(sibling)} differ in code; {_shown(newer)} is newer "
                        f"({_stamp(newer)} vs {_stamp(older)}) and {_shown(path)} was graded. Save the "
                        f"notebook you work in (or run `make lab`, which backs up the other one).")
    return path, notes, warnings


def _margin(root: Path) -> float:
    try:
        config = tomllib.loads((root / "jupytext.toml").read_text())
        return float(config.get("outdated_text_notebook_margin", DEFAULT_MARGIN))
    except (OSError, ValueError, tomllib.TOMLDecodeError):
        return DEFAULT_MARGIN


def guard(stubs: list[Path], root: Path, now: float | None = None) -> list[str]:
    """Back up the side of each differing pair that JupyterLab would drop; the messages to print.

    At risk is the ``.ipynb`` unless it is newer than the ``.py`` by more than jupytext's
    margin (then JupyterLab refuses to open it and the ``.py`` is at risk of a
    ``jupytext --sync``). Backups go to ``<exercises>/backup/NN_slug.<UTC time>.<ext>``;
    an identical backup already there is reused.
    """
    margin = _margin(root)
    stamp = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    messages: list[str] = []
    for stub in stubs:
        ipynb, py = stub.with_suffix(".ipynb"), stub.with_suffix(".py")
        if not (ipynb.is_file() and py.is_file()):
            continue
        try:
            if not differ(ipynb, py):
                continue
        except BookError as exc:
            messages.append(f"warning: {exc}; not checked")
            continue
        ipynb_newer = ipynb.stat().st_mtime > py.stat().st_mtime + margin
        at_risk, kept = (py, ipynb) if ipynb_newer else (ipynb, py)
        folder = stub.parent / BACKUP_DIR
        folder.mkdir(exist_ok=True)
        data = at_risk.read_bytes()
        same = [p for p in sorted(folder.glob(f"{stub.stem}.*{at_risk.suffix}")) if p.read_bytes() == data]
        if same:
            backup, verb = same[-1], "already backed up in"
        else:
            backup, verb = folder / f"{stub.stem}.{stamp}{at_risk.suffix}", "backed up to"
            shutil.copy2(at_risk, backup)
        if ipynb_newer:
            why = (f"{_shown(ipynb)} is newer than {_shown(py)} and their code differs: JupyterLab will refuse "
                   f"to open it until one is brought up to date ({_shown(py)} {verb} {_shown(backup)}). "
                   f"To keep your notebook: .venv/bin/jupytext --sync {_shown(ipynb)}")
        else:
            why = (f"{_shown(py)} is newer than {_shown(ipynb)} and their code differs: JupyterLab will show "
                   f"the code of {_shown(py)} and overwrite your notebook on save. Your notebook was {verb} "
                   f"{_shown(backup)}. To restore it: cp {_shown(backup)} {_shown(ipynb)} && "
                   f".venv/bin/jupytext --sync {_shown(ipynb)}")
        messages.append(why)
    return messages
