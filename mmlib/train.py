"""The one training loop of the course, its state, its history, seeding.

``fit(model, data, method)`` sets up (:meth:`TrainState.start`)::

    method.configure_model(model, data)                      # before any optimizer exists
    optimizers = method.configure_optimizers(model, make_optimizer)
    method.setup(state)

and runs, per epoch (:func:`train_epoch`)::

    method.on_epoch_start(state)
    for batch in method.sample(state):                        # data input
        optimizer = method.optimizer_for(state, batch)
        output, loss = method.step(state, batch, optimizer)   # forward, loss, backward, after_backward, step
    method.on_epoch_end(state)                                # e.g. re-initialisation, prototypes

then evaluates the model on the validation and test splits. Model selection uses
the validation split only: at the end the weights of the best validation epoch are
restored (``select="val"``), never chosen on the test split. A non-finite training
loss stops the run at once (:class:`DivergedError`, or a history marked ``diverged``).
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .data import MultimodalDataset
from .devices import resolve_device
from .metrics import evaluate
from .methods import Method, get
from .models import ENCODERS, FUSIONS, MultimodalModel, build_model
from .validation import Choice, Flag, Integer, Number, OrNone

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
    """Everything a method may look at or change while training.

    ``optimizer`` is the run's (first) optimizer, ``optimizers`` all of them (as the
    method's ``configure_optimizers`` returned them; ``(optimizer,)`` when built by hand);
    ``optimizer_kind`` is the name the run's optimizers were built from (``sgd``,
    ``adam``, ``adamw``), for a method that trains models of its own the same way (UMT).
    ``device`` is where the model and the data live: a method creates its tensors there
    (``torch.zeros(..., device=state.device)``) and draws device-sized noise from its own
    generator on it; the batch order is drawn from ``generator``, which stays on the CPU.
    Build it as :func:`fit` does with :meth:`TrainState.start`.
    """

    model: MultimodalModel
    data: MultimodalDataset
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    epochs: int
    batch_size: int
    epoch: int = 0
    step: int = 0
    logs: dict[str, list] = field(default_factory=dict)
    optimizers: tuple[torch.optim.Optimizer, ...] = ()
    optimizer_kind: str = "sgd"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        if not self.optimizers:
            self.optimizers = (self.optimizer,)

    @classmethod
    def start(cls, model: MultimodalModel, data: MultimodalDataset, method: Method, *, epochs: int,
              batch_size: int, optimizer: str = "sgd", lr: float = 0.05, weight_decay: float = 1e-4,
              seed: int = 0, device: str | torch.device = "cpu") -> "TrainState":
        """The state of a run about to start, set up exactly as :func:`fit` sets it up.

        In order: ``seed_everything(seed)`` (its generator orders the batches);
        ``method.configure_model(model, data)``, then the model (with whatever the method
        added to it) is moved to ``device``; ``method.configure_optimizers(model,
        make_optimizer)``, where ``make_optimizer(params)`` builds an ``optimizer`` with
        ``lr`` and ``weight_decay``; then ``method.setup(state)``. Arguments are not
        checked here (:func:`fit` checks them; it also moves ``data`` to ``device``).
        """
        generator = seed_everything(seed)
        device = torch.device(device)
        method.configure_model(model, data)                     # hook [1]
        model.to(device)  # after the hook: modules a method adds move with the model
        build = OPTIMIZERS[optimizer]

        def make_optimizer(params: Sequence[torch.nn.Parameter]) -> torch.optim.Optimizer:
            return build(list(params), lr, weight_decay)

        made = method.configure_optimizers(model, make_optimizer)  # hook [2]
        optimizers = (made,) if isinstance(made, torch.optim.Optimizer) else tuple(made)
        if not optimizers or not all(isinstance(o, torch.optim.Optimizer) for o in optimizers):
            raise TypeError(f"method {method.name!r}: configure_optimizers must return a torch optimizer or a "
                            f"non-empty sequence of them, got {made!r}")
        state = cls(model, data, optimizers[0], generator, epochs, batch_size, optimizers=optimizers,
                    optimizer_kind=optimizer, device=device)
        method.state = state
        method.setup(state)                                     # hook [3]
        return state


@dataclass
class History:
    """Per-epoch records of a run, and the final scores of the selected model.

    ``records[e]`` holds, for epoch ``e``: ``loss`` (mean training loss),
    ``train_acc`` / ``train_acc_<m>`` (running accuracy over the epoch's batches),
    ``val_*`` and ``test_*`` (fused and per-modality accuracy, loss), and every
    value the method logged (its mean over the epoch). ``final`` holds the
    selected model's ``val_*`` and ``test_*`` scores; ``best_epoch`` is the epoch
    it comes from.

    ``status`` is ``"ok"``, or ``"diverged"`` when ``fit(..., on_nonfinite="record")``
    met a non-finite training loss; ``diverged`` then holds its ``epoch``, ``step``
    (0-based batch index in that epoch) and ``loss``, and ``records`` only the epochs
    that finished before it.
    """

    records: list[dict[str, float]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    seconds: float = 0.0
    method: str = "baseline"
    status: str = "ok"
    diverged: dict[str, float] | None = None

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

    ``on_epoch_start`` -> ``sample`` -> ``optimizer_for`` and ``step`` per batch ->
    ``on_epoch_end`` (the hooks of :mod:`mmlib.methods.base`, numbered there); ``fit``
    calls this once per epoch, and the speed benchmarks time it directly. The first
    non-finite loss raises :class:`DivergedError` (epoch, 0-based step in the epoch).
    """
    state.epoch, state.logs = epoch, {}
    method.on_epoch_start(state)                                # hook [4]
    losses, sizes, predictions, labels, output = [], [], [], [], None
    for step, batch in enumerate(method.sample(state)):         # hook [5]
        optimizer = method.optimizer_for(state, batch)          # hook [6]
        output, loss = method.step(state, batch, optimizer)     # hook [7] (default: [8] [9] backward [10] step)
        state.step += 1
        loss = loss.detach()
        if not math.isfinite(loss):  # one scalar read per step (under a microsecond): the cheapest check
            raise DivergedError(method.name, epoch, step, float(loss))
        with torch.no_grad():  # keep per-step work to a few ops; reduce once at the end
            losses.append(loss)
            predictions.append(torch.stack([output.fused, *output.logits.values()]).argmax(2))
        sizes.append(len(batch))
        labels.append(batch.y)
    method.on_epoch_end(state)                                  # hook [11]
    if not losses:
        return {"loss": 0.0}
    n_seen = sum(sizes)
    weights = torch.tensor(sizes, dtype=torch.float32, device=losses[0].device)
    result = {"loss": (torch.stack(losses) @ weights).item() / n_seen}
    correct = (torch.cat(predictions, dim=1) == torch.cat(labels)).sum(1)
    keys = ["train_acc"] + [f"train_acc_{m}" for m in output.logits]
    result.update({k: v.item() / n_seen for k, v in zip(keys, correct)})
    return result


ON_NONFINITE = ("raise", "record")
SELECT = ("val", "last")
SEED = Integer(ge=0, le=2**63 - 1, text="an int in [0, 2**63 - 1]")


def _check_method(method: Any, owner: str) -> Method:
    """``method`` as a :class:`Method`: an instance, a registered name (built with defaults) or None (baseline)."""
    if method is None:
        return get("baseline")
    if isinstance(method, str):
        return get(method)  # an unknown name lists the registered ones
    if isinstance(method, Method):
        return method
    if isinstance(method, type) and issubclass(method, Method):
        raise TypeError(f"{owner}: method must be a Method instance, a registered name or None; got the class "
                        f"{method.__name__} itself (build it first: {method.__name__}(...))")
    raise TypeError(f"{owner}: method must be a Method instance, a registered name (mmlib.methods.names()) or None; "
                    f"got {method!r} ({type(method).__name__})")


def _check_data(data: Any, owner: str) -> None:
    if not isinstance(data, MultimodalDataset):
        raise TypeError(f"{owner}: data must be a MultimodalDataset (e.g. mmlib.data.load('synthetic')), "
                        f"got {type(data).__name__}")


def _check_fit_arguments(model: Any, data: Any, *, epochs: Any, lr: Any, batch_size: Any, optimizer: Any,
                         weight_decay: Any, seed: Any, eval_splits: Any, select: Any, progress: Any, callback: Any,
                         on_nonfinite: Any) -> None:
    """Every argument of :func:`fit` but ``method``, with an error that states the valid range."""
    if not isinstance(model, MultimodalModel):
        raise TypeError(f"fit: model must be a MultimodalModel (e.g. mmlib.models.build_model(data)), "
                        f"got {type(model).__name__}")
    _check_data(data, "fit")
    if sorted(model.modalities) != sorted(data.modality_names):
        raise ValueError(f"fit: the model's modalities {model.modalities} do not match the data's "
                         f"{data.modality_names}; train on a subset with data.select({model.modalities}) "
                         "or build the model for this data")
    Integer(ge=1)(epochs, "epochs", "fit")
    Number(gt=0)(lr, "lr", "fit")
    Integer(ge=1)(batch_size, "batch_size", "fit")
    if not isinstance(optimizer, str):
        raise TypeError(f"fit: optimizer must be the name of one of {sorted(OPTIMIZERS)}, "
                        f"got {optimizer!r} ({type(optimizer).__name__})")
    if optimizer not in OPTIMIZERS:
        raise KeyError(f"fit: unknown optimizer {optimizer!r}; valid: {sorted(OPTIMIZERS)}")
    Number(ge=0)(weight_decay, "weight_decay", "fit")
    SEED(seed, "seed", "fit")
    if isinstance(eval_splits, str) or not isinstance(eval_splits, Sequence):
        raise TypeError(f"fit: eval_splits must be a list or tuple of split names from {sorted(data.splits)}, "
                        f"got {eval_splits!r} ({type(eval_splits).__name__})")
    unknown = [split for split in eval_splits if not isinstance(split, str) or split not in data.splits]
    if unknown:
        raise KeyError(f"fit: unknown split(s) {unknown} in eval_splits; valid splits: {sorted(data.splits)}")
    Choice(SELECT)(select, "select", "fit")
    if select == "val" and "val" not in eval_splits:
        raise ValueError(f"fit: select='val' needs 'val' in eval_splits, got {tuple(eval_splits)}; "
                         "add it or use select='last'")
    OrNone(Flag())(progress, "progress", "fit")
    if callback is not None and not callable(callback):
        raise TypeError(f"fit: callback must be None or a function of the TrainState, got {callback!r} "
                        f"({type(callback).__name__})")
    Choice(ON_NONFINITE)(on_nonfinite, "on_nonfinite", "fit")


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
    on_nonfinite: str = "raise",
    device: str | torch.device | None = None,
) -> History:
    """Train ``model`` on ``data`` with ``method`` (default: plain joint training).

    Args:
        epochs, lr, batch_size, weight_decay: the usual; ``optimizer`` is one of
            ``sgd`` (momentum 0.9), ``adam``, ``adamw``.
        seed: seeds the batch order and the method's randomness (build the model
            under a seed yourself, or use :func:`run`).
        eval_splits: splits evaluated after every epoch (``val`` is needed to select;
            ``()`` with ``select="last"`` evaluates nothing).
        select: ``"val"`` restores the weights of the best validation epoch at the
            end (an epoch whose validation loss is not finite is never chosen);
            ``"last"`` keeps the last epoch's.
        progress: draw a tqdm bar (default: on unless ``MMLIB_PROGRESS=0``).
        callback: called with the state after every epoch (e.g. to record extra numbers).
        on_nonfinite: what a NaN or infinite training loss does. ``"raise"`` (default):
            stop at once with :class:`DivergedError` naming the method, epoch and step.
            ``"record"``: stop at once and return the history with ``status ==
            "diverged"`` and ``diverged == {"epoch", "step", "loss"}``; its ``final``
            scores are those of the best validated epoch before the divergence, or NaN
            if there is none. Either way the model keeps the best validated weights
            seen before the divergence, if any.
        device: where to train (:func:`mmlib.devices.resolve_device`; default: ``$MMLIB_DEVICE``,
            else CUDA when available, else CPU). The model is moved there (in place) and the
            data copied there; on the CPU the results are bit-identical to earlier versions.
            A device this process cannot use is a ``ValueError`` naming the available ones.

    Arguments are checked before anything runs, with an error that states the valid
    range: ``epochs`` and ``batch_size`` ints >= 1 (a bool is not an int here), ``lr``
    a finite number > 0, ``weight_decay`` a finite number >= 0, ``seed`` an int in
    [0, 2**63 - 1], ``optimizer``/``select``/``on_nonfinite`` one of their names,
    ``eval_splits`` split names of ``data``, ``progress`` None or a bool, ``callback``
    None or callable, ``method`` a Method, a registered name or None, and ``model``
    a MultimodalModel with the same modalities as ``data``.
    """
    _check_fit_arguments(model, data, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                         weight_decay=weight_decay, seed=seed, eval_splits=eval_splits, select=select,
                         progress=progress, callback=callback, on_nonfinite=on_nonfinite)
    method = _check_method(method, "fit")
    device = resolve_device(device)
    model.to(device)
    data = data.to(device)
    state = TrainState.start(model, data, method, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                             lr=lr, weight_decay=weight_decay, seed=seed, device=device)
    history = History(method=method.name)
    best_score, best_weights = -1.0, None
    started = time.perf_counter()
    model.train()
    bar = tqdm(range(epochs), desc=method.name, leave=False, disable=not progress_enabled(progress))
    divergence: DivergedError | None = None
    for epoch in bar:
        try:
            record = {"epoch": epoch, **train_epoch(method, state, epoch)}
        except DivergedError as error:
            divergence = error
            bar.close()
            break
        for split in eval_splits:
            record.update({f"{split}_{k}": v for k, v in evaluate(model, data, split, method).items()})  # hook [12]
        record.update({k: _epoch_mean(v) for k, v in state.logs.items()})
        history.records.append(record)
        if select == "val" and record["val_acc"] > best_score and math.isfinite(record["val_loss"]):
            best_score, history.best_epoch = record["val_acc"], epoch
            best_weights = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{record['loss']:.3f}", val=f"{record.get('val_acc', float('nan')):.3f}")
        if callback is not None:
            callback(state)
    if select == "val" and best_weights is not None:
        model.load_state_dict(best_weights)
    elif divergence is None:
        history.best_epoch = epochs - 1
    if divergence is not None:
        if on_nonfinite == "raise":
            raise divergence
        history.status = "diverged"
        history.diverged = {"epoch": divergence.epoch, "step": divergence.step, "loss": divergence.loss}
    for split in eval_splits:
        history.final.update({f"{split}_{k}": v for k, v in evaluate(model, data, split, method).items()})
    if divergence is not None and best_weights is None:  # no validated model to report: the weights are broken
        history.final = {k: float("nan") for k in history.final}
    history.seconds = time.perf_counter() - started
    return history


