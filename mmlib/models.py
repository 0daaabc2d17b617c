"""Encoders, fusion heads and the multimodal model of the course.

The contract every chapter relies on (DESIGN.md §3): a :class:`MultimodalModel`
returns an :class:`Output` holding the ``fused`` logits, one ``logits[m]`` per
modality and the encoder ``features[m]``. For concatenation fusion with head
``W = [W_1 ... W_M]`` and bias ``b``

    logits[m] = features[m] @ W_m.T + b / M,      fused = sum_m logits[m]   (exactly),

the "additive" decomposition of Peng et al. (OGM-GE, CVPR 2022), generalised to
M modalities as in BalanceBenchmark. Sum and gated fusion keep the same identity.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

import torch
from torch import Tensor, nn

from .data import Batch, MultimodalDataset


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluate ``model`` inside a ``with`` block: eval mode and ``torch.no_grad()``.

    On exit (also on an exception) the model gets back the mode it had before, train or
    eval, so a helper that evaluates in the middle of training leaves training as it was::

        with evaluating(model):
            output = model(batch)

    Only the top module's flag is read: a model whose submodules were set to different
    modes by hand comes back with every submodule in the top module's mode.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


@dataclass
class Output:
    """What a forward pass returns: fused logits, per-modality logits, encoder features."""

    fused: Tensor
    logits: dict[str, Tensor]
    features: dict[str, Tensor]


class MLPEncoder(nn.Sequential):
    """Two-layer perceptron for feature-vector modalities: ``d_in -> hidden -> d_out``."""

    def __init__(self, in_dim: int, out_dim: int = 32, hidden: int = 64) -> None:
        super().__init__(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim), nn.ReLU())
        self.out_dim = out_dim


class ConvEncoder(nn.Sequential):
    """Small CNN for spectrograms and images ``(C, H, W)``: two strided convolutions, global pooling."""

    def __init__(self, in_channels: int, out_dim: int = 32, width: int = 16) -> None:
        super().__init__(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, out_dim, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.out_dim = out_dim


class BasicBlock(nn.Module):
    """ResNet's basic residual block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``.

    Two 3x3 convolutions; the shortcut is the identity, or a strided 1x1 convolution with
    batch norm when the block changes the resolution or the width (He et al., CVPR 2016).
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet18Encoder(nn.Module):
    """ResNet-18 (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016),
    randomly initialised, as the encoder of the real data sets' modalities (OGM-GE, PMR, MMPareto...).

    ``conv 7x7/2 (in_channels -> 64) -> maxpool 3x3/2 -> 4 stages of 2 BasicBlocks
    (64, 128/2, 256/2, 512/2) -> global average pool -> 512 features``. The first
    convolution takes ``in_channels`` inputs: 1 for a spectrogram (the authors' audio
    ResNet), 3 for a frame, ``3 * n_frames`` for frames stacked along channels. With
    ``out_dim != 512`` a linear layer and a ReLU map the 512 pooled features to ``out_dim``.
    Written here (torch only; no torchvision), with torchvision's initialisation: Kaiming-normal
    convolutions (fan-out), batch norms at weight 1 and bias 0.
    """

    WIDTHS = (64, 128, 256, 512)

    def __init__(self, in_channels: int, out_dim: int = 512) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        stages, width = [], 64
        for i, channels in enumerate(self.WIDTHS):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(width, channels, stride), BasicBlock(channels, channels)))
            width = channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.project: nn.Module = nn.Identity() if out_dim == width else nn.Sequential(nn.Linear(width, out_dim),
                                                                                         nn.ReLU())
        self.out_dim = out_dim
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.pool(self.stages(self.stem(x))))


#: Encoder choices: ``auto`` (an MLP for vectors, the small CNN for images) or ``resnet18`` (ResNet-18 for images).
ENCODERS = ("auto", "resnet18")


