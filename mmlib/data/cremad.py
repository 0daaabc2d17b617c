"""CREMA-D (Cao et al., IEEE T-AffC 2014), read from the layout of the OGM-GE repository.

7,442 clips of 91 actors speaking with one of six emotions; audio (speech) and
visual (face frames). OGM-GE (Peng et al., CVPR 2022) and most balanced-multimodal
papers after it use this data set: audio dominates, the visual branch under-trains.

Expected layout (``root=`` points at the folder; data/README.md says how to make it)::

    root/
      train.csv                 no header, one clip per line: 1088_IOM_NEU_XX,NEU  (6,698 rows in OGM-GE)
      test.csv                  same format                                          (744 rows)
      AudioWAV/<clip>.wav       the original CREMA-D wav files (16 kHz mono PCM)
      Image-01-FPS/<clip>/*.jpg frames at 1 frame per second (OGM-GE video_preprocessing.py)

Audio, as OGM-GE's ``CramedDataset``: resample to 22,050 Hz, tile (repeat) to 3 s
= 66,150 samples and cut, clip to [-1, 1], then

    S = log(|STFT(x)| + 1e-7),  n_fft 512, hop 353, periodic Hann window, centred (reflect padding)

giving a ``1 x 257 x 188`` (frequency x time) log-spectrogram, not normalised.
Visual: see :mod:`mmlib.data.frames` (``n_frames`` frames at ``image_size`` px,
ImageNet normalisation, stacked along channels or averaged).

Splits: **test** = test.csv; **train / val** = a seeded stratified cut of train.csv
(``val_fraction`` of each class is val). BalanceBenchmark instead uses the test set
as its validation set (``validation: false``), so its reported numbers are best-epoch
test accuracies; here the test set is never used for model selection.

Deliberate differences from OGM-GE's code: resampling with
``scipy.signal.resample_poly`` instead of librosa (slightly different anti-aliasing
filter); a clip shorter than 1 s is tiled until it fills 3 s (OGM-GE tiles exactly
three times); frames are the deterministic segment middles, without the random
crop/flip OGM-GE applies while training (data are preloaded once).

Memory: with the defaults (1 frame, 224 px) the full set takes about 1.4 GB of audio
and 4.5 GB of frames as float32; use ``image_size``, ``frame_mode="mean"`` or
``max_samples`` for less.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.io import wavfile
from scipy.signal import resample_poly
from torch import Tensor

from . import checks
from .checks import DataError
from .dataset import MultimodalDataset
from .frames import FRAME_MODES, read_frames
from .layout import build_real_dataset, check_options, read_list, require_layout

CLASSES = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
SAMPLE_RATE = 22050
MIN_RATE, MAX_RATE = 1000, 384_000  # sample rates a wav file may declare (a corrupt header gives others)
DURATION_S = 3
N_FFT = 512
HOP = 353
ROW_HELP = "'<clip>,<emotion>' with no header, e.g. '1088_IOM_NEU_XX,NEU', emotion one of " + ", ".join(CLASSES)
LAYOUT = """  root/
    train.csv                  no header; one clip per line, e.g. 1088_IOM_NEU_XX,NEU
    test.csv                   same format
    AudioWAV/<clip>.wav        the CREMA-D wav files
    Image-01-FPS/<clip>/*.jpg  1-fps frames of each clip
  (emotions: NEU HAP SAD FEA DIS ANG; see data/README.md, section 'CREMA-D and Kinetics-Sounds layouts')"""
ENTRIES = {"train.csv": "file", "test.csv": "file", "AudioWAV": "folder", "Image-01-FPS": "folder"}


def parse_row(line: str) -> tuple[str, int]:
    """``'1088_IOM_NEU_XX,NEU'`` -> ``('1088_IOM_NEU_XX', 0)``."""
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != 2 or not fields[0]:
        raise ValueError(f"found {len(fields)} comma-separated field(s), need 2")
    if fields[1] not in CLASSES:
        raise ValueError(f"unknown emotion {fields[1]!r}; valid labels: {list(CLASSES)}")
    return fields[0], CLASSES.index(fields[1])


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A wav file as mono float64 samples in [-1, 1] and its sample rate.

    A file that cannot be read or decoded (unreadable, truncated, not a wav, no
    samples, non-finite samples) is a :class:`DataError` naming its path, chained
    from the decoder's error.
    """
    if not path.is_file():
        if path.exists():
            raise DataError(f"cannot read audio file {path}: it is not a regular file (a folder?)")
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with warnings.catch_warnings():
            # a truncated file is read short with only a warning: make it an error
            warnings.filterwarnings("error", message="Reached EOF prematurely", category=wavfile.WavFileWarning)
            rate, samples = wavfile.read(path)
    except Exception as error:  # scipy raises ValueError, EOFError, struct.error, WavFileWarning...
        raise DataError(f"cannot read audio file {path}: {checks.describe(error)}; expected a PCM wav file "
                        f"(replace it or remove its line from the list file)") from error
    if samples.size == 0:
        raise DataError(f"cannot read audio file {path}: it holds no samples")
    if samples.ndim > 2:
        raise DataError(f"cannot read audio file {path}: unexpected array shape {samples.shape}")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise DataError(f"cannot read audio file {path}: its header gives a sample rate of {rate} Hz; expected "
                        f"{MIN_RATE}..{MAX_RATE} Hz (CREMA-D: 16000)")
    if samples.dtype == np.uint8:
        samples = (samples.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(samples.dtype, np.integer):
        samples = samples.astype(np.float64) / float(np.iinfo(samples.dtype).max + 1)
    else:
        samples = samples.astype(np.float64)
        if not np.isfinite(samples).all():
            raise DataError(f"cannot read audio file {path}: it holds non-finite samples (NaN or inf)")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples, int(rate)


def three_seconds(samples: np.ndarray, rate: int) -> Tensor:
    """The waveform resampled to 22,050 Hz, tiled and cut to 3 s, clipped to [-1, 1]: ``(66150,)``."""
    if samples.size == 0:
        raise ValueError("the wav file holds no samples")
    if rate != SAMPLE_RATE:
        common = math.gcd(SAMPLE_RATE, rate)
        samples = resample_poly(samples, SAMPLE_RATE // common, rate // common)
    length = SAMPLE_RATE * DURATION_S
    samples = np.tile(samples, math.ceil(length / len(samples)))[:length]
    return torch.from_numpy(np.clip(samples, -1.0, 1.0).astype(np.float32))


def log_spectrogram(waves: Tensor) -> Tensor:
    """OGM-GE's audio input: ``(N, 66150)`` waveforms -> ``(N, 1, 257, 188)`` log(|STFT| + 1e-7)."""
    spectrum = torch.stft(waves, n_fft=N_FFT, hop_length=HOP, window=torch.hann_window(N_FFT),
                          center=True, pad_mode="reflect", return_complex=True)
    return torch.log(spectrum.abs() + 1e-7).unsqueeze(1)


def load_cremad(
    root: str | Path | None = None,
    n_frames: int = 1,
    frame_mode: str = "stack",
    image_size: int = 224,
    val_fraction: float = 0.1,
    seed: int = 0,
    max_samples: int | None = None,
    skip_missing: bool = False,
    progress: bool | None = None,
) -> MultimodalDataset:
    """Load CREMA-D from ``root`` (OGM-GE layout) with modalities ``audio`` and ``visual``.

    Args:
        root: the folder holding train.csv, test.csv, AudioWAV/, Image-01-FPS/.
        n_frames: frames per clip (OGM-GE's ``--fps``, default 1; BalanceBenchmark uses 2).
        frame_mode: ``"stack"`` (frames along channels: ``3*n_frames x S x S``) or ``"mean"``.
        image_size: side ``S`` of the resized square frames (OGM-GE: 224).
        val_fraction: share of every class of train.csv held out as the val split.
        seed: seed of the train/val cut and of ``max_samples``' subset.
        max_samples: read at most this many clips of each list (a seeded random subset).
        skip_missing: drop listed clips whose wav or frames are missing (else an error).
        progress: show a progress bar (default: on unless ``MMLIB_PROGRESS=0``).

    Returns:
        ``audio``: ``(N, 1, 257, 188)``; ``visual``: ``(N, 3*n_frames or 3, S, S)``; six
        classes ``NEU HAP SAD FEA DIS ANG`` (indices 0..5); splits train/val/test.
    """
    n_frames, frame_mode, image_size, val_fraction, seed, max_samples, skip_missing, progress = check_options(
        n_frames, frame_mode, image_size, val_fraction, seed, max_samples, skip_missing, progress, FRAME_MODES)
    root = require_layout(root, ENTRIES, LAYOUT, "cremad")
    readers = {
        "audio": lambda clip: three_seconds(*read_wav(root / "AudioWAV" / f"{clip}.wav")),
        "visual": lambda clip: read_frames(root / "Image-01-FPS" / clip, n_frames, image_size, frame_mode),
    }
    return build_real_dataset(
        "cremad",
        read_list(root / "train.csv", parse_row, ROW_HELP, split="train"),
        read_list(root / "test.csv", parse_row, ROW_HELP, split="test"),
        readers, list(CLASSES), val_fraction, seed, max_samples, skip_missing, progress,
        info={"root": str(root), "n_frames": n_frames, "frame_mode": frame_mode, "image_size": image_size,
              "audio": f"log(|STFT|+1e-7), {SAMPLE_RATE} Hz, {DURATION_S} s, n_fft {N_FFT}, hop {HOP}"},
        finish={"audio": log_spectrogram},
    )