@dataclass
class Run:
    """A trained model, its history and the method that trained it."""

    model: MultimodalModel
    history: History
    method: Method


FIT_OPTIONS = tuple(p for p in inspect.signature(fit).parameters if p not in ("model", "data", "method", "seed"))


ModelBuilder = Callable[[MultimodalDataset], MultimodalModel]


def _check_run_arguments(data: Any, method: Any, model: Any, build: Any, fusion: Any, feature_dim: Any,
                         modalities: Any, method_kw: Any, fit_kw: Mapping[str, Any], encoder: Any = "auto") -> None:
    _check_data(data, "run")
    if model is not None and build is not None:
        raise ValueError("run: pass either model= (a model you built) or build= (a function data -> model), not both")
    if model is not None and not isinstance(model, MultimodalModel):
        raise TypeError(f"run: model must be None or a MultimodalModel, got {type(model).__name__}")
    if build is not None and not callable(build):
        raise TypeError(f"run: build must be None or a function data -> MultimodalModel, got {build!r} "
                        f"({type(build).__name__})")
    if (model is not None or build is not None) and (fusion != "concat" or feature_dim != 32 or encoder != "auto"):
        raise ValueError("run: fusion and feature_dim describe the default model (as does encoder); with model= or "
                         "build= set them where that model is built")
    if not isinstance(encoder, str):
        raise TypeError(f"run: encoder must be the name of one of {list(ENCODERS)}, got {encoder!r} "
                        f"({type(encoder).__name__})")
    if encoder not in ENCODERS:
        raise KeyError(f"run: unknown encoder {encoder!r}; valid encoders: {list(ENCODERS)}")
    if not isinstance(fusion, str):
        raise TypeError(f"run: fusion must be the name of one of {sorted(FUSIONS)}, got {fusion!r} "
                        f"({type(fusion).__name__})")
    if fusion not in FUSIONS:
        raise KeyError(f"run: unknown fusion {fusion!r}; valid fusions: {sorted(FUSIONS)}")
    Integer(ge=1)(feature_dim, "feature_dim", "run")
    if modalities is not None:
        valid = data.modality_names
        if isinstance(modalities, str) or not isinstance(modalities, Sequence):
            raise TypeError(f"run: modalities must be None or a list of names from {valid}, got {modalities!r} "
                            f"({type(modalities).__name__})")
        unknown = [m for m in modalities if not isinstance(m, str) or m not in valid]
        if unknown:
            raise KeyError(f"run: unknown modalities {unknown}; valid: {valid}")
        if not modalities or len(set(modalities)) != len(modalities):
            raise ValueError(f"run: modalities must name at least one modality, each once, got {list(modalities)}")
    if method_kw is not None:
        if not isinstance(method_kw, Mapping):
            raise TypeError(f"run: method_kw must be None or a mapping of hyperparameters, got {method_kw!r} "
                            f"({type(method_kw).__name__})")
        if method_kw and not isinstance(method, str) and not (isinstance(method, type) and issubclass(method, Method)):
            raise ValueError(f"run: method_kw {dict(method_kw)} only applies when method is a registered name "
                             "or a Method class; pass the hyperparameters to the method you built instead")
    unknown = sorted(k for k in fit_kw if k not in FIT_OPTIONS)
    if unknown:
        raise TypeError(f"run: unknown option(s) {unknown}; valid: seed, model, build, fusion, feature_dim, "
                        f"modalities, method_kw, encoder and the fit options {list(FIT_OPTIONS)}")