def encoder_for(shape: tuple[int, ...], out_dim: int = 32, encoder: str = "auto") -> nn.Module:
    """An MLP for a feature vector ``(d,)``; for an image-like ``(C, H, W)`` input the small
    :class:`ConvEncoder` (``encoder="auto"``) or :class:`ResNet18Encoder` (``encoder="resnet18"``)."""
    if encoder not in ENCODERS:
        raise KeyError(f"unknown encoder {encoder!r}; valid encoders: {list(ENCODERS)}")
    if len(shape) == 1:
        return MLPEncoder(shape[0], out_dim)
    if len(shape) == 3:
        return ResNet18Encoder(shape[0], out_dim) if encoder == "resnet18" else ConvEncoder(shape[0], out_dim)
    raise ValueError(f"no encoder for inputs of shape {shape}; expected (d,) or (C, H, W)")


class ConcatFusion(nn.Module):
    """One linear layer on the concatenated features; per-modality logits are its column slices."""

    def __init__(self, dims: Mapping[str, int], n_classes: int) -> None:
        super().__init__()
        self.dims = dict(dims)
        self.linear = nn.Linear(sum(self.dims.values()), n_classes)

    def weight_slices(self) -> dict[str, Tensor]:
        """``W_m``: the columns of the head that read modality ``m``."""
        slices, start = {}, 0
        for m, d in self.dims.items():
            slices[m] = self.linear.weight[:, start:start + d]
            start += d
        return slices

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        bias_share = self.linear.bias / len(self.dims)
        logits = {m: features[m] @ w.T + bias_share for m, w in self.weight_slices().items()}
        return self.linear(torch.cat([features[m] for m in self.dims], dim=1)), logits


class SumFusion(nn.Module):
    """One linear layer per modality, logits summed: ``fused = sum_m (W_m h_m + b_m)``."""

    def __init__(self, dims: Mapping[str, int], n_classes: int) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({m: nn.Linear(d, n_classes) for m, d in dims.items()})

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        logits = {m: head(features[m]) for m, head in self.heads.items()}
        return torch.stack(list(logits.values())).sum(0), logits


