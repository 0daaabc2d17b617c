"""A tiny multimodal fusion transformer, and the attention imbalance RollingQ measures.

Chapter 8 needs a model whose fusion is *dynamic*: attention decides, sample by
sample, how much each modality counts. This module builds the smallest such model
that still shows the phenomenon of Ni et al., "RollingQ: Reviving the Cooperation
Dynamics in Multimodal Transformer" (ICML 2025):

1. **Tokens.** Every modality becomes a sequence of tokens (:func:`to_tokens`): a
   spectrogram ``(C, F, T)`` gives one token per time frame (a column, ``C*F``
   numbers), an image ``(C, H, W)`` one token per column, a feature vector ``(d,)``
   one token per chunk of ``chunk`` numbers (zero-padded).
2. **Unimodal encoders** (:class:`TokenEncoder`): a linear embedding, a learned
   position embedding and one pre-norm transformer layer per modality.
3. **Fusion by one query** (:class:`QueryAttentionFusion`): a learned class token
   ``c`` gives the query ``q = R W_Q c`` (``R`` is a rotation, the identity until
   RollingQ turns it), every token ``x_j`` of every modality a key ``k_j = W_K x_j``
   and a value ``v_j = W_V x_j``, and

       a_j = softmax_j(q . k_j / sqrt(d)),     o_m = sum_{j in m} a_j v_j,
       logits[m] = W o_m + b / M,              fused = sum_m logits[m] = W (sum_m o_m) + b.

   The head reads the attention output linearly, so the course's additive
   decomposition (DESIGN.md §3) holds *exactly*: ``features[m] = o_m`` is what the
   fused representation holds from modality ``m`` (its values, weighted by the
   attention it received) and ``logits[m]`` is its share of the fused logits.
   A real ViT-style fusion block adds a residual and an MLP after attention; we leave
   them out so that per-modality logits stay exact (a deliberate simplification).

The **attention imbalance ratio** (AIR) of RollingQ compares the query's cosine
affinity to each modality's mean key:

    AIR = E_x [ cos(q, kbar_a(x)) - cos(q, kbar_v(x)) ],   kbar_m(x) = mean_{j in m} k_j(x).

AIR > 0: the query points at modality ``a``'s keys, so ``a`` gets more attention,
hence larger gradients, hence keys that fit the query even better — the
self-reinforcing loop the paper describes.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import Batch, MultimodalDataset
from .models import MultimodalModel, Output, evaluating

# -- tokens -------------------------------------------------------------------------------------


def token_shape(shape: tuple[int, ...], chunk: int = 8) -> tuple[int, int]:
    """``(number of tokens, token size)`` for one sample of input shape ``shape``."""
    if len(shape) == 3:
        c, h, w = shape
        return w, c * h
    if len(shape) == 1:
        return math.ceil(shape[0] / chunk), chunk
    raise ValueError(f"no tokenizer for inputs of shape {shape}; expected (d,) or (C, H, W)")


def to_tokens(x: Tensor, chunk: int = 8) -> Tensor:
    """Cut a batch of inputs into token sequences ``(N, T, D)``.

    ``(N, C, H, W)`` -> one token per column ``w`` (for a log-spectrogram, a time
    frame), ``D = C*H``; ``(N, d)`` -> ``ceil(d / chunk)`` tokens of ``chunk``
    numbers, the last one zero-padded.
    """
    if x.dim() == 4:
        n, c, h, w = x.shape
        return x.permute(0, 3, 1, 2).reshape(n, w, c * h)
    if x.dim() == 2:
        n, d = x.shape
        pad = (-d) % chunk
        return F.pad(x, (0, pad)).reshape(n, (d + pad) // chunk, chunk)
    raise ValueError(f"cannot tokenize a tensor of shape {tuple(x.shape)}; expected (N, d) or (N, C, H, W)")


class TokenEncoder(nn.Module):
    """One modality's encoder: tokens -> linear embedding + position -> one transformer layer."""

    def __init__(self, input_shape: tuple[int, ...], dim: int = 32, heads: int = 2, chunk: int = 8) -> None:
        super().__init__()
        n_tokens, token_dim = token_shape(input_shape, chunk)
        self.chunk = chunk
        self.embed = nn.Linear(token_dim, dim)
        self.position = nn.Parameter(0.02 * torch.randn(n_tokens, dim))
        self.layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0,
                                                batch_first=True, norm_first=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(self.embed(to_tokens(x, self.chunk)) + self.position)


# -- the fusion attention -------------------------------------------------------------------------


