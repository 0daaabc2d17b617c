"""UCI Multiple Features (mfeat): six real views of 2,000 handwritten digits.

The files ship with the course in ``data/mfeat/`` with their provenance
(``PROVENANCE.md``: UCI, CC BY 4.0, van Breukelen et al. 1998). The views differ
strongly in strength — a real source of modality imbalance with no download.
Each file's SHA-256 is checked against ``PROVENANCE.md`` before it is read; a file
that cannot be read or decoded, or whose table is not 2,000 rows of finite numbers
ending in a digit label, is a :class:`~mmlib.data.DataError` naming its path.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import torch

from . import checks
from .checks import DataError
from .dataset import MultimodalDataset, stratified_split

VIEWS = {
    "fac": "profile correlations",
    "fou": "Fourier coefficients of the contours",
    "kar": "Karhunen-Loeve coefficients",
    "mor": "morphological features",
    "pix": "pixel averages in 2x3 windows",
    "zer": "Zernike moments",
}
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "data" / "mfeat"
N_ROWS = 2000
N_CLASSES = 10


def expected_checksums(root: Path) -> dict[str, str]:
    """File name -> SHA-256, read from ``PROVENANCE.md`` in ``root``."""
    provenance = root / "PROVENANCE.md"
    if not provenance.is_file():
        raise FileNotFoundError(
            f"{provenance} is missing: data/mfeat/ must hold PROVENANCE.md and the six "
            f"mfeat-<view>.csv.gz files ({', '.join(VIEWS)}) as shipped with the course")
    pairs = re.findall(r"^([0-9a-f]{64})\s+(\S+)$", provenance.read_text(), flags=re.MULTILINE)
    return {name: digest for digest, name in pairs}


def read_view(root: Path, view: str, checksums: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(2000, d)`` and labels of one view, after checking the file's SHA-256."""
    path = root / f"mfeat-{view}.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; data/mfeat/ should hold mfeat-{view}.csv.gz "
                                f"(see data/mfeat/PROVENANCE.md)")
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise DataError(f"cannot read mfeat file {path}: {checks.describe(error)}") from error
    if checksums.get(path.name) != digest:
        raise DataError(f"{path} has SHA-256 {digest}, but PROVENANCE.md records "
                        f"{checksums.get(path.name, 'no checksum')}: the file was altered or replaced; "
                        f"restore it from the course repository")
    try:
        with gzip.open(path, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", skiprows=1, dtype=np.float64)
    except (OSError, EOFError, ValueError, UnicodeDecodeError, gzip.BadGzipFile) as error:
        raise DataError(f"cannot read mfeat file {path}: {checks.describe(error)}; expected a gzipped CSV "
                        f"with a header row, then {N_ROWS} rows of features ending in the digit label") from error
    if table.ndim != 2 or table.shape[0] != N_ROWS or table.shape[1] < 2:
        raise DataError(f"mfeat file {path} holds a table of shape {table.shape}; expected {N_ROWS} rows of "
                        f"features ending in the digit label")
    if not np.isfinite(table).all():
        raise DataError(f"mfeat file {path} holds non-finite values (NaN or inf) in "
                        f"{int((~np.isfinite(table).all(1)).sum())} row(s)")
    labels = table[:, -1]
    if not (np.array_equal(labels, np.round(labels)) and labels.min() >= 0 and labels.max() < N_CLASSES):
        raise DataError(f"mfeat file {path}: its last column holds labels outside 0..{N_CLASSES - 1}, "
                        f"e.g. {labels[(labels != np.round(labels)) | (labels < 0) | (labels >= N_CLASSES)][:3]}")
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_mfeat(
    views: tuple[str, ...] | list[str] = ("fac", "zer"),
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    root: str | Path | None = None,
) -> MultimodalDataset:
    """Load some mfeat views as modalities, standardised with the train split's statistics.

    ``views`` is any subset of ``fac, fou, kar, mor, pix, zer`` in the order to fuse
    them. The default pair, ``fac`` (strong, 216-d) and ``zer`` (weaker, 47-d), is
    the course's real imbalanced pair.
    """
    if isinstance(views, str) or not isinstance(views, (tuple, list)):
        raise TypeError(f"views must be a list or tuple of view names from {list(VIEWS)}, e.g. ('fac', 'zer'), "
                        f"got {views!r}")
    views = tuple(views)
    unknown = [v for v in views if v not in VIEWS]
    if unknown or len(views) == 0:
        raise KeyError(f"unknown mfeat views {unknown or '(none given)'}; valid views: {list(VIEWS)}")
    repeated = sorted({v for v in views if views.count(v) > 1})
    if repeated:
        raise ValueError(f"views lists {repeated} more than once; give each of {list(VIEWS)} at most once")
    split_fractions = checks.fractions("split_fractions", split_fractions)
    seed = checks.seed(seed)
    root = checks.root_path("root", root) or DEFAULT_ROOT
    checksums = expected_checksums(root)
    features, labels = {}, None
    for view in views:
        x, y = read_view(root, view, checksums)
        if labels is not None and not np.array_equal(labels, y):
            raise DataError(f"{root / f'mfeat-{view}.csv.gz'}: its rows are not aligned with the other views "
                            f"(the label columns differ)")
        features[view], labels = x, y
    labels_t = torch.as_tensor(labels)
    splits = stratified_split(labels_t, split_fractions, seed)
    train = splits["train"].numpy()
    modalities = {}
    for view, x in features.items():
        mean, std = x[train].mean(0), x[train].std(0)
        std[std == 0] = 1.0
        modalities[view] = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    return MultimodalDataset(
        name="mfeat",
        modalities=modalities,
        labels=labels_t,
        classes=[str(d) for d in range(10)],
        splits=splits,
        info={"views": {v: VIEWS[v] for v in views}, "seed": seed},
    )
