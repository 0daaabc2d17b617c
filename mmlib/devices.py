"""Where a run trains: choosing and checking a torch device.

``device=None`` everywhere in the library means :func:`default_device`: the device named by
the environment variable ``MMLIB_DEVICE`` (e.g. ``cuda:1``, set per worker on a cluster),
else CUDA when this process sees a GPU, else the CPU. A device that cannot be used here
(``cuda`` without a GPU, ``cuda:3`` with two) is a ``ValueError`` that says what is available.

Reproducibility: models are initialised on the CPU under the run's seed and then moved, and
the batch order is drawn from a CPU generator, so a run starts from the same weights and sees
the same batches on every device; CPU results are bit-identical to training without a device.
GPU kernels round differently, so a run on a GPU agrees with the CPU only to float precision.
"""

from __future__ import annotations

import os

import torch

__all__ = ["ENV", "default_device", "describe", "model_device", "resolve_device"]

#: The environment variable that names a process's device (a worker's GPU: ``cuda:N``).
ENV = "MMLIB_DEVICE"


def _available() -> str:
    if torch.cuda.is_available():
        return f"cpu, cuda:0..cuda:{torch.cuda.device_count() - 1}"
    return "cpu (no CUDA device is visible to this process" + (
        ")" if torch.version.cuda else f"; this torch {torch.__version__} is built without CUDA)")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a usable :class:`torch.device` (``None``: :func:`default_device`).

    Raises ``TypeError`` for a value that is not a device, ``ValueError`` for an unknown
    device name or one this process cannot use, naming what is available.
    """
    if device is None:
        return default_device()
    if not isinstance(device, (str, torch.device)) or isinstance(device, bool):
        raise TypeError(f"device must be None, a string such as 'cpu' or 'cuda:0', or a torch.device; "
                        f"got {device!r} ({type(device).__name__})")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; valid: 'cpu', 'cuda', 'cuda:N' (available here: "
                         f"{_available()})") from None
    if resolved.type == "cpu":
        return torch.device("cpu")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r}: CUDA is not available; available here: {_available()}. "
                             "Use device='cpu', or run on a machine (or cluster worker) with a GPU")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: this process sees {torch.cuda.device_count()} CUDA "
                             f"device(s); available here: {_available()}")
        return resolved
    raise ValueError(f"device {str(device)!r}: the course trains on 'cpu' or 'cuda[:N]' only "
                     f"(available here: {_available()})")


def default_device() -> torch.device:
    """``$MMLIB_DEVICE`` if set, else ``cuda`` when a GPU is visible, else ``cpu``."""
    named = os.environ.get(ENV, "").strip()
    if named:
        try:
            return resolve_device(named)
        except ValueError as error:
            raise ValueError(f"{ENV}={named!r}: {error}") from None
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def describe(device: torch.device) -> str:
    """The device as a run's record states it: ``cpu`` or ``cuda:N (GPU name)``."""
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter or buffer (the CPU for a model without any)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")
