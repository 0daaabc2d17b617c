"""The course's own tooling, kept apart from the learner's concepts in ``mmlib/``.

- :mod:`mmlib.course.book` runs the chapters listed in ``book.yml`` (papermill, one worker
  process per chapter) into ``_build/`` and judges their time against the reference
  workload of :mod:`mmlib.course.reference`; :mod:`mmlib.course.bookfile` reads ``book.yml``.
  ``python -m mmlib.course.book --help``.
- :mod:`mmlib.course.exercises` grades the exercise notebooks
  (``from mmlib.course.exercises import check``; ``python -m mmlib.course.exercises --help``).

Chapters call :func:`mmlib.course.book.record` to put a number in the book's report.
"""
