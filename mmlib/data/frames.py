"""Video frames on disk -> one image tensor per clip (for the real-layout loaders).

A clip's frames are the ``.jpg`` files of one folder (e.g. ``Image-01-FPS/<clip>/``
for CREMA-D, 1 frame per second). We pick ``n_frames`` of them deterministically —
the middle frame of each of ``n_frames`` equal segments, the frame the authors'
loaders use at test time (BalanceBenchmark ``KS_dataset.py``) — resize each to
``size x size`` (bilinear, like ``transforms.Resize((size, size))``) and normalise
with the ImageNet statistics::

    x = (pixel / 255 - mean) / std,  mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225)

The frames of a clip are then combined into one ``C x H x W`` tensor:

* ``"stack"`` — concatenated along channels, ``(3 * n_frames) x size x size``
  (channel ``3k + c`` is colour ``c`` of frame ``k``; the CNN sees their order);
* ``"mean"`` — averaged, ``3 x size x size`` (n_frames times less memory).

Deliberate difference from the authors' code: their training loader draws random
frames and applies RandomResizedCrop + horizontal flip at every step. The course
preloads each clip once as a tensor, so it uses the test-time choice (segment
middles, plain resize) for every split; add augmentation in a method if needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from . import checks
from .checks import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FRAME_MODES = ("stack", "mean")
FRAME_SUFFIXES = (".jpg", ".jpeg")


def natural_key(name: str) -> list:
    """Sort key that compares digit runs as numbers: ``frame_2 < frame_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_frames(folder: Path) -> list[Path]:
    """The ``.jpg`` frames of ``folder`` in natural order (empty if the folder is absent).

    A folder that cannot be listed is a :class:`DataError` naming it.
    """
    if not folder.is_dir():
        return []
    try:
        frames = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
    except OSError as error:
        raise DataError(f"cannot list frame folder {folder}: {checks.describe(error)}") from error
    return sorted(frames, key=lambda p: natural_key(p.name))


def segment_middles(n_available: int, n_frames: int) -> list[int]:
    """Indices of the middle frame of each of ``n_frames`` equal segments of ``n_available``.

    With fewer frames than requested, some frames are used more than once.
    """
    if n_available < 1 or n_frames < 1:
        raise ValueError(f"need at least one frame and n_frames >= 1, got {n_available} and {n_frames}")
    return [int((k + 0.5) * n_available / n_frames) for k in range(n_frames)]


def load_image(path: Path, size: int) -> Tensor:
    """One RGB image as a normalised ``3 x size x size`` float tensor.

    A file that cannot be read or decoded as an image (unreadable, truncated, not an
    image) is a :class:`DataError` naming its path, chained from the decoder's error.
    """
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise DataError(f"cannot read frame {path}: {checks.describe(error)}; expected a JPEG image "
                        f"(replace the file or remove it from its folder)") from error
    x = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def read_frames(folder: Path, n_frames: int, size: int, mode: str = "stack") -> Tensor:
    """``n_frames`` frames of the clip in ``folder``, combined by ``mode`` (``stack`` or ``mean``).

    Raises ``FileNotFoundError`` naming the folder when it is missing or holds no ``.jpg``.
    """
    if mode not in FRAME_MODES:
        raise ValueError(f"unknown frame mode {mode!r}; valid modes: {list(FRAME_MODES)}")
    frames = list_frames(folder)
    if not frames:
        state = "holds no .jpg frames" if folder.is_dir() else "does not exist"
        raise FileNotFoundError(f"frame folder {folder} {state}; expected {folder}/<frame>.jpg files")
    images = [load_image(frames[i], size) for i in segment_middles(len(frames), n_frames)]
    if mode == "mean":
        return torch.stack(images).mean(0)
    return torch.cat(images, dim=0)
