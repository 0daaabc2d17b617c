"""The one training loop of the course, its state, its history, seeding.

``fit(model, data, method)`` runs, per epoch::

    method.on_epoch_start(state)
    for batch in method.sample(state):            # data input
        output, loss = method.step(state, batch)  # forward -> loss -> backward -> after_backward -> optimizer.step
    method.on_epoch_end(model, state)             # e.g. re-initialisation, prototypes

then evaluates the model on the validation and test splits. Model selection uses
the validation split only: at the end the weights of the best validation epoch are
restored (``select="val"``), never chosen on the test split.
"""

from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from .data import MultimodalDataset
from .metrics import evaluate
from .methods import Method, get
from .models import MultimodalModel, build_model

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
    "adam": lambda params, lr, weight_decay: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
    "adamw": lambda params, lr, weight_decay: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
}


class DivergedError(FloatingPointError):
    """A training run whose loss stopped being finite (NaN or inf).

    :func:`fit` raises it at the first non-finite loss (``on_nonfinite="raise"``, the
    default), naming the method, the epoch and the step; with ``on_nonfinite="record"``
    it stops the run and returns a :class:`History` whose ``status`` is ``"diverged"``
    and whose ``diverged`` holds the same three facts. The benchmark records such runs
    with ``status == "diverged"`` and leaves them out of every mean and frontier.
    """

    def __init__(self, method: str, epoch: int, step: int, loss: float) -> None:
        self.method, self.epoch, self.step, self.loss = method, epoch, step, loss
        super().__init__(f"method {method!r} diverged: the training loss became {loss} at epoch {epoch}, "
                         f"step {step} (lower the learning rate or the method's step-size hyperparameters)")

    def __reduce__(self):  # picklable across benchmark worker processes
        return (type(self), (self.method, self.epoch, self.step, self.loss))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw tqdm bars: ``progress`` if given, else off when ``MMLIB_PROGRESS=0``."""
    if progress is not None:
        return progress
    return os.environ.get("MMLIB_PROGRESS", "1") != "0"


@dataclass
class TrainState:
    """Everything a method may look at or change while training."""

    model: MultimodalModel
    data: MultimodalDataset
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    epochs: int
    batch_size: int
    epoch: int = 0
    step: int = 0
    logs: dict[str, list] = field(default_factory=dict)


@dataclass
class History:
    """Per-epoch records of a run, and the final scores of the selected model.

    ``records[e]`` holds, for epoch ``e``: ``loss`` (mean training loss),
    ``train_acc`` / ``train_acc_<m>`` (running accuracy over the epoch's batches),
    ``val_*`` and ``test_*`` (fused and per-modality accuracy, loss), and every
    value the method logged (its mean over the epoch). ``final`` holds the
    selected model's ``val_*`` and ``test_*`` scores; ``best_epoch`` is the epoch
    it comes from.
    """

    records: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    seconds: float = 0.0
    method: str = "baseline"

    def __getitem__(self, key: str) -> list[float]:
        if not self.records or key not in self.records[-1]:
            available = sorted(self.records[-1]) if self.records else []
            raise KeyError(f"no {key!r} in this history; available: {available}")
        return [record.get(key, float("nan")) for record in self.records]

    def keys(self) -> list[str]:
        return sorted({k for record in self.records for k in record})

    def frame(self) -> pd.DataFrame:
        """The per-epoch records as a table, one row per epoch."""
        return pd.DataFrame(self.records).set_index("epoch")


def _epoch_mean(values: list) -> float:
    return float(torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in values]).mean())


def train_epoch(method: Method, state: TrainState, epoch: int) -> dict[str, float]:
    """One epoch through the method's hooks (no evaluation): the mean training loss and
    the running train accuracies (fused and per modality) over the epoch's batches.

    ``on_epoch_start`` -> ``sample`` -> ``step`` per batch -> ``on_epoch_end``; ``fit``
    calls this once per epoch, and the speed benchmarks time it directly.
    """
    state.epoch, state.logs = epoch, {}
    method.on_epoch_start(state)
    losses, sizes, predictions, labels, output = [], [], [], [], None
    for batch in method.sample(state):
        output, loss = method.step(state, batch)
        state.step += 1
        with torch.no_grad():  # keep per-step work to a few ops; reduce once at the end
            losses.append(loss.detach())
            predictions.append(torch.stack([output.fused, *output.logits.values()]).argmax(2))
        sizes.append(len(batch))
        labels.append(batch.y)
    method.on_epoch_end(state.model, state)
    if not losses:
        return {"loss": 0.0}
    n_seen = sum(sizes)
    result = {"loss": (torch.stack(losses) @ torch.tensor(sizes, dtype=torch.float32)).item() / n_seen}
    correct = (torch.cat(predictions, dim=1) == torch.cat(labels)).sum(1)
    keys = ["train_acc"] + [f"train_acc_{m}" for m in output.logits]
    result.update({k: v.item() / n_seen for k, v in zip(keys, correct)})
    return result


def fit(
    model: MultimodalModel,
    data: MultimodalDataset,
    method: Method | str | None = None,
    *,
    epochs: int = 20,
    lr: float = 0.05,
    batch_size: int = 64,
    optimizer: str = "sgd",
    weight_decay: float = 1e-4,
    seed: int = 0,
    eval_splits: Sequence[str] = ("val", "test"),
    select: str = "val",
    progress: bool | None = None,
    callback: Callable[[TrainState], None] | None = None,
) -> History:
    """Train ``model`` on ``data`` with ``method`` (default: plain joint training).

    Args:
        epochs, lr, batch_size, weight_decay: the usual; ``optimizer`` is one of
            ``sgd`` (momentum 0.9), ``adam``, ``adamw``.
        seed: seeds the batch order and the method's randomness (build the model
            under a seed yourself, or use :func:`run`).
        eval_splits: splits evaluated after every epoch (``val`` is needed to select).
        select: ``"val"`` restores the weights of the best validation epoch at the
            end; ``"last"`` keeps the last epoch's.
        progress: draw a tqdm bar (default: on unless ``MMLIB_PROGRESS=0``).
        callback: called with the state after every epoch (e.g. to record extra numbers).
    """
    method = get(method) if isinstance(method, str) else (method or get("baseline"))
    if optimizer not in OPTIMIZERS:
        raise KeyError(f"unknown optimizer {optimizer!r}; valid: {sorted(OPTIMIZERS)}")
    if select not in ("val", "last"):
        raise ValueError(f"select must be 'val' or 'last', got {select!r}")
    if select == "val" and "val" not in eval_splits:
        raise ValueError("select='val' needs 'val' in eval_splits")
    generator = seed_everything(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    state = TrainState(model, data, OPTIMIZERS[optimizer](params, lr, weight_decay), generator, epochs, batch_size)
    history = History(method=method.name)
    method.setup(state)
    best_score, best_weights = -1.0, None
    started = time.perf_counter()
    model.train()
    bar = tqdm(range(epochs), desc=method.name, leave=False, disable=not progress_enabled(progress))
    for epoch in bar:
        record = {"epoch": epoch, **train_epoch(method, state, epoch)}
        for split in eval_splits:
            record.update({f"{split}_{k}": v for k, v in evaluate(model, data, split, method).items()})
        record.update({k: _epoch_mean(v) for k, v in state.logs.items()})
        history.records.append(record)
        if select == "val" and record["val_acc"] > best_score:
            best_score, history.best_epoch = record["val_acc"], epoch
            best_weights = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{record['loss']:.3f}", val=f"{record.get('val_acc', float('nan')):.3f}")
        if callback is not None:
            callback(state)
    if select == "val" and best_weights is not None:
        model.load_state_dict(best_weights)
    else:
        history.best_epoch = epochs - 1
    for split in eval_splits:
        history.final.update({f"{split}_{k}": v for k, v in evaluate(model, data, split, method).items()})
    history.seconds = time.perf_counter() - started
    return history


@dataclass
class Run:
    """A trained model, its history and the method that trained it."""

    model: MultimodalModel
    history: History
    method: Method


def run(
    data: MultimodalDataset,
    method: str | Method = "baseline",
    *,
    seed: int = 0,
    fusion: str = "concat",
    feature_dim: int = 32,
    modalities: list[str] | None = None,
    method_kw: dict[str, Any] | None = None,
    **fit_kw: Any,
) -> Run:
    """Seed, build a fresh model for ``data``, build the method, and :func:`fit` it.

    ``method_kw`` are the method's hyperparameters (when ``method`` is a name);
    ``fit_kw`` go to :func:`fit` (epochs, lr, optimizer, ...).
    """
    seed_everything(seed)
    model = build_model(data, fusion=fusion, feature_dim=feature_dim, modalities=modalities)
    method = get(method, **(method_kw or {})) if isinstance(method, str) else method
    history = fit(model, data if modalities is None else data.select(modalities), method, seed=seed, **fit_kw)
    return Run(model, history, method)


def train_unimodal(data: MultimodalDataset, modality: str, **run_kw: Any) -> Run:
    """Train a model on one modality alone (the unimodal reference of chapter 2)."""
    return run(data, "baseline", modalities=[modality], **run_kw)
