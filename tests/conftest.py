"""Data sets the tests load again and again, loaded once per test session.

The loaders are deterministic and no test may change a data set in place (methods and
``fit`` never do), so one copy serves every test. A test that needs other sizes or
knobs loads its own.
"""

import pytest
import torch

from mmlib.data import load


@pytest.fixture(scope="session")
def synthetic_small():
    """The synthetic audio-visual toy, 240 samples (144 train: 3 steps of 64 per epoch)."""
    return load("synthetic", n_samples=240, seed=1)


@pytest.fixture(scope="session")
def mfeat():
    """The UCI multiple-features digits as shipped (six views, ten classes)."""
    return load("mfeat")


@pytest.fixture
def two_modalities():
    """Hand-made logits of a strong ("a") and a weak ("b") modality on 4 samples, 3 classes, and the labels.

    "a" is right on 3 of 4 samples with margin 3; "b" on 2 of 4 with margin 1.
    """
    labels = torch.tensor([0, 1, 2, 0])
    strong = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0], [0.0, 3.0, 0.0]])
    weak = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    return {"a": strong, "b": weak}, labels
