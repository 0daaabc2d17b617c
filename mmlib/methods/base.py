"""The ``Method`` base class (plain joint training) and the registry of methods.

A method is "what a paper changes" in the one training loop of
:func:`mmlib.train.fit`. The loop, in full, with the number of each hook (the same
numbers mark the calling lines in :mod:`mmlib.train` and the hooks below)::

    TrainState.start (called by fit):
        seed_everything(seed)
        [1]  method.configure_model(model, data)
        [2]  optimizers = method.configure_optimizers(model, make_optimizer)
        [3]  method.setup(state)
    fit: for epoch in range(epochs):
      train_epoch:
        [4]  method.on_epoch_start(state)
        [5]  for batch in method.sample(state):
        [6]      optimizer = method.optimizer_for(state, batch)
        [7]      output, loss = method.step(state, batch, optimizer)
                   # default step: [8] forward(model, batch) -> [9] loss(output, batch)
                   #   -> zero_grad -> backward -> [10] after_backward(model, output, batch) -> optimizer.step()
        [11] method.on_epoch_end(state)
      fit: metrics.evaluate(model, data, split, method) on each eval split
        [12] method.predict(model, batch), per batch, inside models.evaluating(model)

One rule for the arguments: the set-up hooks that run before the state exists take what
exists (``model, data``; ``model, make_optimizer``); every other once-per-run or per-epoch
hook takes the :class:`~mmlib.train.TrainState` alone (``state.model``, ``state.data``,
``state.epoch``...); every per-batch hook takes what it works on, the batch last.

==  ========================================  =============================================  =========================
#   hook                                      may change                                     default
==  ========================================  =============================================  =========================
1   ``configure_model(model, data)``          the model: add heads, blocks, buffers, wrap    nothing
                                              modules; runs *before* the optimizer is
                                              built, so new parameters are trained
2   ``configure_optimizers(model,             the optimizers and their parameters;           one optimizer over every
    make_optimizer)`` -> optimizer(s)         ``make_optimizer(params)`` builds one of       trainable parameter
                                              the run's kind and settings; the first is
                                              ``state.optimizer``, all ``state.optimizers``
3   ``setup(state)``                          the method's own state (running sums,          ``self.state = state``
                                              teachers, splits), not the model's structure
4   ``on_epoch_start(state)``                 per-epoch state (prototypes, schedules)        nothing
5   ``sample(state)`` -> batches              which samples / modalities this epoch; a       the train split, shuffled
                                              batch subclass may carry what a step needs
6   ``optimizer_for(state, batch)``           which optimizer this batch's update uses       ``state.optimizer``
7   ``step(state, batch, optimizer)``         the whole update; only for methods that        8, 9, backward, 10,
    -> ``(output, loss)``                     need several backward passes (MMPareto, MLA)   ``optimizer.step()``
8   ``forward(model, batch)`` -> Output       the training forward pass (feed-forward)       ``model(batch)``
9   ``loss(output, batch)`` -> scalar         the objective (learning objective)             CE on the fused logits
10  ``after_backward(model, output, batch)``  ``.grad`` before ``optimizer.step()``          nothing
                                              (optimization: gradient surgery)
11  ``on_epoch_end(state)``                   the weights (re-initialisation), fitted        nothing
                                              rules, per-epoch logs
12  ``predict(model, batch)`` -> Output       the evaluation forward pass (inside            ``model(batch)``
                                              :func:`mmlib.models.evaluating`)
==  ========================================  =============================================  =========================

Every default is plain joint training, so :class:`Baseline` is empty. ``step`` is the one
documented place where a method needing several backward passes per step may own the
update instead of copying the loop; a method that needs its own optimizers (ReconBoost)
says so through hooks 2 and 6, not by owning ``step``. Methods log per-step or per-epoch
values with :meth:`Method.log`.

Hyperparameters are checked when a method is built, whichever way (``get(name, ...)``
or calling the class): each class declares ``hyperparameter_ranges``, one
:mod:`mmlib.validation` check per ``__init__`` argument (``Number(ge=0)``,
``Integer(ge=1)``, ``Flag()``, ``Choice(...)``), and a value that breaks it is an error
before ``__init__`` runs, e.g. ``ogm_ge: alpha must be a finite number >= 0, got nan``
(``TypeError`` for a wrong type, ``ValueError`` for a bad value).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Batch, MultimodalDataset
from ..models import MultimodalModel, Output
from ..validation import Check
from .provenance import THIS_COURSE, Difference, Paper, Source, differences_section

if TYPE_CHECKING:
    from ..train import TrainState

FAMILIES = ("baseline", "control", "data input", "feed-forward", "learning objective", "optimization",
            "decision level")
"""Baseline, the controls (one ingredient of several methods alone), the survey's four stages, decision level."""
REMEDY_FAMILIES = FAMILIES[2:]
"""The families a balancing method belongs to (not the baseline, not a control)."""


