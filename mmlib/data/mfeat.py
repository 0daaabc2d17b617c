"""UCI Multiple Features (mfeat): six real views of 2,000 handwritten digits.

The files ship with the course in ``data/mfeat/`` with their provenance
(``PROVENANCE.md``: UCI, CC BY 4.0, van Breukelen et al. 1998). The views differ
strongly in strength — a real source of modality imbalance with no download.
Each file's SHA-256 is checked against ``PROVENANCE.md`` before it is read.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import torch

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
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if checksums.get(path.name) != digest:
        raise ValueError(f"{path} has SHA-256 {digest}, but PROVENANCE.md records "
                         f"{checksums.get(path.name, 'no checksum')}: the file was altered or replaced; "
                         f"restore it from the course repository")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", skiprows=1, dtype=np.float64)
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
    views = tuple(views)
    unknown = [v for v in views if v not in VIEWS]
    if unknown or len(views) == 0:
        raise KeyError(f"unknown mfeat views {unknown or '(none given)'}; valid views: {list(VIEWS)}")
    root = Path(root) if root is not None else DEFAULT_ROOT
    checksums = expected_checksums(root)
    features, labels = {}, None
    for view in views:
        x, y = read_view(root, view, checksums)
        if labels is not None and not np.array_equal(labels, y):
            raise ValueError(f"mfeat-{view} rows are not aligned with the other views")
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
