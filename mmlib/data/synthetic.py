"""A synthetic audio-visual data set in raw-signal form, with imbalance as a dial.

Each class ``c`` has

* a **sound**: a 1-D waveform made of two class-specific tones (random phase and
  loudness per sample), shown to the model as a log-magnitude spectrogram
  (``torch.stft``), like the audio branch of CREMA-D or Kinetics-Sounds;
* a **picture**: a small grey image holding a class-specific bar (orientation and
  position depend on the class, a random shift per sample).

Knobs make imbalance something a learner can turn:

* ``noise[m]`` — white noise added to modality ``m``'s raw signal, relative to the
  signal's amplitude: the larger, the less informative (and the slower to learn)
  that modality is;
* ``corruption[m]`` — the fraction of samples whose modality ``m`` carries *no*
  class signal at all (pure noise). Corrupted samples are recorded in
  ``info["corrupted"][m]``, so sample-level methods can be checked against them;
* ``n_classes``, ``n_samples`` and ``n_modalities`` (M >= 2: the third modality is a
  second sound, the fourth a second picture, and so on).

The defaults give the course's standard imbalance: a clean, fast-to-learn audio
modality that is corrupted on a quarter of the samples, and a noisier visual
modality that is never corrupted — so the model *needs* the weaker visual modality
to get the corrupted-audio samples right.
"""

from __future__ import annotations

import math
import numbers
from typing import Mapping

import torch
from torch import Tensor

from . import checks
from .dataset import MultimodalDataset, stratified_split

WAVE_LENGTH = 1024
N_FFT = 64
HOP = 32
IMAGE_SIZE = 16

#: Bounds of the size options (the generator holds everything in memory).
MAX_SAMPLES = 1_000_000
MAX_CLASSES = 1_000
MAX_MODALITIES = 16
#: Noise is relative to the signal's amplitude; beyond this no class signal is left to learn.
MAX_NOISE = 1_000.0

DEFAULT_NOISE = {"audio": 1.0, "visual": 1.25}
DEFAULT_CORRUPTION = {"audio": 0.25, "visual": 0.0}


def modality_names(n_modalities: int) -> list[str]:
    """``audio, visual, audio2, visual2, audio3, ...`` for ``n_modalities`` >= 2."""
    if n_modalities < 2:
        raise ValueError(f"n_modalities must be at least 2, got {n_modalities}")
    names = []
    for i in range(n_modalities):
        kind = "audio" if i % 2 == 0 else "visual"
        names.append(kind if i < 2 else f"{kind}{i // 2 + 1}")
    return names


def _kind(name: str) -> str:
    return "audio" if name.startswith("audio") else "visual"


def log_spectrogram(waves: Tensor) -> Tensor:
    """``log(|STFT| + 1e-3)`` of waveforms ``(N, L)`` -> ``(N, 1, n_fft/2+1, frames)``."""
    window = torch.hann_window(N_FFT)
    spec = torch.stft(waves, n_fft=N_FFT, hop_length=HOP, window=window, return_complex=True)
    return torch.log(spec.abs() + 1e-3).unsqueeze(1)


