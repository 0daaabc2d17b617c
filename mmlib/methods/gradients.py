"""Gradients as flat vectors: the bookkeeping shared by MMPareto, MLA and the chapters.

Autograd gives one gradient tensor per parameter; the math of gradient methods (a cosine
between two gradients, a min-norm combination, a projection) works on one flat vector
per encoder. These pure functions convert between the two the same way everywhere:

* parameters in the order given, each flattened row-major and concatenated;
* a missing gradient (``None``: the parameter took no part in the loss) reads as zeros;
* no function here changes a parameter's value; only :func:`write_gradients` and
  :func:`modify_gradients` write ``.grad``.

============================================  ================================================
:func:`flatten_gradients` ``(grads, params)``  a tuple from ``torch.autograd.grad`` -> vector
:func:`gradient_vector` ``(params)``           the parameters' current ``.grad`` -> vector
:func:`loss_gradient` ``(loss, params)``       ``d loss / d params`` as a vector (``.grad`` untouched)
:func:`loss_gradients` ``(loss, groups)``      one vector per named group, one backward pass
:func:`unflatten_gradient` ``(vector, params)``  vector -> one tensor per parameter (views)
:func:`write_gradients` ``(params, vector)``   vector -> the parameters' ``.grad``
:func:`modify_gradients` ``(params, fn)``      ``p.grad <- fn(p.grad)`` where a gradient exists
============================================  ================================================
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor

Params = Sequence[torch.Tensor]


def _size(params: Params) -> int:
    return sum(p.numel() for p in params)


def flatten_gradients(grads: Sequence[Tensor | None], params: Params) -> Tensor:
    """One flat vector from per-parameter gradients (e.g. ``torch.autograd.grad(..., allow_unused=True)``).

    ``grads[i]`` belongs to ``params[i]``; a ``None`` entry counts as zeros of that
    parameter's shape. No parameters give an empty vector.
    """
    grads, params = list(grads), list(params)
    if len(grads) != len(params):
        raise ValueError(f"flatten_gradients: {len(grads)} gradients for {len(params)} parameters")
    if not params:
        return torch.zeros(0)
    for i, (g, p) in enumerate(zip(grads, params)):
        if g is not None and g.shape != p.shape:
            raise ValueError(f"flatten_gradients: gradient {i} has shape {tuple(g.shape)}, "
                             f"its parameter {tuple(p.shape)}")
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def gradient_vector(params: Params) -> Tensor:
    """The parameters' current ``.grad`` as one flat vector (zeros where ``.grad is None``)."""
    params = list(params)
    return flatten_gradients([p.grad for p in params], params)


def loss_gradient(loss: Tensor, params: Params, *, retain_graph: bool = True) -> Tensor:
    """``d loss / d params`` as one flat vector, by ``torch.autograd.grad`` (``.grad`` is not touched).

    ``retain_graph=True`` (default) keeps the graph for a further backward pass, as
    gradient methods take several per step; parameters the loss does not reach get zeros.
    """
    params = list(params)
    grads = torch.autograd.grad(loss, params, retain_graph=retain_graph, allow_unused=True)
    return flatten_gradients(grads, params)


def loss_gradients(loss: Tensor, groups: Mapping[str, Params], *, retain_graph: bool = True) -> dict[str, Tensor]:
    """``{name: d loss / d groups[name]}``, one flat vector per group, from a single backward pass.

    For example ``loss_gradients(L_mm, {m: encoder_parameters(model, m) for m in model.modalities})``
    gives every encoder's multimodal gradient.
    """
    groups = {name: list(params) for name, params in groups.items()}
    everything = [p for params in groups.values() for p in params]
    if not everything:
        return {name: torch.zeros(0) for name in groups}
    grads = torch.autograd.grad(loss, everything, retain_graph=retain_graph, allow_unused=True)
    vectors, start = {}, 0
    for name, params in groups.items():
        vectors[name] = flatten_gradients(grads[start:start + len(params)], params)
        start += len(params)
    return vectors


def unflatten_gradient(vector: Tensor, params: Params) -> list[Tensor]:
    """Cut a flat vector back into one tensor per parameter, shaped like it (views of ``vector``)."""
    params = list(params)
    if vector.dim() != 1 or vector.numel() != _size(params):
        raise ValueError(f"unflatten_gradient: expected a flat vector of {_size(params)} entries for "
                         f"{len(params)} parameters, got shape {tuple(vector.shape)}")
    pieces, offset = [], 0
    for p in params:
        pieces.append(vector[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
    return pieces


def write_gradients(params: Params, vector: Tensor) -> None:
    """Set every parameter's ``.grad`` to its slice of ``vector`` (a copy; a missing ``.grad`` is created)."""
    for p, piece in zip(params, unflatten_gradient(vector, params)):
        p.grad = piece.detach().clone()


def modify_gradients(params: Params, fn: Callable[[Tensor], Tensor]) -> None:
    """``p.grad <- fn(p.grad)`` for every parameter that has a gradient (``None`` stays ``None``)."""
    for p in params:
        if p.grad is not None:
            p.grad = fn(p.grad)