@dataclass
class Attention:
    """What the fusion query saw for a batch: per-modality attention weights and mean keys.

    ``weights[m]`` is ``(N, T_m)`` (all modalities together sum to 1 per sample),
    ``mean_keys[m]`` is ``(N, d)``, ``query`` is ``(d,)``.
    """

    query: Tensor
    weights: dict[str, Tensor]
    mean_keys: dict[str, Tensor]

    def mass(self) -> dict[str, Tensor]:
        """Attention mass per modality and sample, ``(N,)`` each."""
        return modality_attention_mass(self.weights)


class QueryAttentionFusion(nn.Module):
    """A learned class-token query attends over all tokens; a linear head reads the result.

    ``rotation`` is a ``(d, d)`` buffer (identity at start) applied to the query:
    ``q = rotation @ W_Q c``. RollingQ replaces it by a rotation that turns the query
    toward the keys of the modality it neglects; gradients still flow to ``W_Q`` and ``c``.
    """

    def __init__(self, modalities: list[str], dim: int, n_classes: int) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.dim = dim
        self.cls = nn.Parameter(torch.randn(dim))
        self.w_q = nn.Linear(dim, dim, bias=False)
        self.w_k = nn.Linear(dim, dim, bias=False)
        self.w_v = nn.Linear(dim, dim, bias=False)
        self.linear = nn.Linear(dim, n_classes)
        self.register_buffer("rotation", torch.eye(dim))

    def query(self) -> Tensor:
        """The (rotated) query of the class token, ``(d,)``."""
        return self.rotation @ self.w_q(self.cls)

    def attend(self, tokens: Mapping[str, Tensor]) -> tuple[Attention, dict[str, Tensor]]:
        """Attention weights over all tokens and each modality's contribution ``o_m`` ``(N, d)``."""
        names = [m for m in self.modalities if m in tokens]
        if not names:
            raise ValueError(f"no tokens for any of the modalities {self.modalities}")
        q = self.query()
        keys = {m: self.w_k(tokens[m]) for m in names}
        scores = torch.cat([keys[m] @ q for m in names], dim=1) / math.sqrt(self.dim)
        weights_all = torch.softmax(scores, dim=1)
        weights = dict(zip(names, weights_all.split([tokens[m].shape[1] for m in names], dim=1)))
        contributions = {m: torch.einsum("nt,ntd->nd", weights[m], self.w_v(tokens[m])) for m in names}
        mean_keys = {m: k.mean(dim=1) for m, k in keys.items()}
        return Attention(q, weights, mean_keys), contributions

    def read(self, contributions: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Linear head on the contributions: ``logits[m] = W o_m + b/M``, ``fused = sum``."""
        bias_share = self.linear.bias / len(self.modalities)
        logits = {m: contributions[m] @ self.linear.weight.T + bias_share for m in self.modalities}
        return torch.stack(list(logits.values())).sum(0), logits


class FusionTransformer(MultimodalModel):
    """Token encoders per modality and a query-attention fusion head (see the module docstring).

    ``encode(x)`` returns token sequences ``(N, T_m, d)``. ``fuse(...)`` accepts either
    those token sequences (it runs the attention) or the per-modality contributions
    ``o_m`` ``(N, d)`` that ``Output.features`` holds (it only applies the linear head),
    so course tools that zero a modality's features (Shapley, ``subset_output``) remove
    exactly that modality's share of the fused logits, as for concatenation fusion.
    """

    head: QueryAttentionFusion

    def fuse(self, features: Mapping[str, Tensor]) -> Output:
        if all(f.dim() == 3 for f in features.values()):
            _, contributions = self.head.attend(features)
        elif all(f.dim() == 2 for f in features.values()):
            contributions = dict(features)
        else:
            raise ValueError("fuse() takes token sequences (N, T, d) or contributions (N, d), not a mix")
        fused, logits = self.head.read(contributions)
        return Output(fused, logits, contributions)

    def attention(self, batch: Batch | Mapping[str, Tensor]) -> Attention:
        """The fusion query's attention on a batch (no training-mode side effects)."""
        x = batch.x if isinstance(batch, Batch) else batch
        attention, _ = self.head.attend(self.encode(x))
        return attention


def build_transformer(data: MultimodalDataset, dim: int = 32, heads: int = 2, chunk: int = 8,
                      modalities: list[str] | None = None) -> FusionTransformer:
    """A :class:`FusionTransformer` for ``data``: one token encoder per modality, a query fusion head.

    Train it through :func:`mmlib.train.run` with ``build=functools.partial(build_transformer,
    dim=...)``, and with Adam (``optimizer="adam", lr=2e-3``): transformers train badly with
    the course's SGD default. :class:`AttentionTrace` records the attention per epoch.
    """
    names = modalities or data.modality_names
    shapes = data.input_shapes
    unknown = [m for m in names if m not in shapes]
    if unknown:
        raise KeyError(f"unknown modalities {unknown}; valid: {list(shapes)}")
    encoders = {m: TokenEncoder(shapes[m], dim, heads, chunk) for m in names}
    return FusionTransformer(encoders, QueryAttentionFusion(names, dim, data.n_classes))


# -- measuring the attention ---------------------------------------------------------------------


def modality_attention_mass(weights: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``sum_{j in m} a_j`` per sample: how much of the query's attention modality ``m`` gets."""
    return {m: w.sum(dim=1) for m, w in weights.items()}


def attention_imbalance_ratio(query: Tensor, mean_keys_a: Tensor, mean_keys_b: Tensor) -> float:
    """RollingQ's AIR: ``mean_x [cos(q, kbar_a(x)) - cos(q, kbar_b(x))]``, in ``[-2, 2]``.

    ``query`` is ``(d,)`` (or ``(N, d)``, one per sample); ``mean_keys_*`` are ``(N, d)``.
    Positive: the query is closer to modality a's keys. A zero key has cosine 0.
    """
    if mean_keys_a.shape != mean_keys_b.shape:
        raise ValueError(f"mean keys must have the same shape, got {tuple(mean_keys_a.shape)} "
                         f"and {tuple(mean_keys_b.shape)}")
    q = query.expand_as(mean_keys_a)
    cos_a = F.cosine_similarity(q, mean_keys_a, dim=-1, eps=1e-12)
    cos_b = F.cosine_similarity(q, mean_keys_b, dim=-1, eps=1e-12)
    return float((cos_a - cos_b).mean())


def attention_on(model: FusionTransformer, data: MultimodalDataset, split: str,
                 batch_size: int = 1024) -> Attention:
    """The model's fusion attention on a whole split (evaluation mode)."""
    if not isinstance(model, FusionTransformer):
        raise TypeError(f"attention_on needs a FusionTransformer (mmlib.transformer.build_transformer), "
                        f"got {type(model).__name__}")
    with evaluating(model):
        parts = [model.attention(batch) for batch in data.batches(split, batch_size)]
    names = list(parts[0].weights)
    return Attention(parts[0].query,
                     {m: torch.cat([p.weights[m] for p in parts]) for m in names},
                     {m: torch.cat([p.mean_keys[m] for p in parts]) for m in names})


@torch.no_grad()
def attention_summary(model: FusionTransformer, data: MultimodalDataset, split: str = "val",
                      pair: tuple[str, str] | None = None) -> dict[str, float]:
    """``air`` (for the first two modalities, or ``pair``) and ``attention_<m>`` (mean mass) on a split."""
    attention = attention_on(model, data, split)
    a, b = pair or tuple(list(attention.weights)[:2])
    summary = {"air": attention_imbalance_ratio(attention.query, attention.mean_keys[a], attention.mean_keys[b])}
    summary.update({f"attention_{m}": float(mass.mean()) for m, mass in attention.mass().items()})
    return summary


class AttentionTrace:
    """A :func:`mmlib.train.fit` callback recording :func:`attention_summary` after every epoch.

    Pass one trace as ``callback=`` to :func:`mmlib.train.run` or
    :func:`mmlib.experiment.compare` (it tells runs apart by their model), then
    ``trace.annotate(run)`` adds ``<split>_air`` and ``<split>_attention_<m>`` to every
    epoch's record of that run's history, measured on ``split`` after the epoch (hence
    after any RollingQ rotation)::

        trace = AttentionTrace("val")
        table, runs = compare(datasets, methods, seeds, keep_runs=True, callback=trace,
                              build=partial(build_transformer, dim=32), optimizer="adam", lr=2e-3)
        for r in runs.values():
            trace.annotate(r)
    """

    def __init__(self, split: str = "val") -> None:
        self.split = split
        self._by_model: weakref.WeakKeyDictionary[nn.Module, list[dict[str, float]]] = weakref.WeakKeyDictionary()

    def __call__(self, state: Any) -> None:
        self._by_model.setdefault(state.model, []).append(attention_summary(state.model, state.data, self.split))

    def annotate(self, run: Any) -> Any:
        """Add the recorded summaries to ``run.history``'s per-epoch records; returns ``run``."""
        trace = self._by_model.get(run.model)
        if trace is None:
            raise KeyError("this run was not trained with this AttentionTrace as its callback")
        if len(trace) != len(run.history.records):
            raise ValueError(f"the trace holds {len(trace)} epochs, the history {len(run.history.records)}")
        for record, extra in zip(run.history.records, trace):
            record.update({f"{self.split}_{k}": v for k, v in extra.items()})
        return run
