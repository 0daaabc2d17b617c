"""mmlib — the small shared library of the Balanced Multimodal Learning course.

One training loop (:mod:`mmlib.train`) with four hook points, one per stage of
training the survey sorts remedies by (data input, feed-forward, learning
objective, optimization); every method in :mod:`mmlib.methods` overrides one or
more of them. See ``DESIGN.md`` §1 of the course for the picture.
"""

__version__ = "0.1.0"
