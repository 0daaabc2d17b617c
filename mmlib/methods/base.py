"""The ``Method`` base class (plain joint training) and the registry of methods.

A method is "what a paper changes" in the one training loop of
:func:`mmlib.train.fit`. The loop calls these hooks, one group per stage of
training the survey sorts remedies by:

=====================  ===================================================  =====================
stage                  hook                                                 default
=====================  ===================================================  =====================
data input             ``sample(state)`` -> iterable of batches             shuffled train split
feed-forward           ``forward(model, batch)`` -> ``Output``              ``model(batch)``
learning objective     ``loss(output, batch)`` -> scalar                    CE on fused logits
optimization           ``after_backward(model, output, batch)``             nothing
                       ``on_epoch_end(model, state)``                       nothing
=====================  ===================================================  =====================

plus ``setup(state)`` (once, before the first epoch), ``on_epoch_start(state)``,
``predict(model, batch)`` (the evaluation forward pass) and ``step(state, batch)``,
the one documented place where a method needing several backward passes per
step (MMPareto, MLA) may own the update instead of copying the loop.
Every default is plain joint training, so :class:`Baseline` is empty.

Hyperparameters are checked when a method is built, whichever way (``get(name, ...)``
or calling the class): each class declares ``hyperparameter_ranges``, one
:mod:`mmlib.validation` check per ``__init__`` argument (``Number(ge=0)``,
``Integer(ge=1)``, ``Flag()``, ``Choice(...)``), and a value that breaks it is an error
before ``__init__`` runs, e.g. ``ogm_ge: alpha must be a finite number >= 0, got nan``
(``TypeError`` for a wrong type, ``ValueError`` for a bad value).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch
from ..models import MultimodalModel, Output
from ..validation import Check

if TYPE_CHECKING:
    from ..train import TrainState

FAMILIES = ("baseline", "data input", "feed-forward", "learning objective", "optimization", "decision level")


class NotApplicable(TypeError):
    """A method cannot run on this model or data set (e.g. RollingQ needs a fusion transformer).

    Raise it from a hook (usually ``setup``) with a message saying what the method needs.
    :mod:`mmlib.benchmark` reports such a run as "n/a" instead of failing; everywhere else
    it is an ordinary ``TypeError``.
    """


class CheckedHyperparameters(type):
    """Metaclass of :class:`Method`: checks the constructor's arguments against the class's
    ``hyperparameter_ranges`` (merged along the class hierarchy) before ``__init__`` runs.

    Arguments that do not fit the signature are left to ``__init__`` to report.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        ranges = cls.all_hyperparameter_ranges()
        if ranges:
            try:
                bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
            except TypeError:
                bound = None
            if bound is not None:
                bound.apply_defaults()
                owner = cls.__dict__.get("name", cls.__name__)
                for name, rule in ranges.items():
                    if name in bound.arguments:
                        rule(bound.arguments[name], name, owner)
        return super().__call__(*args, **kwargs)

    @property
    def __signature__(cls) -> inspect.Signature:
        """The class's call signature is its ``__init__``'s, not ``__call__``'s (for help(), tooltips, inspect)."""
        if cls.__init__ is object.__init__:
            return inspect.Signature()
        signature = inspect.signature(cls.__init__)
        return signature.replace(parameters=tuple(signature.parameters.values())[1:])

    def all_hyperparameter_ranges(cls) -> dict[str, Check]:
        """``hyperparameter_ranges`` of the class and its bases (a subclass's entry wins)."""
        merged: dict[str, Check] = {}
        for klass in reversed(cls.__mro__):
            own = vars(klass).get("hyperparameter_ranges")
            if isinstance(own, Mapping):
                merged.update(own)
        return merged


