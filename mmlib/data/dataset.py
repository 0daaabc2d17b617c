"""The one data container of the course: named modalities, labels, seeded splits.

Small data sets live in memory as tensors, so a training epoch is a loop over
index slices: no DataLoader, no worker processes, no per-sample Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Mapping

import torch
from torch import Tensor

SPLITS = ("train", "val", "test")


@dataclass
class Batch:
    """A minibatch: one tensor per modality, the labels, and the samples' indices.

    ``index`` holds the positions of the samples in the full data set, so a method
    that keeps per-sample state (e.g. Shapley contributions) can find them again.
    """

    x: dict[str, Tensor]
    y: Tensor
    index: Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def with_modalities(self, x: Mapping[str, Tensor]) -> "Batch":
        """A copy of the batch whose inputs are replaced by ``x`` (labels kept)."""
        return Batch(dict(x), self.y, self.index)


def stratified_split(labels: Tensor, fractions: tuple[float, float, float], seed: int) -> dict[str, Tensor]:
    """Split sample indices into train / val / test, class by class, reproducibly.

    Every class is shuffled with ``seed`` and cut by ``fractions`` (train, val,
    test; they must sum to 1), so each split keeps the class proportions.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {name: [] for name in SPLITS}
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_train = int(round(fractions[0] * len(members)))
        n_val = int(round(fractions[1] * len(members)))
        parts["train"].append(members[:n_train])
        parts["val"].append(members[n_train:n_train + n_val])
        parts["test"].append(members[n_train + n_val:])
    return {name: torch.sort(torch.cat(chunks)).values for name, chunks in parts.items()}


@dataclass
class MultimodalDataset:
    """Named modalities (each a tensor whose first axis is the sample), labels and splits.

    Attributes:
        name: the loader's name (``synthetic``, ``mfeat``, ...).
        modalities: modality name -> tensor ``(N, ...)``; the order is the fusion order.
        labels: ``(N,)`` long tensor of class indices.
        classes: the class names, index-aligned with the labels.
        splits: ``train`` / ``val`` / ``test`` -> indices into the N samples.
        info: anything a loader wants to record (knobs, provenance).
    """

    name: str
    modalities: dict[str, Tensor]
    labels: Tensor
    classes: list[str]
    splits: dict[str, Tensor]
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = int(self.labels.shape[0])
        for m, tensor in self.modalities.items():
            if tensor.shape[0] != n:
                raise ValueError(f"modality {m!r} has {tensor.shape[0]} samples, labels have {n}")
        missing = [s for s in SPLITS if s not in self.splits]
        if missing:
            raise ValueError(f"splits {missing} are missing; a data set needs {list(SPLITS)}")

    @property
    def modality_names(self) -> list[str]:
        return list(self.modalities)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of one sample of each modality (without the batch axis)."""
        return {m: tuple(t.shape[1:]) for m, t in self.modalities.items()}

    def _check_split(self, split: str) -> Tensor:
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; valid splits: {sorted(self.splits)}")
        return self.splits[split]

    def batch(self, index: Tensor) -> Batch:
        """The samples at ``index`` as one :class:`Batch`."""
        return Batch({m: t[index] for m, t in self.modalities.items()}, self.labels[index], index)

    def split(self, split: str) -> Batch:
        """The whole split as one batch."""
        return self.batch(self._check_split(split))

    def batches(
        self,
        split: str = "train",
        batch_size: int = 64,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        index: Tensor | None = None,
    ) -> Iterator[Batch]:
        """Minibatches of a split (or of the explicit sample ``index``), optionally shuffled."""
        idx = self._check_split(split) if index is None else index
        if shuffle:
            idx = idx[torch.randperm(len(idx), generator=generator)]
        for start in range(0, len(idx), batch_size):
            yield self.batch(idx[start:start + batch_size])

    def select(self, modalities: list[str] | tuple[str, ...]) -> "MultimodalDataset":
        """The same samples restricted to some modalities (in the given order)."""
        unknown = [m for m in modalities if m not in self.modalities]
        if unknown:
            raise KeyError(f"unknown modalities {unknown}; valid: {self.modality_names}")
        return MultimodalDataset(self.name, {m: self.modalities[m] for m in modalities}, self.labels,
                                 self.classes, self.splits, dict(self.info))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{m}: {tuple(s)}" for m, s in self.input_shapes.items())
        sizes = ", ".join(f"{s}={len(i)}" for s, i in self.splits.items())
        return f"MultimodalDataset({self.name!r}, {self.n_classes} classes, {{{shapes}}}, {sizes})"
