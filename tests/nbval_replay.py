"""pytest plugin: nbval ``--nbval-lax`` over the committed notebooks, without a second execution.

``make test`` executes every chapter once, with papermill, through the book runner
(``python -m mmlib.course.book build --out _build/test``). Re-executing the same cells again
under nbval would double the longest stage of the test run. This plugin instead feeds
nbval's own collector and comparison (comment markers and tags, ``skip_compare``, the
``--nbval-sanitize-with`` file, stream coalescing) with the outputs of that papermill
run, cell by cell, and applies nbval's lax rules to the committed ``chapters/*.ipynb``:

* a cell whose run raised an error fails (unless marked ``# NBVAL_RAISES_EXCEPTION``);
* a cell marked ``# NBVAL_CHECK_OUTPUT`` fails when its sanitized outputs differ from the
  outputs stored in the committed notebook;
* a cell whose source differs between the committed notebook and the executed chapter
  fails (the committed notebook is stale: ``make refresh-notebooks``).

Use::

    python -m pytest -p tests.nbval_replay --nbval-replay _build/test/notebooks \
        --nbval-sanitize-with tests/nbval_sanitize.cfg chapters/

Plain nbval (``--nbval-lax``, re-executing every notebook) stays available as ``make nbval``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile, coalesce_streams


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("nbval").addoption(
        "--nbval-replay", metavar="DIR", default=None,
        help="compare committed notebooks with the executed notebooks of the same name in DIR "
             "(nbval-lax rules) instead of re-executing them")


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    opt = parent.config.option
    if opt.nbval_replay and file_path.suffix == ".ipynb" and not (opt.nbval or opt.nbval_lax):
        return ReplayFile.from_parent(parent, path=file_path)
    return None


class ReplayFile(IPyNbFile):
    """A committed notebook, checked against its executed twin instead of a live kernel."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.compare_outputs = False  # lax: only NBVAL_CHECK_OUTPUT cells are compared
        self.replayed: list = []

    def setup(self) -> None:
        self.setup_sanitize_files()
        executed = Path(self.config.option.nbval_replay) / self.path.name
        if not executed.is_file():
            raise FileNotFoundError(
                f"no executed notebook {executed}: run `python -m mmlib.course.book build --out "
                f"{Path(self.config.option.nbval_replay).parent}` first")
        nb = nbformat.read(executed, as_version=4)
        self.replayed = [c for c in nb.cells if c.cell_type == "code"
                         and "injected-parameters" not in c.metadata.get("tags", [])]

    def collect(self):
        for item in super().collect():
            yield ReplayCell.from_parent(self, name=item.name, cell_num=item.cell_num,
                                         cell=item.cell, options=item.options)


class ReplayCell(IPyNbCell):
    """One code cell: nbval's lax checks on the outputs of the papermill run."""

    def runtest(self) -> None:
        if self.options["skip"]:
            pytest.skip()
        ran = self.parent.replayed
        if self.cell_num >= len(ran) or ran[self.cell_num].source != self.cell.source:
            self.raise_cell_error(
                "the committed notebook differs from the chapter source here: "
                "run `make refresh-notebooks` (and keep the .py/.ipynb pair in sync)")
        outs = coalesce_streams(copy.deepcopy(ran[self.cell_num].outputs))
        errors = [o for o in outs if o.output_type == "error"]
        if errors and not self.options["check_exception"]:
            self.raise_cell_error("Cell execution caused an exception",
                                  "\n" + "\n".join(errors[0].traceback))
        unrun = self.cell.execution_count is None
        if unrun and self.cell.outputs:
            self.raise_cell_error("Unrun reference cell has outputs")
        if self.options["check"] and not unrun:
            if not self.compare_outputs(outs, coalesce_streams(copy.deepcopy(self.cell.outputs))):
                self.raise_cell_error("Cell outputs differ", "\n".join(self.comparison_traceback))