def _class_sounds(labels: Tensor, n_classes: int, generator: torch.Generator) -> Tensor:
    """Two tones per class, spread over the spectrum so classes differ in frequency."""
    n = len(labels)
    t = torch.arange(WAVE_LENGTH, dtype=torch.float32)
    bins = torch.linspace(3, N_FFT // 2 - 3, 2 * n_classes)
    base = bins[labels * 2 % len(bins)]
    second = bins[(labels * 2 + n_classes + 1) % len(bins)]
    phases = 2 * math.pi * torch.rand(n, 2, generator=generator)
    loudness = 0.7 + 0.6 * torch.rand(n, 2, generator=generator)
    tone1 = torch.sin(2 * math.pi * base[:, None] / N_FFT * t + phases[:, :1]) * loudness[:, :1]
    tone2 = torch.sin(2 * math.pi * second[:, None] / N_FFT * t + phases[:, 1:]) * loudness[:, 1:]
    return (tone1 + tone2) / math.sqrt(2)


def _class_pictures(labels: Tensor, n_classes: int, generator: torch.Generator) -> Tensor:
    """A bar whose angle and offset depend on the class, shifted by up to 2 pixels."""
    n = len(labels)
    coords = torch.arange(IMAGE_SIZE, dtype=torch.float32) - (IMAGE_SIZE - 1) / 2
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    angle = math.pi * labels.float() / n_classes
    offset = 2.0 * ((labels % 3).float() - 1.0)
    shift = torch.randint(-2, 3, (n, 2), generator=generator).float()
    x = xx[None] - shift[:, 0, None, None]
    y = yy[None] - shift[:, 1, None, None]
    distance = x * torch.sin(angle)[:, None, None] - y * torch.cos(angle)[:, None, None] - offset[:, None, None]
    return torch.exp(-distance ** 2 / 2.0).unsqueeze(1) * 1.5


def _per_modality(value: float | Mapping[str, float] | None, names: list[str], default: Mapping[str, float],
                  what: str, high: float) -> dict[str, float]:
    """One value per modality, each a finite number in ``[0, high]``."""
    if value is None:
        return {m: default[_kind(m)] for m in names}
    if isinstance(value, Mapping):
        unknown = [m for m in value if m not in names]
        if unknown:
            raise KeyError(f"{what} names unknown modalities {unknown}; valid: {names}")
        values = {m: value.get(m, default[_kind(m)]) for m in names}
        return {m: checks.number(f"{what}[{m!r}]", v, 0.0, high) for m, v in values.items()}
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number in [0, {high:g}] or a mapping modality -> number "
                        f"(modalities {names}), got {value!r} ({type(value).__name__})")
    level = checks.number(what, value, 0.0, high)
    return {m: level for m in names}


def load_synthetic(
    n_samples: int = 1200,
    n_classes: int = 6,
    n_modalities: int = 2,
    noise: float | Mapping[str, float] | None = None,
    corruption: float | Mapping[str, float] | None = None,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> MultimodalDataset:
    """Generate the synthetic audio-visual data set (see the module docstring for the knobs).

    ``noise`` and ``corruption`` take one number for every modality or a mapping
    modality -> value (missing modalities keep the defaults
    ``noise={'audio': 1.0, 'visual': 1.25}``, ``corruption={'audio': 0.25, 'visual': 0.0}``).
    The same ``seed`` gives the same samples and the same splits.

    Every option is checked before anything is generated (the error states the valid
    range): ``n_classes`` in [2, 1000], ``n_samples`` in [n_classes, 1,000,000],
    ``n_modalities`` in [2, 16], noise levels in [0, 1000], corruption rates in [0, 1],
    ``split_fractions`` three numbers in (0, 1) summing to 1, ``seed`` an integer >= 0.
    A class too small to give every split a sample is a :class:`~mmlib.data.DataError`.
    """
    n_classes = checks.integer("n_classes", n_classes, 2, MAX_CLASSES)
    n_samples = checks.integer("n_samples", n_samples, n_classes, MAX_SAMPLES)
    n_modalities = checks.integer("n_modalities", n_modalities, 2, MAX_MODALITIES)
    split_fractions = checks.fractions("split_fractions", split_fractions)
    seed = checks.seed(seed)
    names = modality_names(n_modalities)
    noise_levels = _per_modality(noise, names, DEFAULT_NOISE, "noise", MAX_NOISE)
    corruption_rates = _per_modality(corruption, names, DEFAULT_CORRUPTION, "corruption", 1.0)

    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n_samples) % n_classes
    labels = labels[torch.randperm(n_samples, generator=generator)]
    modalities: dict[str, Tensor] = {}
    corrupted: dict[str, Tensor] = {}
    for m in names:
        make = _class_sounds if _kind(m) == "audio" else _class_pictures
        signal = make(labels, n_classes, generator)
        corrupted[m] = torch.rand(n_samples, generator=generator) < corruption_rates[m]
        signal[corrupted[m]] = 0.0
        raw = signal + noise_levels[m] * torch.randn(signal.shape, generator=generator)
        x = log_spectrogram(raw) if _kind(m) == "audio" else raw
        modalities[m] = (x - x.mean()) / x.std()

    return MultimodalDataset(
        name="synthetic",
        modalities=modalities,
        labels=labels,
        classes=[f"class {c}" for c in range(n_classes)],
        splits=stratified_split(labels, split_fractions, seed),
        info={"noise": noise_levels, "corruption": corruption_rates, "corrupted": corrupted, "seed": seed},
    )
