"""Chapter 10's scaffolding: encoders trained alone, frozen-feature data sets, fine-tuning from them.

The protocol of Ma & Chen (2025) on a CPU scale: train each modality's encoder alone
(:func:`pretrain_encoders`, the balanced representations and each modality's capability),
freeze them (:func:`feature_dataset`) and learn a decision layer on top
(:func:`mmlib.models.head_model`), or fine-tune them with a fresh head
(:func:`pretrained_model`). Every training goes through :func:`mmlib.train.run`.
The measures themselves are pure and live in :mod:`mmlib.decision`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping

import torch
from torch import nn

from ..data import MultimodalDataset
from ..models import MultimodalModel, evaluating, model_with_dims
from ..train import run

__all__ = ["feature_dataset", "pretrain_encoders", "pretrained_model"]


def pretrain_encoders(data: MultimodalDataset, dims: Mapping[str, int], seed: int = 0,
                      scales: Mapping[str, float] | None = None, **fit_kw: Any
                      ) -> tuple[dict[str, nn.Module], dict[str, float]]:
    """Train each modality's encoder *alone* (its own linear head), the balanced representations.

    One :func:`mmlib.train.run` per modality, on ``data.select([m])`` with
    ``build=model_with_dims`` (feature dimension ``dims[m]``, output scale ``scales[m]``
    if given) and ``seed``. Returns the encoders (with their :class:`~mmlib.models.Rescale`,
    if scaled) and each modality's unimodal test accuracy (its capability).
    ``fit_kw`` go to :func:`mmlib.train.fit` (epochs, lr, ...).
    """
    scales = scales or {}
    encoders, capability = {}, {}
    for m, d in dims.items():
        build = partial(model_with_dims, dims={m: d}, scales={m: scales[m]} if m in scales else None)
        alone = run(data, "baseline", seed=seed, build=build, modalities=[m], **fit_kw)
        encoders[m], capability[m] = alone.model.encoders[m], alone.history.final["test_acc"]
    return encoders, capability


@torch.no_grad()
def feature_dataset(data: MultimodalDataset, encoders: Mapping[str, nn.Module],
                    scales: Mapping[str, float] | None = None) -> MultimodalDataset:
    """The data set seen through frozen encoders: modality m becomes ``scale_m * h_m`` (N, d_m).

    Training a head on it with identity encoders (:func:`mmlib.models.head_model`) is exactly
    training the decision layer on frozen encoders, without recomputing them every epoch.
    Each encoder is evaluated in eval mode and keeps the mode it had.
    """
    scales = scales or {}
    feats = {}
    for m, encoder in encoders.items():
        with evaluating(encoder):
            feats[m] = encoder(data.modalities[m]) * float(scales.get(m, 1.0))
    return MultimodalDataset(data.name, feats, data.labels, data.classes, data.splits, dict(data.info))


def pretrained_model(data: MultimodalDataset, dims: Mapping[str, int], scales: Mapping[str, float] | None = None,
                     *, encoders: Mapping[str, nn.Module]) -> MultimodalModel:
    """:func:`mmlib.models.model_with_dims` whose encoders start from copies of ``encoders``' weights.

    The head is fresh; the given encoders are not changed (their weights are copied). Pass
    ``functools.partial(pretrained_model, dims=..., scales=..., encoders=...)`` as ``build=``
    to :func:`mmlib.train.run` to fine-tune them with a new decision layer.
    """
    model = model_with_dims(data, dims, scales)
    for m, encoder in encoders.items():
        model.encoders[m].load_state_dict(encoder.state_dict())
    return model
