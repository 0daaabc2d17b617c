"""The one data container of the course: named modalities, labels, seeded splits.

Small data sets live in memory as tensors, so a training epoch is a loop over
index slices: no DataLoader, no worker processes, no per-sample Python.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import torch
from torch import Tensor

from . import checks
from .checks import DataError

SPLITS = ("train", "val", "test")
#: Elements per chunk when checking that features are finite (bounds the temporary mask).
FINITE_CHUNK = 1 << 24


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
    test; each in (0, 1), summing to 1), so each split keeps the class proportions.
    A class too small to give every split at least one sample is a :class:`DataError`
    naming the class (its label index) and the split left without it.
    """
    fractions = checks.fractions("fractions", fractions)
    seed = checks.seed(seed)
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {name: [] for name in SPLITS}
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_train = int(round(fractions[0] * len(members)))
        n_val = int(round(fractions[1] * len(members)))
        chunks = {"train": members[:n_train], "val": members[n_train:n_train + n_val],
                  "test": members[n_train + n_val:]}
        for name, chunk in chunks.items():
            if len(chunk) == 0:
                n = len(members)
                raise DataError(
                    f"class {int(c)} has {n} sample(s), too few to populate every split with fractions "
                    f"{fractions}: its {name} split would get none (train round({fractions[0]:g} x {n}) = "
                    f"{n_train}, val round({fractions[1]:g} x {n}) = {n_val}, test the remaining "
                    f"{max(n - n_train - n_val, 0)}); use more samples per class or a larger {name} fraction")
            parts[name].append(chunk)
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
        self._check_labels()
        self._check_modalities()
        self._check_splits()

    def _where(self) -> str:
        return f"data set {self.name!r}"

    def _check_labels(self) -> None:
        if not isinstance(self.labels, Tensor) or self.labels.ndim != 1 or self.labels.is_floating_point() \
                or self.labels.is_complex() or self.labels.dtype == torch.bool:
            raise DataError(f"{self._where()}: labels must be a 1-D integer tensor of class indices, got "
                            f"{_describe_tensor(self.labels)}")
        if len(self.classes) == 0:
            raise DataError(f"{self._where()}: classes is empty; give the class names, index-aligned with the labels")
        if len(self.labels) == 0:
            raise DataError(f"{self._where()}: there are no samples (labels is empty)")
        low, high = int(self.labels.min()), int(self.labels.max())
        if low < 0 or high >= len(self.classes):
            bad = self.labels[(self.labels < 0) | (self.labels >= len(self.classes))]
            raise DataError(f"{self._where()}: {len(bad)} label(s) out of range, e.g. {bad[:3].tolist()}; valid "
                            f"labels: 0..{len(self.classes) - 1} ({len(self.classes)} classes)")

    def _check_modalities(self) -> None:
        if not self.modalities:
            raise DataError(f"{self._where()}: no modalities; a data set needs at least one")
        n = int(self.labels.shape[0])
        for m, tensor in self.modalities.items():
            if not isinstance(tensor, Tensor) or tensor.ndim == 0:
                raise DataError(f"{self._where()}: modality {m!r} must be a tensor whose first axis is the "
                                f"sample, got {_describe_tensor(tensor)}")
            if tensor.shape[0] != n:
                raise DataError(f"{self._where()}: modality {m!r} has {tensor.shape[0]} samples, labels have {n}")
            if tensor.is_floating_point() or tensor.is_complex():
                flat = tensor.reshape(-1)
                for start in range(0, flat.numel(), FINITE_CHUNK):
                    chunk = flat[start:start + FINITE_CHUNK]
                    if not bool(torch.isfinite(chunk).all()):
                        per_sample = tensor.reshape(n, -1)
                        bad = [i for i in range(n) if not bool(torch.isfinite(per_sample[i]).all())]
                        raise DataError(f"{self._where()}: modality {m!r} holds non-finite values (NaN or inf) "
                                        f"in {len(bad)} sample(s), e.g. sample(s) {bad[:3]}")

    def _check_splits(self) -> None:
        missing = [s for s in SPLITS if s not in self.splits]
        if missing:
            raise DataError(f"{self._where()}: splits {missing} are missing; a data set needs {list(SPLITS)}")
        n = int(self.labels.shape[0])
        for split, index in self.splits.items():
            if not isinstance(index, Tensor) or index.ndim != 1 or index.is_floating_point() \
                    or index.is_complex() or index.dtype == torch.bool:
                raise DataError(f"{self._where()}: split {split!r} must be a 1-D integer tensor of sample "
                                f"indices, got {_describe_tensor(index)}")
            if len(index) == 0:
                raise DataError(f"{self._where()}: split {split!r} is empty (0 samples); every split needs at "
                                f"least one sample")
            low, high = int(index.min()), int(index.max())
            if low < 0 or high >= n:
                raise DataError(f"{self._where()}: split {split!r} indexes sample {low if low < 0 else high}, "
                                f"out of range; valid indices: 0..{n - 1}")
            repeated = len(index) - len(torch.unique(index))
            if repeated:
                raise DataError(f"{self._where()}: split {split!r} lists {repeated} sample(s) more than once")
        for i, first in enumerate(SPLITS):
            for second in SPLITS[i + 1:]:
                shared = self.splits[first][torch.isin(self.splits[first], self.splits[second])]
                if len(shared):
                    raise DataError(f"{self._where()}: splits {first!r} and {second!r} overlap in "
                                    f"{len(shared)} sample(s), e.g. {shared[:3].tolist()}; splits must be disjoint")

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
        batch_size = checks.integer("batch_size", batch_size, 1)
        idx = self._check_split(split) if index is None else index
        if shuffle:
            idx = idx[torch.randperm(len(idx), generator=generator)]
        for start in range(0, len(idx), batch_size):
            yield self.batch(idx[start:start + batch_size])

    def to(self, device: str | torch.device) -> "MultimodalDataset":
        """The same data set with its modalities and labels on ``device`` (itself if they are there already).

        The splits stay on the CPU: they are sample indices, and the batch order drawn
        from them (a CPU generator) is then the same on every device.
        """
        device = torch.device(device)
        tensors = [*self.modalities.values(), self.labels]
        if all(t.device == device for t in tensors):
            return self
        moved = copy.copy(self)  # already checked: no __post_init__ again
        moved.modalities = {m: t.to(device) for m, t in self.modalities.items()}
        moved.labels = self.labels.to(device)
        moved.info = dict(self.info)
        return moved

    def select(self, modalities: list[str] | tuple[str, ...]) -> "MultimodalDataset":
        """The same samples restricted to some modalities (in the given order)."""
        if isinstance(modalities, str) or not isinstance(modalities, (list, tuple)) or not modalities:
            raise TypeError(f"modalities must be a non-empty list of modality names from {self.modality_names}, "
                            f"got {modalities!r}")
        repeated = sorted({m for m in modalities if list(modalities).count(m) > 1})
        if repeated:
            raise ValueError(f"modalities {repeated} are listed more than once; valid: {self.modality_names}")
        unknown = [m for m in modalities if m not in self.modalities]
        if unknown:
            raise KeyError(f"unknown modalities {unknown}; valid: {self.modality_names}")
        return MultimodalDataset(self.name, {m: self.modalities[m] for m in modalities}, self.labels,
                                 self.classes, self.splits, dict(self.info))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{m}: {tuple(s)}" for m, s in self.input_shapes.items())
        sizes = ", ".join(f"{s}={len(i)}" for s, i in self.splits.items())
        return f"MultimodalDataset({self.name!r}, {self.n_classes} classes, {{{shapes}}}, {sizes})"


def _describe_tensor(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"{type(value).__name__}"