class NotApplicable(TypeError):
    """A method cannot run on this model or data set (e.g. RollingQ needs a fusion transformer).

    Raise it from a hook (usually ``configure_model``) with a message saying what the method needs.
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

    Subclasses set ``name`` (the registry key), ``family`` (one of ``FAMILIES``), their
    ledger entry (``paper``, ``sources``, ``differences``: see :mod:`mmlib.methods.provenance`), take their hyperparameters as keyword arguments of ``__init__``, declare
    each one's valid range in ``hyperparameter_ranges`` (checked on construction, see the
    module docstring) and override the hooks they change. ``self.state`` is the running
    :class:`~mmlib.train.TrainState` (epoch, step, optimizer, data...).
    """

    name = "baseline"
    family = "baseline"
    paper: ClassVar[Paper] = Paper(THIS_COURSE, "Plain joint training: one cross-entropy on the fused output")
    sources: ClassVar[tuple[Source, ...]] = (Source(THIS_COURSE, note="the common recipe every paper compares with"),)
    differences: ClassVar[tuple[Difference, ...]] = ()
    hyperparameter_ranges: ClassVar[Mapping[str, Check]] = {}

    state: "TrainState"

    # -- set-up -----------------------------------------------------------------------------
    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        """[1] Change the model before the optimizer is built (add heads, blocks, buffers).

        Parameters added here are in the optimizer by construction. Raise
        :class:`NotApplicable` for a model the method cannot train. Must be idempotent
        (a model already configured, e.g. fitted a second time, is left as it is).
        """

    def configure_optimizers(self, model: MultimodalModel,
                             make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
                             ) -> torch.optim.Optimizer | Sequence[torch.optim.Optimizer]:
        """[2] The optimizer(s) of the run; ``make_optimizer(params)`` builds one of the run's kind and settings.

        The first one returned is ``state.optimizer`` (what :meth:`optimizer_for` gives by
        default); all of them are ``state.optimizers``.
        """
        return make_optimizer([p for p in model.parameters() if p.requires_grad])

    def setup(self, state: "TrainState") -> None:
        """[3] Called once before the first epoch, after the optimizers exist."""
        self.state = state

    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments this method was built with (for tables and logs)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {p: getattr(self, p) for p in names if hasattr(self, p)}

    # -- per epoch ----------------------------------------------------------------------------
    def on_epoch_start(self, state: "TrainState") -> None:
        """[4] Called at the start of every epoch (``state.epoch`` is set)."""

    # -- data input ---------------------------------------------------------------------------
    def sample(self, state: "TrainState") -> Iterable[Batch]:
        """[5] The batches of one epoch (default: the train split, shuffled)."""
        return state.data.batches("train", state.batch_size, shuffle=True, generator=state.generator)

    # -- the update of one batch --------------------------------------------------------------
    def optimizer_for(self, state: "TrainState", batch: Batch) -> torch.optim.Optimizer:
        """[6] The optimizer that applies this batch's update (default: ``state.optimizer``)."""
        return state.optimizer

    def step(self, state: "TrainState", batch: Batch, optimizer: torch.optim.Optimizer) -> tuple[Output, Tensor]:
        """[7] One update: forward, loss, backward, gradient surgery, ``optimizer.step()``.

        Override only when the update needs several backward passes (MMPareto, MLA).
        """
        output = self.forward(state.model, batch)
        return output, self.update(state.model, output, batch, optimizer)

    def update(self, model: MultimodalModel, output: Output, batch: Batch,
               optimizer: torch.optim.Optimizer) -> Tensor:
        """The rest of :meth:`step` once ``output`` is computed: loss, backward, gradient surgery,
        ``optimizer.step()``; returns the loss. For a ``step`` that measures before it updates."""
        loss = self.loss(output, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.after_backward(model, output, batch)
        optimizer.step()
        return loss

    # -- feed-forward -------------------------------------------------------------------------
    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        """[8] The training-time forward pass."""
        return model(batch)

    def predict(self, model: MultimodalModel, batch: Batch) -> Output:
        """[12] The evaluation forward pass (called inside :func:`mmlib.models.evaluating`)."""
        return model(batch)

    # -- learning objective -------------------------------------------------------------------
    def loss(self, output: Output, batch: Batch) -> Tensor:
        """[9] The training objective of one batch."""
        return F.cross_entropy(output.fused, batch.y)

    # -- optimization -------------------------------------------------------------------------
    def after_backward(self, model: MultimodalModel, output: Output, batch: Batch) -> None:
        """[10] Gradient surgery between ``loss.backward()`` and ``optimizer.step()``."""

    def on_epoch_end(self, state: "TrainState") -> None:
        """[11] Called after the last step of every epoch (e.g. re-initialisation, prototypes)."""

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
    section = differences_section(cls)
    if section and cls.__doc__ is not None and section not in cls.__doc__:
        cls.__doc__ = cls.__doc__.rstrip() + section
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


def feature_widths(model: MultimodalModel, method: str) -> dict[str, int]:
    """Each modality's feature width ``d_m`` (its encoder's ``out_dim``) for a method that needs one
    feature vector ``(N, d_m)`` per sample.

    Raises :class:`NotApplicable` naming the encoder when it has no ``out_dim``, e.g. the token
    encoders of :mod:`mmlib.transformer`, whose features are ``(N, tokens, d)``.
    """
    widths = {m: getattr(enc, "out_dim", None) for m, enc in model.encoders.items()}
    missing = [m for m, width in widths.items() if width is None]
    if missing:
        kinds = sorted({type(model.encoders[m]).__name__ for m in missing})
        raise NotApplicable(f"{method} needs one feature vector per sample from each encoder (an encoder with "
                            f"`out_dim`); the {', '.join(missing)} encoder(s) ({', '.join(kinds)}) have none "
                            "(a fusion transformer's encoders emit tokens). Use a model from mmlib.models.build_model.")
    return {m: int(width) for m, width in widths.items()}


def encoder_parameters(model: MultimodalModel, modality: str) -> list[torch.nn.Parameter]:
    """The trainable parameters of modality ``modality``'s encoder."""
    return [p for p in model.encoders[modality].parameters() if p.requires_grad]