class Method(metaclass=CheckedHyperparameters):
    """Plain joint training: cross-entropy on the fused logits, one optimizer step per batch.

    Subclasses set ``name`` (the registry key), ``family`` (one of ``FAMILIES``) and
    ``paper``, take their hyperparameters as keyword arguments of ``__init__``, declare
    each one's valid range in ``hyperparameter_ranges`` (checked on construction, see the
    module docstring) and override the hooks they change. ``self.state`` is the running
    :class:`~mmlib.train.TrainState` (epoch, step, optimizer, data...).
    """

    name = "baseline"
    family = "baseline"
    paper = "plain joint training with one cross-entropy on the fused output"
    hyperparameter_ranges: ClassVar[Mapping[str, Check]] = {}

    state: "TrainState"

    # -- set-up -----------------------------------------------------------------------------
    def setup(self, state: "TrainState") -> None:
        """Called once before the first epoch."""
        self.state = state

    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments this method was built with (for tables and logs)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names if hasattr(self, p)}

    # -- data input ---------------------------------------------------------------------------
    def sample(self, state: "TrainState") -> Iterable[Batch]:
        """The batches of one epoch (default: the train split, shuffled)."""
        return state.data.batches("train", state.batch_size, shuffle=True, generator=state.generator)

    # -- feed-forward -------------------------------------------------------------------------
    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        """The training-time forward pass."""
        return model(batch)

    def predict(self, model: MultimodalModel, batch: Batch) -> Output:
        """The evaluation forward pass (called under ``torch.no_grad`` in eval mode)."""
        return model(batch)

    # -- learning objective -------------------------------------------------------------------
    def loss(self, output: Output, batch: Batch) -> Tensor:
        """The training objective of one batch."""
        return F.cross_entropy(output.fused, batch.y)

    # -- optimization -------------------------------------------------------------------------
    def after_backward(self, model: MultimodalModel, output: Output, batch: Batch) -> None:
        """Gradient surgery between ``loss.backward()`` and ``optimizer.step()``."""

    def on_epoch_start(self, state: "TrainState") -> None:
        """Called at the start of every epoch."""

    def on_epoch_end(self, model: MultimodalModel, state: "TrainState") -> None:
        """Called after the last step of every epoch (e.g. re-initialisation, prototypes)."""

    def step(self, state: "TrainState", batch: Batch) -> tuple[Output, Tensor]:
        """One update: forward, loss, backward, gradient surgery, optimizer step."""
        model, optimizer = state.model, state.optimizer
        output = self.forward(model, batch)
        loss = self.loss(output, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.after_backward(model, output, batch)
        optimizer.step()
        return output, loss

    # -- logging ------------------------------------------------------------------------------
    def log(self, **values: float | Tensor) -> None:
        """Record values for this epoch; the History keeps each key's mean per epoch."""
        for key, value in values.items():
            if isinstance(value, Tensor):
                value = value.detach()
            self.state.logs.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: make ``cls`` available as ``mmlib.methods.get(cls.name)``."""
    if cls.family not in FAMILIES:
        raise ValueError(f"{cls.__name__}.family must be one of {FAMILIES}, got {cls.family!r}")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"method name {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls
    return cls


@register
class Baseline(Method):
    """Plain joint training (every hook at its default)."""


def names() -> list[str]:
    """The registered method names."""
    return sorted(REGISTRY)


def get(name: str, **hyperparameters: Any) -> Method:
    """A new method ``name`` with the given hyperparameters.

    An unknown name lists the registered ones; an unknown hyperparameter lists
    the method's valid ones.
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown method {name!r}; valid names: {names()}")
    cls = REGISTRY[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]
    unknown = [k for k in hyperparameters if k not in valid]
    if unknown:
        raise TypeError(f"unknown hyperparameter(s) {unknown} for method {name!r}; "
                        f"valid: {valid or 'none (it takes no hyperparameters)'}")
    return cls(**hyperparameters)


def encoder_parameters(model: MultimodalModel, modality: str) -> list[torch.nn.Parameter]:
    """The trainable parameters of modality ``modality``'s encoder."""
    return [p for p in model.encoders[modality].parameters() if p.requires_grad]