def run(
    data: MultimodalDataset,
    method: str | Method | type[Method] = "baseline",
    *,
    seed: int = 0,
    model: MultimodalModel | None = None,
    build: ModelBuilder | None = None,
    fusion: str = "concat",
    feature_dim: int = 32,
    modalities: list[str] | None = None,
    method_kw: dict[str, Any] | None = None,
    encoder: str = "auto",
    **fit_kw: Any,
) -> Run:
    """The one place that seeds, builds a model, builds the method and calls :func:`fit`.

    In order: ``seed_everything(seed)``; the model is ``model`` if given, else
    ``build(data)`` if given, else ``build_model(data, fusion, feature_dim, encoder=encoder)``
    (``encoder="resnet18"``: ResNet-18 for image-like modalities); the method
    is ``get(method, **method_kw)`` for a registered name, ``method(**method_kw)`` for a
    :class:`Method` class (a custom method, built fresh per run), or the instance given;
    then ``fit(model, data, method, seed=seed, **fit_kw)``. The model is built on the CPU
    (the same initial weights on every device) and ``fit`` moves it to ``device=``. ``modalities`` trains on
    ``data.select(modalities)`` (the model is built for that subset).

    Arguments are checked first, as in :func:`fit`: ``model`` and ``build`` exclusive
    (and neither with a non-default ``fusion``/``feature_dim``), ``fusion`` one of the
    fusion heads, ``feature_dim`` an int >= 1, ``modalities`` None or names of
    ``data``'s modalities, ``method_kw`` None or a mapping (only with a name or class),
    ``fit_kw`` fit's options.
    """
    _check_run_arguments(data, method, model, build, fusion, feature_dim, modalities, method_kw, fit_kw, encoder)
    SEED(seed, "seed", "run")
    seed_everything(seed)
    subset = data if modalities is None else data.select(modalities)
    if model is None:
        model = build(subset) if build is not None else build_model(subset, fusion=fusion, feature_dim=feature_dim,
                                                                    encoder=encoder)
    if isinstance(method, str):
        method = get(method, **(method_kw or {}))
    elif isinstance(method, type) and issubclass(method, Method):
        method = method(**(method_kw or {}))
    else:
        method = _check_method(method, "run")
    history = fit(model, subset, method, seed=seed, **fit_kw)
    return Run(model, history, method)


def train_unimodal(data: MultimodalDataset, modality: str, **run_kw: Any) -> Run:
    """Train a model on one modality alone (the unimodal reference of chapter 2)."""
    return run(data, "baseline", modalities=[modality], **run_kw)
