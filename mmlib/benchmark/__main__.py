"""``python -m mmlib.benchmark ...``: the command line (:func:`mmlib.benchmark.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
