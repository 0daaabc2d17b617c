# The course's set-up lives here. `make test` and `make book` create .venv and install
# the pinned requirements when .venv is missing or requirements.txt / pyproject.toml
# changed (stamp: .venv/.installed), then do their job.
#
#   make book               execute every chapter into _build/ (the HTML book _build/html/, rendered
#                           by Sphinx + myst-nb, and report.json); JOBS=N caps the cores used by
#                           chapters side by side
#   make test               everything CI checks (.ci/run calls exactly this)
#   make test-html          the HTML book of the last test build (_build/test/html/) in headless
#                           Chromium, network blocked: math typeset, images, prev/next, no widget repr
#                           (skips, saying so, where no Chromium is installed)
#   make site               re-render _build/html/ from the notebooks already in _build/notebooks/
#   make lab                JupyterLab on the course, .py/.ipynb paired by jupytext
#   make refresh-notebooks  maintainer: rewrite chapters/*.ipynb with fresh outputs
#                           (CHAPTER=01 for one chapter)
#   make nbval              maintainer: plain nbval --nbval-lax, re-executing the
#                           committed notebooks in their own kernels
#   make clean              remove _build/ but keep the benchmark result logs in _build/benchmark/
#   make clean-results      remove the benchmark result logs (_build/benchmark/: minutes of compute)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SANITIZE := tests/nbval_sanitize.cfg
TEST_OUT := _build/test

.PHONY: setup book site test test-unit test-chapters test-nbval test-html lab refresh-notebooks nbval clean clean-results

# Progress bars off in unattended runs (mmlib's tqdm bars read MMLIB_PROGRESS; 0 = off).
book test test-unit test-chapters test-nbval refresh-notebooks nbval: export MMLIB_PROGRESS = 0

$(STAMP): requirements.txt requirements-cluster.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-cluster.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# Chapters run side by side with at most JOBS cores busy (each chapter's `cores` in book.yml);
# default: this machine's cores. `make test JOBS=1` runs them one at a time.
JOBS ?=
BOOK_JOBS = $(if $(JOBS),--jobs $(JOBS))

book: $(STAMP)
	$(BIN)/python -m mmlib.course.book build $(BOOK_JOBS)

site: $(STAMP)
	$(BIN)/python -m mmlib.course.book site

# 1) unit tests, exercise checks, book.yml consistency, pairing, pins;
# 2) every chapter end to end through the book runner (side by side, JOBS cores), each within
#    relative_budget x tolerance, times measured in units of a reference workload (reference_s);
# 3) nbval (lax) over the committed chapters/*.ipynb, fed by the outputs of 2);
# 4) the HTML book that 2) rendered from its notebooks (no second execution), in headless Chromium.
# Sequential on purpose (3 and 4 read what 2 wrote); each stage is also a target of its own.
test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/python -m mmlib.course.book build --out $(TEST_OUT) --keep-going --strict-budget $(BOOK_JOBS)
	$(BIN)/python -m pytest -p tests.nbval_replay --nbval-replay $(TEST_OUT)/notebooks \
		--nbval-sanitize-with $(SANITIZE) chapters/
	$(BIN)/python -m mmlib.course.htmlcheck $(TEST_OUT)/html --screenshot $(TEST_OUT)/html-check/ch01.png

test-unit: $(STAMP)
	$(BIN)/python -m pytest

test-chapters: $(STAMP)
	$(BIN)/python -m mmlib.course.book build --out $(TEST_OUT) --keep-going --strict-budget $(BOOK_JOBS)

test-nbval: $(STAMP)
	$(BIN)/python -m pytest -p tests.nbval_replay --nbval-replay $(TEST_OUT)/notebooks \
		--nbval-sanitize-with $(SANITIZE) chapters/

test-html: $(STAMP)
	$(BIN)/python -m mmlib.course.htmlcheck $(TEST_OUT)/html --screenshot $(TEST_OUT)/html-check/ch01.png

lab: $(STAMP)
	$(BIN)/python -m mmlib.course.exercises guard
	$(BIN)/jupyter lab

refresh-notebooks: $(STAMP)
	$(BIN)/python -m mmlib.course.book refresh $(if $(CHAPTER),--chapter $(CHAPTER)) $(BOOK_JOBS)

nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax --nbval-kernel-name python3 \
		--nbval-sanitize-with $(SANITIZE) chapters/

clean:
	if [ -d _build ]; then find _build -mindepth 1 -maxdepth 1 ! -name benchmark -exec rm -rf {} +; fi

clean-results:
	rm -rf _build/benchmark
