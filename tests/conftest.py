"""Data sets the tests load again and again, loaded once per test session.

The loaders are deterministic and no test may change a data set in place (methods and
``fit`` never do), so one copy serves every test. A test that needs other sizes or
knobs loads its own.
"""

import pytest

from mmlib.data import load


@pytest.fixture(scope="session")
def synthetic_small():
    """The synthetic audio-visual toy, 240 samples (144 train: 3 steps of 64 per epoch)."""
    return load("synthetic", n_samples=240, seed=1)


@pytest.fixture(scope="session")
def mfeat():
    """The UCI multiple-features digits as shipped (six views, ten classes)."""
    return load("mfeat")
