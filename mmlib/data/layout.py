"""What the real-layout loaders (CREMA-D, Kinetics-Sounds) share: reading a folder layout.

A real data set here is a root folder holding two list files (the authors' train and
test lists: one clip id and its label per line) and, per clip, one file or folder
for each modality. :func:`build_real_dataset` turns that into a
:class:`MultimodalDataset`:

* **test** = the clips of the test list;
* **train / val** = a seeded, class-stratified cut of the train list
  (``val_fraction`` of every class goes to val). The test list is never used for
  model selection — unlike BalanceBenchmark, whose CREMA-D / Kinetics-Sounds configs
  set ``validation: false`` and then use the test set as the validation set.

Everything is read once and kept as CPU tensors (move them to a GPU yourself).
Missing pieces are errors that name the file and the expected layout; a clip whose
files are missing is an error naming the clip, or is skipped with
``skip_missing=True`` (the skipped ids are in ``info["skipped"]`` and a warning
says how many). A file that exists but cannot be read or decoded (unreadable,
truncated, not a wav / npy / image, wrong shape, non-finite values) is a
:class:`~mmlib.data.DataError` naming its path, never skipped. A split left empty
(an empty list file, every clip skipped, a ``val_fraction`` that rounds to no clip)
is a ``DataError`` naming the split.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from . import checks
from .checks import DataError
from .dataset import MultimodalDataset

#: Bounds of the frame options shared by the real-layout loaders.
MAX_FRAMES = 100
MAX_IMAGE_SIZE = 4096

FINISH_CHUNK = 256


class ListedClip(NamedTuple):
    """One line of a list file: the clip id, its class index, and where it was read."""

    clip: str
    label: int
    source: str


def require_layout(root: str | Path | None, entries: dict[str, str], layout: str, name: str) -> Path:
    """``root`` as a Path, after checking it holds every ``entries`` path (relative name -> kind).

    ``kind`` is ``"file"`` or ``"folder"``. Raises ``FileNotFoundError`` naming what is
    missing, followed by the whole expected ``layout``.
    """
    if root is None:
        raise FileNotFoundError(f"load({name!r}) needs root=<folder with the {name} files>; expected layout:\n{layout}")
    root = checks.root_path("root", root)
    if not root.is_dir():
        raise FileNotFoundError(f"{name} root {root} is not a folder; expected layout:\n{layout}")
    missing = []
    for rel, kind in entries.items():
        present = (root / rel).is_file() if kind == "file" else (root / rel).is_dir()
        if not present:
            missing.append(f"{rel} ({kind})")
    if missing:
        raise FileNotFoundError(f"{name} root {root} lacks {', '.join(missing)}; expected layout:\n{layout}")
    return root


def read_list(path: Path, parse: Callable[[str], tuple[str, int]], row_help: str,
              split: str | None = None) -> list[ListedClip]:
    """The clips of a list file; ``parse`` turns one non-blank line into ``(clip, label)``.

    A line ``parse`` rejects (``ValueError``) is reported with its file, line number
    and ``row_help`` (what a good line looks like); a clip listed twice, an empty list
    (naming ``split``, the split it feeds) or a file that cannot be read is a
    :class:`DataError` naming the file.
    """
    clips = []
    seen: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8-sig") as handle:
            lines = list(handle)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read list file {path}: {checks.describe(error)}; expected a text file with "
                        f"one clip per line: {row_help}") from error
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            clip, label = parse(line.strip())
        except ValueError as error:
            raise DataError(f"{path} line {number} ({line.strip()!r}): {error}; "
                            f"expected {row_help}") from None
        if clip in seen:
            raise DataError(f"{path} lists clip {clip!r} twice (lines {seen[clip]} and {number}); "
                            f"remove one of the lines")
        seen[clip] = number
        clips.append(ListedClip(clip, label, f"{path.name} line {number}"))
    if not clips:
        feeds = f", so the {split} split would be empty" if split else ""
        raise DataError(f"{path} lists no clips{feeds}; expected one clip per line: {row_help}")
    return clips


def subsample(clips: list[ListedClip], max_samples: int | None, seed: int) -> list[ListedClip]:
    """At most ``max_samples`` of ``clips``: a seeded random subset, kept in file order."""
    if max_samples is None or max_samples >= len(clips):
        return clips
    if max_samples < 1:
        raise ValueError(f"max_samples must be a positive number or None, got {max_samples}")
    keep = torch.randperm(len(clips), generator=torch.Generator().manual_seed(seed))[:max_samples]
    return [clips[i] for i in sorted(keep.tolist())]


def holdout_split(labels: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (train, val): ``round(fraction * n_c)`` random samples of every class c go to val.

    A class keeps at least one training sample whenever it has one.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = min(int(round(fraction * len(members))), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.sort(torch.cat(train)).values, torch.sort(torch.cat(val)).values


def require_val(name: str, train_labels: Tensor, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """:func:`holdout_split` of the train clips, or a :class:`DataError` naming the val split if it is empty."""
    train, val = holdout_split(train_labels, val_fraction, seed)
    if len(val) == 0:
        raise DataError(f"{name}: the val split is empty: val_fraction={val_fraction} of each class of the "
                        f"{len(train_labels)} train clip(s) rounds to 0 clips; raise val_fraction or max_samples")
    return train, val


def load_clips(clips: list[ListedClip], readers: dict[str, Callable[[str], Tensor]], skip_missing: bool,
               progress: bool | None, desc: str) -> tuple[dict[str, list[Tensor]], list[ListedClip], list[str]]:
    """Read every modality of every clip: (modality -> tensors, clips kept, clip ids skipped)."""
    data: dict[str, list[Tensor]] = {m: [] for m in readers}
    kept, skipped = [], []
    quiet = os.environ.get("MMLIB_PROGRESS", "1") == "0" if progress is None else not progress
    for item in tqdm(clips, desc=desc, leave=False, disable=quiet):
        try:
            sample = {m: read(item.clip) for m, read in readers.items()}
        except FileNotFoundError as error:
            if not skip_missing:
                raise FileNotFoundError(f"clip {item.clip!r} ({item.source}) is missing a file: {error}. "
                                        f"Restore it, remove the line, or pass skip_missing=True") from None
            skipped.append(item.clip)
            continue
        for m, tensor in sample.items():
            if data[m] and tensor.shape != data[m][0].shape:
                raise DataError(f"clip {item.clip!r} ({item.source}) gives {m} of shape {tuple(tensor.shape)}, "
                                f"but earlier clips give {tuple(data[m][0].shape)}")
            data[m].append(tensor)
        kept.append(item)
    return data, kept, skipped


def build_real_dataset(
    name: str,
    train_clips: list[ListedClip],
    test_clips: list[ListedClip],
    readers: dict[str, Callable[[str], Tensor]],
    classes: list[str],
    val_fraction: float,
    seed: int,
    max_samples: int | None,
    skip_missing: bool,
    progress: bool | None,
    info: dict,
    finish: dict[str, Callable[[Tensor], Tensor]] | None = None,
) -> MultimodalDataset:
    """Read the listed clips and make the train / val / test :class:`MultimodalDataset`.

    ``finish[m]``, if given, turns a batch of modality ``m`` as read (e.g. waveforms)
    into the model's input (e.g. spectrograms); it runs on chunks of
    ``FINISH_CHUNK`` clips, since one batched tensor operation is far faster than
    thousands of tiny ones.
    """
    overlap = sorted({c.clip for c in train_clips} & {c.clip for c in test_clips})
    if overlap:
        raise DataError(f"{len(overlap)} clip(s) are in both the train and the test list, e.g. {overlap[:3]}; "
                        f"the train/val and test splits must not overlap")
    train_clips = subsample(train_clips, max_samples, seed)
    test_clips = subsample(test_clips, max_samples, seed)
    # fail before reading thousands of clips when the val cut would be empty anyway
    require_val(name, torch.tensor([c.label for c in train_clips], dtype=torch.long), val_fraction, seed)
    train_data, train_kept, train_skipped = load_clips(train_clips, readers, skip_missing, progress, f"{name} train")
    test_data, test_kept, test_skipped = load_clips(test_clips, readers, skip_missing, progress, f"{name} test")
    skipped = train_skipped + test_skipped
    if skipped:
        warnings.warn(f"{name}: skipped {len(skipped)} listed clip(s) with missing files "
                      f"(ids in info['skipped'])", stacklevel=3)
    for split, listed, kept in (("train", train_clips, train_kept), ("test", test_clips, test_kept)):
        if not kept:
            raise DataError(f"{name}: the {split} split is empty: none of the {len(listed)} clip(s) of the "
                            f"{split} list could be read (all skipped as missing)")
    modalities = {m: torch.stack(train_data[m] + test_data[m]) for m in readers}
    for m, transform in (finish or {}).items():
        modalities[m] = torch.cat([transform(chunk) for chunk in modalities[m].split(FINISH_CHUNK)])
    labels = torch.tensor([c.label for c in train_kept + test_kept], dtype=torch.long)
    train, val = require_val(name, labels[:len(train_kept)], val_fraction, seed)
    test = torch.arange(len(train_kept), len(labels))
    return MultimodalDataset(
        name=name,
        modalities=modalities,
        labels=labels,
        classes=list(classes),
        splits={"train": train, "val": val, "test": test},
        info={**info, "clips": [c.clip for c in train_kept + test_kept], "skipped": skipped,
              "val_fraction": val_fraction, "seed": seed, "max_samples": max_samples},
    )


def check_options(n_frames: object, frame_mode: object, image_size: object, val_fraction: object, seed: object,
                  max_samples: object, skip_missing: object, progress: object, frame_modes: tuple[str, ...],
                  ) -> tuple[int, str, int, float, int, int | None, bool, bool | None]:
    """The options the real-layout loaders share, checked (the errors state the valid ranges)."""
    n_frames = checks.integer("n_frames", n_frames, 1, MAX_FRAMES)
    image_size = checks.integer("image_size", image_size, 1, MAX_IMAGE_SIZE)
    if frame_mode not in frame_modes:
        raise ValueError(f"unknown frame_mode {frame_mode!r}; valid modes: {list(frame_modes)}")
    val_fraction = checks.number("val_fraction", val_fraction, 0.0, 1.0, low_open=True, high_open=True)
    seed = checks.seed(seed)
    if max_samples is not None:
        max_samples = checks.integer("max_samples", max_samples, 1)
    skip_missing = checks.flag("skip_missing", skip_missing)
    progress = checks.flag("progress", progress, allow_none=True)
    return n_frames, str(frame_mode), image_size, val_fraction, seed, max_samples, skip_missing, progress
