"""Kinetics-Sounds (Arandjelovic & Zisserman, ICCV 2017), read from preprocessed fbanks and frames.

31 action classes of Kinetics whose sound is informative (playing instruments,
tools, animals...), 10-s YouTube clips. OGM-GE (Peng et al., CVPR 2022),
BalanceBenchmark and later papers use it; there is no official download of the
processed files, so the course reads the layout their scripts produce.

Expected layout (``root=`` points at the folder; data/README.md says how to make it)::

    root/
      my_train.txt          one clip per line; OGM-GE: "<clip>,10,<label>" (14,799 lines),
                            or BalanceBenchmark: "<clip> <label>" (space-separated);
                            first field = clip id, last field = class index 0..30
      my_test.txt           same format (OGM-GE: 2,597 lines)
      audio/<clip>.npy      kaldi fbank of the clip, float, 1024 frames x 128 mel bins
                            (OGM-GE data/KineticSound/process_audio.py)
      visual/<clip>/*.jpg   frames at 1 frame per second (e.g. frame_00001.jpg ...; sorted
                            with numbers compared as numbers)

The list-file names can be changed with ``train_list`` / ``test_list``. Copies that keep
train and test in separate folders (BalanceBenchmark's ``train_spec/``, ``test_spec/``,
``*-frames-1fps/``) must be merged (or symlinked) into one ``audio/`` and one
``visual/`` folder; clip ids are unique across the splits.

Audio: the stored fbank is used as is (already normalised by process_audio.py as
``(fbank + 4.503877) / (2 * 5.141276)``), transposed to the course's frequency x time
convention: ``1 x 128 x 1024`` (the authors feed ``1 x 1024 x 128``; only the axis
order differs). Visual: see :mod:`mmlib.data.frames`; ``n_frames=3`` as in
BalanceBenchmark's ``KS_dataset.py``, whose test-time frames (segment middles) are
used for every split.

Splits: **test** = the test list; **train / val** = a seeded stratified cut of the
train list. BalanceBenchmark uses the test set as the validation set
(``validation: false``); here the test set is never used for model selection.

Deliberate differences from the authors' code: no random frame choice or crop/flip
augmentation (data are preloaded once); clips with few frames are kept (frames repeat)
where BalanceBenchmark drops clips with 3 frames or fewer; frames are ordered
numerically, so ``frame_10`` follows ``frame_9``. Class names are not part of the
authors' files, so the classes are named ``"0"`` .. ``"30"``.

Memory: 17,396 clips x 3 stacked 224-px frames is about 31 GB as float32 (plus 9.1 GB
of fbanks); use ``image_size=112``, ``frame_mode="mean"`` or ``max_samples`` for less.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from . import checks
from .checks import DataError
from .dataset import MultimodalDataset
from .frames import FRAME_MODES, read_frames
from .layout import build_real_dataset, check_options, read_list, require_layout

N_CLASSES = 31
ROW_HELP = ("'<clip>,10,<label>' (OGM-GE) or '<clip> <label>' (BalanceBenchmark), "
            f"label an integer 0..{N_CLASSES - 1}, e.g. '--4-0ihtnBU_000058_000068,10,4'")


def layout(train_list: str, test_list: str) -> str:
    """The expected folder layout, for error messages."""
    return f"""  root/
    {train_list:<20} one clip per line: <clip>,10,<label>  or  <clip> <label>  (label 0..{N_CLASSES - 1})
    {test_list:<20} same format
    audio/<clip>.npy     fbank, 1024 frames x 128 mel bins (process_audio.py)
    visual/<clip>/*.jpg  1-fps frames of each clip
  (see data/README.md, section 'CREMA-D and Kinetics-Sounds layouts')"""


def parse_row(line: str) -> tuple[str, int]:
    """``'<clip>,10,4'`` or ``'<clip> 4'`` -> ``('<clip>', 4)``: first field the id, last the label."""
    fields = [f.strip() for f in (line.split(",") if "," in line else line.split())]
    if len(fields) < 2 or not fields[0]:
        raise ValueError(f"found {len(fields)} field(s), need a clip id and a label")
    try:
        label = int(fields[-1])
    except ValueError:
        raise ValueError(f"label {fields[-1]!r} is not an integer; valid labels: 0..{N_CLASSES - 1}") from None
    if not 0 <= label < N_CLASSES:
        raise ValueError(f"label {label} is out of range; valid labels: 0..{N_CLASSES - 1}")
    return fields[0], label


def read_fbank(path: Path) -> Tensor:
    """A stored ``T x F`` fbank as a ``1 x F x T`` float tensor.

    A file that cannot be read or decoded (unreadable, truncated, not a ``.npy``
    array), or whose array is not 2-D, not numeric or not finite, is a
    :class:`DataError` naming its path, chained from the decoder's error.
    """
    if not path.is_file():
        if path.exists():
            raise DataError(f"cannot read fbank file {path}: it is not a regular file (a folder?)")
        raise FileNotFoundError(f"{path} does not exist")
    try:
        fbank = np.load(path)
    except Exception as error:  # numpy raises ValueError, EOFError, OSError, UnpicklingError...
        raise DataError(f"cannot read fbank file {path}: {checks.describe(error)}; expected a .npy array "
                        f"of frames x mel bins (1024 x 128)") from error
    if not isinstance(fbank, np.ndarray):
        fbank_kind = type(fbank).__name__
        if hasattr(fbank, "close"):
            fbank.close()
        raise DataError(f"cannot read fbank file {path}: it holds a {fbank_kind}, not one .npy array; "
                        f"expected frames x mel bins (1024 x 128)")
    if fbank.ndim != 2:
        raise DataError(f"{path} holds an array of shape {fbank.shape}; expected 2-D frames x mel bins (1024 x 128)")
    if not (np.issubdtype(fbank.dtype, np.floating) or np.issubdtype(fbank.dtype, np.integer)):
        raise DataError(f"{path} holds an array of dtype {fbank.dtype}; expected float fbank values")
    if fbank.size == 0:
        raise DataError(f"{path} holds an empty array of shape {fbank.shape}; expected frames x mel bins (1024 x 128)")
    if not np.isfinite(fbank).all():
        raise DataError(f"{path} holds {int((~np.isfinite(fbank)).sum())} non-finite value(s) (NaN or inf)")
    return torch.from_numpy(np.ascontiguousarray(fbank.T, dtype=np.float32)).unsqueeze(0)


def load_kinetics_sounds(
    root: str | Path | None = None,
    n_frames: int = 3,
    frame_mode: str = "stack",
    image_size: int = 224,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_samples: int | None = None,
    skip_missing: bool = False,
    train_list: str = "my_train.txt",
    test_list: str = "my_test.txt",
    progress: bool | None = None,
) -> MultimodalDataset:
    """Load Kinetics-Sounds from ``root`` (layout above) with modalities ``audio`` and ``visual``.

    Args:
        root: the folder holding the two list files, audio/ and visual/.
        n_frames: frames per clip (BalanceBenchmark: 3).
        frame_mode: ``"stack"`` (frames along channels: ``3*n_frames x S x S``) or ``"mean"``.
        image_size: side ``S`` of the resized square frames (authors: 224).
        val_fraction: share of every class of the train list held out as the val split.
        seed: seed of the train/val cut and of ``max_samples``' subset.
        max_samples: read at most this many clips of each list (a seeded random subset).
        skip_missing: drop listed clips whose fbank or frames are missing (else an error).
        train_list, test_list: names of the list files inside ``root``.
        progress: show a progress bar (default: on unless ``MMLIB_PROGRESS=0``).

    Returns:
        ``audio``: ``(N, 1, 128, 1024)`` for the standard fbanks; ``visual``:
        ``(N, 3*n_frames or 3, S, S)``; 31 classes ``"0"``..``"30"``; splits train/val/test.
    """
    n_frames, frame_mode, image_size, val_fraction, seed, max_samples, skip_missing, progress = check_options(
        n_frames, frame_mode, image_size, val_fraction, seed, max_samples, skip_missing, progress, FRAME_MODES)
    train_list = checks.file_name("train_list", train_list)
    test_list = checks.file_name("test_list", test_list)
    if train_list == test_list:
        raise ValueError(f"train_list and test_list both name {train_list!r}; the train and test splits "
                         f"need two different list files")
    entries = {train_list: "file", test_list: "file", "audio": "folder", "visual": "folder"}
    root = require_layout(root, entries, layout(train_list, test_list), "kinetics_sounds")
    readers = {
        "audio": lambda clip: read_fbank(root / "audio" / f"{clip}.npy"),
        "visual": lambda clip: read_frames(root / "visual" / clip, n_frames, image_size, frame_mode),
    }
    return build_real_dataset(
        "kinetics_sounds",
        read_list(root / train_list, parse_row, ROW_HELP, split="train"),
        read_list(root / test_list, parse_row, ROW_HELP, split="test"),
        readers, [str(c) for c in range(N_CLASSES)], val_fraction, seed, max_samples, skip_missing, progress,
        info={"root": str(root), "n_frames": n_frames, "frame_mode": frame_mode, "image_size": image_size,
              "audio": "stored kaldi fbank (process_audio.py), transposed to mel x frames"},
    )