class GatedFusion(nn.Module):
    """Concatenation fusion whose modalities are weighted per sample by learned gates.

    ``g = sigmoid(V [h_1; ...; h_M] + c)`` gives one gate per modality, and
    ``logits[m] = g_m * (W_m h_m) + b / M``, so ``fused = sum_m logits[m]`` still holds.
    """

    def __init__(self, dims: Mapping[str, int], n_classes: int) -> None:
        super().__init__()
        self.concat = ConcatFusion(dims, n_classes)
        self.gate = nn.Linear(sum(dims.values()), len(dims))

    def forward(self, features: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        names = list(self.concat.dims)
        gates = torch.sigmoid(self.gate(torch.cat([features[m] for m in names], dim=1)))
        bias_share = self.concat.linear.bias / len(names)
        logits = {m: gates[:, i:i + 1] * (features[m] @ w.T) + bias_share
                  for i, (m, w) in enumerate(self.concat.weight_slices().items())}
        return torch.stack(list(logits.values())).sum(0), logits


FUSIONS = {"concat": ConcatFusion, "sum": SumFusion, "gated": GatedFusion}


class MultimodalModel(nn.Module):
    """Encoders (one per modality) followed by a fusion head.

    ``model(batch)`` (or ``model(x_dict)``) returns an :class:`Output`. The two
    halves are public so methods can act between them: ``model.encode(x)`` gives
    the features, ``model.fuse(features)`` the :class:`Output` — e.g. to drop a
    modality's features (OPM) or evaluate a subset of modalities (Shapley).
    """

    def __init__(self, encoders: Mapping[str, nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(dict(encoders))
        self.head = head

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def encode(self, x: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {m: encoder(x[m]) for m, encoder in self.encoders.items()}

    def fuse(self, features: Mapping[str, Tensor]) -> Output:
        fused, logits = self.head(features)
        return Output(fused, logits, dict(features))

    def forward(self, batch: Batch | Mapping[str, Tensor]) -> Output:
        x = batch.x if isinstance(batch, Batch) else batch
        return self.fuse(self.encode(x))


def build_model(data: MultimodalDataset, fusion: str = "concat", feature_dim: int = 32,
                modalities: list[str] | None = None, encoder: str = "auto") -> MultimodalModel:
    """A model for ``data``: an encoder per modality (by input shape, :func:`encoder_for`) and a fusion head.

    ``encoder="resnet18"`` gives image-like modalities (spectrograms, frames) a ResNet-18
    (:class:`ResNet18Encoder`, the seed papers' encoder for CREMA-D and Kinetics-Sounds);
    use ``feature_dim=512`` for the authors' 512 features per modality.
    """
    if fusion not in FUSIONS:
        raise KeyError(f"unknown fusion {fusion!r}; valid fusions: {sorted(FUSIONS)}")
    if encoder not in ENCODERS:
        raise KeyError(f"unknown encoder {encoder!r}; valid encoders: {list(ENCODERS)}")
    names = modalities or data.modality_names
    shapes = data.input_shapes
    unknown = [m for m in names if m not in shapes]
    if unknown:
        raise KeyError(f"unknown modalities {unknown}; valid: {list(shapes)}")
    encoders = {m: encoder_for(shapes[m], feature_dim, encoder) for m in names}
    head = FUSIONS[fusion]({m: feature_dim for m in names}, data.n_classes)
    return MultimodalModel(encoders, head)


# -- builders for models whose modalities differ in width or scale (chapter 10) ---------------------

class Rescale(nn.Module):
    """Multiplies features by a fixed factor (a buffer): ``h -> scale * h``.

    Used to put every modality's features on one scale (``scale = 1 / sqrt(E||h_m||^2)``)
    or to create a scale disparity on purpose.
    """

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, h: Tensor) -> Tensor:
        return h * self.scale


def model_with_dims(data: MultimodalDataset, dims: Mapping[str, int],
                    scales: Mapping[str, float] | None = None) -> MultimodalModel:
    """A concatenation-fusion model whose modalities have *different* feature dimensions ``dims``.

    With ``scales``, modality m's encoder output is multiplied by ``scales[m]``
    (:class:`Rescale`, appended to the encoder). Only the modalities in ``dims`` are used;
    pass ``functools.partial(model_with_dims, dims=..., scales=...)`` as ``build=`` to
    :func:`mmlib.train.run`.
    """
    unknown = [m for m in dims if m not in data.input_shapes]
    if unknown:
        raise KeyError(f"unknown modalities {unknown}; valid: {data.modality_names}")
    scales = scales or {}
    encoders: dict[str, nn.Module] = {m: encoder_for(data.input_shapes[m], d) for m, d in dims.items()}
    encoders = {m: nn.Sequential(e, Rescale(scales[m])) if m in scales else e for m, e in encoders.items()}
    return MultimodalModel(encoders, ConcatFusion(dims, data.n_classes))


def head_model(features: MultimodalDataset) -> MultimodalModel:
    """A decision layer alone: identity encoders and a fresh concatenation head over ``features``.

    ``features`` holds one ``(N, d_m)`` feature matrix per modality (e.g. frozen encoders'
    outputs, :func:`mmlib.studies.decision_layer.feature_dataset`); training this model is
    training the decision layer on those features.
    """
    shapes = features.input_shapes
    flat = [m for m, s in shapes.items() if len(s) != 1]
    if flat:
        raise ValueError(f"head_model needs feature vectors (N, d) per modality; {flat} have shapes "
                         f"{[shapes[m] for m in flat]}")
    dims = {m: int(s[0]) for m, s in shapes.items()}
    return MultimodalModel({m: nn.Identity() for m in dims}, ConcatFusion(dims, features.n_classes))
