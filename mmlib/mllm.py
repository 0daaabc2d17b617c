"""A tiny multimodal language model: text dominance under LoRA, and MokA.

Paper: Wei, Miao, Zhou, Hu, "MokA: Multimodal Low-Rank Adaptation for MLLMs",
NeurIPS 2025, https://arxiv.org/abs/2506.05191 (authors as on the paper's arXiv page and
project page, gewu-lab.github.io/MokA). Everything here is built in the course, nothing is
downloaded:

1. **A tiny causal language model** (:class:`TinyLM`, two pre-norm blocks, d = 32)
   pre-trained with next-token prediction on a synthetic text task
   (:func:`pretraining_text`): ``<bos> w <opt> c_i c_j <ans> c_k``, where the word
   ``w`` says which of the two listed classes is the answer (an even word: the first,
   an odd word: the second). The pre-trained model has one "skill": reading the hint
   word to pick an option.
2. **A multimodal task** (:func:`build_task`): the same prompt, prefixed by the 16
   rows of a synthetic image as visual tokens (a trainable linear projector maps
   them into the word-embedding space, as in LLaVA-style MLLMs). The options are the
   image's true class and a random distractor; the hint word now points at the true
   class only with probability ``hint`` (default 0.7). Text alone thus gets ~``hint``,
   the image breaks the tie — a model that uses both can beat either.
3. **Adaptation** with the language model frozen and the projector trained:
   plain **LoRA** (:class:`LowRankAdapter` with one shared ``A``) on the q, k, v, o
   projections, versus **MokA** (same class, ``multimodal=True``):

       LoRA:  h_i = W0 x_i + s * B A x_i
       MokA:  r_i = s * A_{m(i)} x_i                                   (modality-specific A)
              r_i <- r_i + w * sum_{j in question} softmax_j(r_i . r_j / sqrt(r)) r_j
                                                                 for visual tokens i
              h_i = W0 x_i + B r_i                                        (shared B)

   with ``s = alpha / r``, ``w = 1`` and ``B = 0`` at start. As in the authors' code, the
   **visual tokens are the queries** and the question's text tokens the keys and values:
   each image token gathers the question in the low-rank space, the result is added back
   to the image token with the weight ``w``, and text tokens keep their own code.
   ``direction="text_queries_visual"`` selects the reverse (text queries, visual keys and
   values), the rule this course used before it was checked against the authors' code.

   *Causality.* The visual tokens come first in the sequence, so an image token that
   reads the question reads tokens that come after it. That is sound here for the same
   reason it is in the authors' setting: the question is the prompt, given in full before
   anything is generated, and only the answer is predicted. The keys are the **question
   tokens only** (``question_length``; by default the whole prompt): a token after the
   question (an answer token fed back in) is never a key, text tokens never attend
   forward, and the self-attention stays causal. So the logits at the question's last
   position and after depend on no later token (``tests/test_mllm.py`` checks this);
   positions inside the prompt do see the whole prompt, which matters for nothing this
   model predicts. ``direction="text_queries_visual"`` is causal at every position.

Code compared: the authors' repository GeWu-Lab/MokA, commit
fa7ae3d68c492f2eecf447ea2c8524a11b798a90, file ``AudioVisualText/peft_hyper/tuners/lora.py``,
class ``Linear`` (``forward``, the ``train`` branch). Differences from it:

* *Direction*: the default follows theirs (visual queries, question keys/values, added
  to the visual codes times ``blc_weight``, here ``weight``, default 1 as in their
  ``ft_ave.sh``); the reverse is ``direction="text_queries_visual"``, kept as an option
  for comparison (the course's earlier rule).
* *Softmax temperature*: ``1/sqrt(r)`` as in that version (``self.d_k`` = the rank);
  another stored version of the same file (commit cd506450a4131eb027660d6bed97a678d5cfc1ba)
  divides by ``sqrt(N_t)``, the number of question tokens, instead (which of the two is
  the newer was not established from the stored copies). We keep ``sqrt(r)``,
  the usual attention scaling, which does not change with the prompt's length.
* *Where the LoRA scale sits*: as in their code, ``s = alpha / r`` multiplies the ``A``
  outputs *before* the cross-attention (it sharpens the softmax), and ``B`` is applied
  without a further scale.
* *The question*: their layer receives a question mask from their data pipeline (how
  it is built was not compared) and attends over the span from the question's first to
  its last token; our prompt is the question, so the keys are its six tokens
  (``question_length`` may shorten this).
  Batched with masks instead of their per-sample loop; the same numbers for a
  contiguous question.
* *Modalities*: one non-text modality (image rows) instead of their video and audio,
  each of which queries the question the same way.
* *Generation*: their later single-token decoding steps use the text ``A`` only; the
  course predicts one answer token in one forward pass, so there are no such steps.
* *Initialisation and regularisation*: ``A`` Gaussian with std ``1/sqrt(k)`` (theirs
  Kaiming-uniform), ``B = 0`` in both; no LoRA dropout (theirs 0.05); rank 4 and
  ``alpha = 8`` (their script: rank 4, ``alpha = 16``), on the q, k, v, o projections of
  both blocks (which of their LLM's layers are targeted was not compared).
* No extra projection parameters in the cross-attention, as in theirs: queries, keys and
  values are the low-rank codes themselves.

Diagnostics (the paper's Figure 1 and the survey's "text dominance"):
``accuracy`` with and without the visual tokens, the attention mass the answer
position puts on visual tokens, and *partial-modality adaptation*: the low-rank
update applied to text tokens only, or to visual tokens only.

Why this module trains outside :func:`mmlib.train.fit` (the deliberate exception to "one
loop"). :func:`pretrain` (next-token prediction on text), :func:`adapt` (fine-tuning
the adapters) and :func:`compare_adapters` (adapters x seeds) are this module's own
loops, and the only ones in the course besides ``fit``/``run``/``compare``:

* the model is a :class:`TinyMLLM`, not a :class:`~mmlib.models.MultimodalModel`. It has
  no per-modality logits whose sum is the fused output — text and image tokens are mixed
  by causal attention — so ``fit``'s per-epoch fused and per-modality accuracies, the
  methods' hooks and the Shapley columns of ``compare`` have nothing to read;
* the data is a :class:`MultimodalTask` (visual tokens + prompt ids, one answer token),
  not a :class:`~mmlib.data.MultimodalDataset`, and the loss is the answer token's
  cross-entropy over the vocabulary's class tokens;
* the chapter reports the *last* epoch's adapters (as the paper's fine-tuning does),
  where ``fit`` would select an epoch on the validation split.

Wrapping a TinyMLLM into a MultimodalModel with made-up per-modality logits to pass
through ``fit`` would misstate what is measured. The loops stay small and seeded:
``adapt`` seeds the adapters' initialisation and the batch order with its ``seed``;
``compare_adapters`` returns one row per (adapter, seed) in the course's table layout
(``dataset``, ``method``, ``seed``), so :mod:`mmlib.results` judges it like any other.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import MultimodalDataset
from .models import evaluating

if TYPE_CHECKING:
    import pandas as pd

TEXT, VISUAL = 0, 1
N_WORDS = 8
SPECIALS = ("<bos>", "<opt>", "<ans>")
GROUPS = ("image", "hint")  # the token groups of the prompt that carry evidence (see group_positions)
HINT_INDEX = 1  # the hint word's index in the prompt <bos> w <opt> c_i c_j <ans>


# -- vocabulary and data ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Vocabulary:
    """Token ids: the class tokens first, then the hint words, then ``<bos> <opt> <ans>``."""

    n_classes: int

    @property
    def size(self) -> int:
        return self.n_classes + N_WORDS + len(SPECIALS)

    def word(self, i: Tensor | int) -> Tensor | int:
        return self.n_classes + i

    def special(self, name: str) -> int:
        if name not in SPECIALS:
            raise KeyError(f"unknown special token {name!r}; valid: {SPECIALS}")
        return self.n_classes + N_WORDS + SPECIALS.index(name)


def prompts(vocab: Vocabulary, first: Tensor, second: Tensor, words: Tensor) -> Tensor:
    """``<bos> w <opt> c_first c_second <ans>`` for every sample, ``(N, 6)``."""
    n = len(first)
    col = lambda v: torch.full((n,), v, dtype=torch.long)  # noqa: E731
    return torch.stack([col(vocab.special("<bos>")), vocab.word(words), col(vocab.special("<opt>")),
                        first, second, col(vocab.special("<ans>"))], dim=1)


def _options(labels: Tensor, n_classes: int, hint: float, generator: torch.Generator
             ) -> tuple[Tensor, Tensor, Tensor]:
    """Two options (true class and a distractor, random order) and a hint word right w.p. ``hint``."""
    n = len(labels)
    distractor = (labels + torch.randint(1, n_classes, (n,), generator=generator)) % n_classes
    true_first = torch.rand(n, generator=generator) < 0.5
    first = torch.where(true_first, labels, distractor)
    second = torch.where(true_first, distractor, labels)
    hint_right = torch.rand(n, generator=generator) < hint
    points_first = torch.where(hint_right, true_first, ~true_first)
    words = 2 * torch.randint(0, N_WORDS // 2, (n,), generator=generator) + (~points_first).long()
    return first, second, words


def pretraining_text(n: int, n_classes: int, seed: int = 0) -> Tensor:
    """Text-only pre-training sequences ``<bos> w <opt> c_i c_j <ans> c_k`` (``(n, 7)``), hint always right."""
    generator = torch.Generator().manual_seed(seed)
    vocab = Vocabulary(n_classes)
    answers = torch.randint(0, n_classes, (n,), generator=generator)
    first, second, words = _options(answers, n_classes, 1.0, generator)
    return torch.cat([prompts(vocab, first, second, words), answers[:, None]], dim=1)


@dataclass
class MultimodalTask:
    """The adaptation task: image tokens + prompt -> answer class token."""

    visual: Tensor          # (N, T, D) visual tokens before projection (image rows)
    text: Tensor            # (N, 6) prompt token ids
    labels: Tensor          # (N,) true class (= answer token id)
    hint_right: Tensor      # (N,) bool: does the hint word point at the true class?
    splits: dict[str, Tensor]
    vocab: Vocabulary
    hint: float


def build_task(data: MultimodalDataset, modality: str = "visual", hint: float = 0.7, seed: int = 0
               ) -> MultimodalTask:
    """The multimodal task on ``data``'s ``modality`` (rows of an image or frames of a spectrogram)."""
    if modality not in data.modalities:
        raise KeyError(f"unknown modality {modality!r}; valid: {data.modality_names}")
    if not 0.0 <= hint <= 1.0:
        raise ValueError(f"hint must lie in [0, 1], got {hint}")
    x = data.modalities[modality]
    if x.dim() != 4:
        raise ValueError(f"build_task needs an image-like modality (N, C, H, W), got shape {tuple(x.shape)}")
    generator = torch.Generator().manual_seed(seed)
    vocab = Vocabulary(data.n_classes)
    first, second, words = _options(data.labels, data.n_classes, hint, generator)
    points_first = words % 2 == 0
    hint_right = torch.where(points_first, first == data.labels, second == data.labels)
    tokens = x.permute(0, 2, 1, 3).reshape(len(x), x.shape[2], -1)  # one token per row
    return MultimodalTask(tokens, prompts(vocab, first, second, words), data.labels.clone(), hint_right,
                          dict(data.splits), vocab, hint)


def group_positions(n_visual: int, text_length: int) -> dict[str, Tensor]:
    """Bool masks ``(S,)``, ``S = n_visual + text_length``, of the token groups in the MLLM's sequence.

    ``image``: the ``n_visual`` visual tokens (first); ``hint``: the hint word (prompt index
    :data:`HINT_INDEX`); ``question``: every other prompt token (``<bos> <opt> c_i c_j <ans>``),
    which Fork-Merge Decoding keeps in both branches. The three masks partition the sequence.
    """
    if n_visual < 0 or text_length <= HINT_INDEX:
        raise ValueError(f"need n_visual >= 0 and a prompt longer than {HINT_INDEX}, got {n_visual}, {text_length}")
    s = n_visual + text_length
    image = torch.arange(s) < n_visual
    hint = torch.arange(s) == n_visual + HINT_INDEX
    return {"image": image, "hint": hint, "question": ~image & ~hint}


# -- the low-rank pieces (pure) -------------------------------------------------------------------

def lora_delta(x: Tensor, a: Tensor, b: Tensor, scale: float) -> Tensor:
    """LoRA's update ``s * B A x`` for tokens ``x`` ``(..., k)``; ``A`` is ``(r, k)``, ``B`` is ``(d, r)``."""
    return scale * (x @ a.T) @ b.T


def modality_low_rank(x: Tensor, modality_ids: Tensor, a: Tensor) -> Tensor:
    """MokA's unimodal compression ``r_i = A_{m(i)} x_i``.

    ``x`` is ``(N, S, k)``, ``modality_ids`` ``(N, S)`` integers in ``[0, M)``, ``a`` is
    ``(M, r, k)`` (one ``A`` per modality). Returns the codes ``(N, S, r)``.
    """
    if a.dim() != 3:
        raise ValueError(f"a must hold one (r, k) matrix per modality, shape (M, r, k); got {tuple(a.shape)}")
    if modality_ids.shape != x.shape[:-1]:
        raise ValueError(f"modality_ids {tuple(modality_ids.shape)} must match the tokens {tuple(x.shape[:-1])}")
    if len(modality_ids) and (modality_ids.min() < 0 or modality_ids.max() >= a.shape[0]):
        raise ValueError(f"modality ids must lie in [0, {a.shape[0]}), got {modality_ids.unique().tolist()}")
    every = torch.einsum("nsk,mrk->nsmr", x, a)  # each token through every A (M is small)
    index = modality_ids[..., None, None].expand(*modality_ids.shape, 1, a.shape[1])
    return every.gather(2, index).squeeze(2)


DIRECTIONS = ("visual_queries_text", "text_queries_visual")


def low_rank_cross_attention(codes: Tensor, queries: Tensor, keys: Tensor, weight: float = 1.0) -> Tensor:
    """Cross-attention inside the low-rank space, without projection parameters.

    ``r_i <- r_i + weight * sum_{j in keys} softmax_j(r_i . r_j / sqrt(r)) r_j`` for every
    position ``i`` in ``queries`` (bool ``(N, S)``); the keys (bool ``(N, S)``) are also
    the values. Other positions are unchanged, and so is a query whose sample has no key.
    """
    if queries.shape != codes.shape[:-1] or keys.shape != codes.shape[:-1]:
        raise ValueError(f"queries {tuple(queries.shape)} and keys {tuple(keys.shape)} must match the codes "
                         f"{tuple(codes.shape[:-1])}")
    scores = codes @ codes.transpose(1, 2) / math.sqrt(codes.shape[-1])
    allowed = keys[:, None, :].expand_as(scores)
    scores = scores.masked_fill(~allowed, float("-inf"))
    has_key = allowed.any(dim=-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(~has_key, 0.0), dim=-1) * has_key
    return codes + weight * (weights @ codes) * queries[..., None]


def visual_to_text_attention(codes: Tensor, modality_ids: Tensor, question: Tensor | None = None,
                             weight: float = 1.0, text_id: int = TEXT) -> Tensor:
    """MokA's cross-attention as the authors coded it: non-text codes query the question's text codes.

    ``r_i <- r_i + weight * sum_{j in question} softmax_j(r_i . r_j / sqrt(r)) r_j`` for every
    non-text token ``i``; text codes are unchanged. ``question`` (bool ``(N, S)``, text
    positions only) marks the keys; ``None`` takes every text token. A sample without
    question tokens is unchanged.
    """
    is_text = modality_ids == text_id
    if question is None:
        question = is_text
    elif question.shape != modality_ids.shape:
        raise ValueError(f"question {tuple(question.shape)} must match the tokens {tuple(modality_ids.shape)}")
    elif (question & ~is_text).any():
        raise ValueError("question may only mark text tokens")
    return low_rank_cross_attention(codes, ~is_text, question, weight)


def text_to_modality_attention(codes: Tensor, modality_ids: Tensor, text_id: int = TEXT,
                               weight: float = 1.0, visible: Tensor | None = None) -> Tensor:
    """The reverse direction (``direction="text_queries_visual"``): text codes gather the other modalities' codes.

    ``r_i <- r_i + weight * sum_{j non-text} softmax_j(r_i . r_j / sqrt(r)) r_j`` for every
    text token ``i``; non-text tokens are unchanged. A sample without non-text tokens is
    unchanged. ``visible`` (bool ``(N, S)``, optional) removes the hidden tokens from the keys.
    """
    is_text = modality_ids == text_id
    keys = ~is_text if visible is None else ~is_text & visible
    return low_rank_cross_attention(codes, is_text, keys, weight)


# -- the language model ---------------------------------------------------------------------------

class TokenContext:
    """Shared by every adapter of one model: which modality each position holds, which get updates."""

    def __init__(self) -> None:
        self.modality_ids: Tensor | None = None
        self.question: Tensor | None = None  # bool (N, S): the question's text tokens (the keys of MokA's attention)
        self.adapted: set[int] | None = None  # None: every modality gets the low-rank update
        self.visible: Tensor | None = None  # bool (N, S): tokens hidden from attention (masking); None: all seen


class LowRankAdapter(nn.Module):
    """A frozen linear layer plus a low-rank update: LoRA (one A) or MokA (one A per modality + cross-attention).

    MokA's cross-attention (``cross_attention=True``) runs in ``direction``
    ``"visual_queries_text"`` (the authors': visual codes query the question's text codes,
    :func:`visual_to_text_attention`) or ``"text_queries_visual"`` (the reverse,
    :func:`text_to_modality_attention`); ``weight`` scales what it adds (their ``blc_weight``).
    """

    def __init__(self, base: nn.Linear, context: TokenContext, rank: int = 4, alpha: float = 8.0,
                 multimodal: bool = False, n_modalities: int = 2, cross_attention: bool = True,
                 direction: str = "visual_queries_text", weight: float = 1.0) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise KeyError(f"unknown direction {direction!r}; valid: {DIRECTIONS}")
        self.base, self.context = base, context
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.multimodal, self.cross_attention = multimodal, cross_attention
        self.direction, self.weight = direction, weight
        self.scale = alpha / rank
        n_a = n_modalities if multimodal else 1
        self.a = nn.Parameter(torch.randn(n_a, rank, base.in_features) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: Tensor) -> Tensor:
        ids = self.context.modality_ids
        if ids is None or ids.shape != x.shape[:-1]:
            raise RuntimeError("the adapter needs the token modalities: call TinyMLLM, not the bare layer")
        if self.multimodal:
            codes = self.scale * modality_low_rank(x, ids, self.a)  # scaled before the attention, as theirs
            visible, question = self.context.visible, self.context.question
            if visible is not None:  # a hidden token is no key of the low-rank attention either
                question = (ids == TEXT if question is None else question) & visible
            if self.cross_attention and self.direction == "visual_queries_text":
                codes = visual_to_text_attention(codes, ids, question, self.weight)
            elif self.cross_attention:
                codes = text_to_modality_attention(codes, ids, weight=self.weight, visible=visible)
            delta = codes @ self.b.T
        else:
            delta = lora_delta(x, self.a[0], self.b, self.scale)
        if self.context.adapted is not None:
            keep = torch.zeros_like(ids, dtype=torch.bool)
            for m in self.context.adapted:
                keep |= ids == m
            delta = delta * keep[..., None]
        return self.base(x) + delta


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with explicit q, k, v, o projections (so adapters can wrap them)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.last_weights: Tensor | None = None

    def forward(self, x: Tensor, visible: Tensor | None = None) -> Tensor:
        """Causal attention; ``visible`` (bool ``(N, S)``, optional) hides the keys marked False.

        A hidden position is read by no other position; it still reads itself (and the
        visible positions before it), so its own state stays finite. ``None``: every key.
        """
        n, s, d = x.shape
        split = lambda t: t.view(n, s, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        causal = torch.ones(s, s, dtype=torch.bool, device=x.device).tril()
        if visible is not None:
            if visible.shape != (n, s):
                raise ValueError(f"visible {tuple(visible.shape)} must be (N, S) = {(n, s)}")
            eye = torch.eye(s, dtype=torch.bool, device=x.device)
            causal = (causal & visible[:, None, None, :]) | eye  # (N, 1, S, S), broadcast over heads
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        self.last_weights = weights.detach().mean(dim=1)  # (N, S, S), averaged over heads
        return self.o((weights @ v).transpose(1, 2).reshape(n, s, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = CausalSelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, visible: Tensor | None = None) -> Tensor:
        x = x + self.attention(self.norm1(x), visible)
        return x + self.mlp(self.norm2(x))


class TinyLM(nn.Module):
    """A tiny causal transformer language model; ``prefix`` embeddings may precede the text."""

    def __init__(self, vocab_size: int, dim: int = 32, layers: int = 2, heads: int = 2, max_len: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.position = nn.Parameter(0.02 * torch.randn(max_len, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.unembed = nn.Linear(dim, vocab_size, bias=False)

    def embed_tokens(self, text: Tensor, prefix: Tensor | None = None) -> Tensor:
        """The input hidden states ``(N, P + L, d)``: prefix embeddings, then the text's word + position embeddings."""
        h = self.embed(text) + self.position[: text.shape[1]]
        return h if prefix is None else torch.cat([prefix, h], dim=1)

    def run_blocks(self, h: Tensor, start: int = 0, stop: int | None = None, visible: Tensor | None = None
                   ) -> Tensor:
        """Hidden states after blocks ``start .. stop - 1`` (all by default), with optional key mask ``visible``."""
        for block in self.blocks[start:stop]:
            h = block(h, visible)
        return h

    def head(self, h: Tensor) -> Tensor:
        """Next-token logits from hidden states: final LayerNorm, then the unembedding."""
        return self.unembed(self.norm(h))

    def forward(self, text: Tensor, prefix: Tensor | None = None) -> Tensor:
        """Next-token logits ``(N, P + L, V)`` for text ``(N, L)`` after prefix embeddings ``(N, P, d)``."""
        return self.head(self.run_blocks(self.embed_tokens(text, prefix)))


def pretrain(vocab: Vocabulary, steps: int = 300, batch_size: int = 128, lr: float = 3e-3, dim: int = 32,
             seed: int = 0, layers: int = 2) -> tuple[TinyLM, list[float]]:
    """Pre-train a :class:`TinyLM` with ``layers`` blocks on :func:`pretraining_text` (next-token loss).

    Returns the model and the losses. ``layers=4`` gives Fork-Merge Decoding
    (:mod:`mmlib.forkmerge`) fork depths strictly between none and all.
    """
    if layers < 1:
        raise ValueError(f"layers must be a positive integer, got {layers}")
    torch.manual_seed(seed)
    model = TinyLM(vocab.size, dim=dim, layers=layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    text = pretraining_text(steps * batch_size, vocab.n_classes, seed)
    losses = []
    for step in range(steps):
        seq = text[step * batch_size:(step + 1) * batch_size]
        logits = model(seq[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab.size), seq[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


# -- the multimodal model -------------------------------------------------------------------------

ADAPTED = ("q", "k", "v", "o")


class TinyMLLM(nn.Module):
    """A frozen :class:`TinyLM`, a trainable projector for the visual tokens, low-rank adapters."""

    def __init__(self, lm: TinyLM, visual_dim: int, n_visual: int, adapter: str = "lora", rank: int = 4,
                 alpha: float = 8.0, direction: str = "visual_queries_text", weight: float = 1.0) -> None:
        super().__init__()
        kinds = ("lora", "moka", "moka_no_cross", "none")
        if adapter not in kinds:
            raise KeyError(f"unknown adapter {adapter!r}; valid: {kinds}")
        if direction not in DIRECTIONS:
            raise KeyError(f"unknown direction {direction!r}; valid: {DIRECTIONS}")
        self.lm = lm
        for p in self.lm.parameters():
            p.requires_grad_(False)
        dim = lm.embed.embedding_dim
        self.projector = nn.Linear(visual_dim, dim)
        self.visual_position = nn.Parameter(0.02 * torch.randn(n_visual, dim))
        self.context = TokenContext()
        self.adapter = adapter
        if adapter != "none":
            for block in self.lm.blocks:
                for name in ADAPTED:
                    wrapped = LowRankAdapter(getattr(block.attention, name), self.context, rank, alpha,
                                             multimodal=adapter.startswith("moka"),
                                             cross_attention=adapter == "moka", direction=direction,
                                             weight=weight)
                    setattr(block.attention, name, wrapped)

    def inputs(self, visual: Tensor | None, text: Tensor, question_length: int | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
        """The input hidden states ``(N, S, d)``, each position's modality id and the question mask ``(N, S)``.

        See :meth:`sequence_logits` for ``question_length``; run the blocks inside :meth:`tokens`.
        """
        n, length = text.shape
        q = length if question_length is None else question_length
        if not 0 <= q <= length:
            raise ValueError(f"question_length must lie in [0, {length}], got {question_length}")
        if visual is None:
            prefix, ids = None, torch.full(text.shape, TEXT, dtype=torch.long)
        else:
            prefix = self.projector(visual) + self.visual_position
            ids = torch.cat([torch.full(visual.shape[:2], VISUAL, dtype=torch.long),
                             torch.full(text.shape, TEXT, dtype=torch.long)], dim=1)
        start = ids.shape[1] - length
        question = torch.zeros(ids.shape, dtype=torch.bool)
        question[:, start:start + q] = True
        return self.lm.embed_tokens(text, prefix), ids, question

    @contextmanager
    def tokens(self, ids: Tensor, question: Tensor, visible: Tensor | None = None) -> Iterator[None]:
        """Tell the adapters the tokens' modalities, the question and the hidden tokens while blocks run."""
        self.context.modality_ids, self.context.question, self.context.visible = ids, question, visible
        try:
            yield
        finally:
            self.context.modality_ids, self.context.question, self.context.visible = None, None, None

    def sequence_logits(self, visual: Tensor | None, text: Tensor, question_length: int | None = None) -> Tensor:
        """Next-token logits at every position, ``(N, P + L, V)``; ``visual=None`` drops the image.

        The first ``question_length`` text tokens (default: all) are the question, the keys
        of MokA's cross-attention; text after them (e.g. an answer fed back in) is never
        read by an earlier position.
        """
        h, ids, question = self.inputs(visual, text, question_length)
        with self.tokens(ids, question):
            return self.lm.head(self.lm.run_blocks(h))

    def masked_logits(self, visual: Tensor, text: Tensor, keep: Iterable[str] = GROUPS) -> Tensor:
        """Answer logits ``(N, V)`` with the token groups not in ``keep`` hidden at every layer.

        A hidden group (:func:`group_positions`: ``image``, ``hint``) stays in the sequence,
        at its position, but no other token attends to it (a key mask in every block, and
        it is no key of MokA's low-rank attention either), so the answer is computed as if
        it were absent while every other token keeps its position embedding. ``keep`` =
        both groups is the ordinary forward.
        """
        if visual is None:
            raise ValueError("masked_logits needs the visual tokens; hide the image with keep={'hint'}")
        keep = frozenset(keep)
        unknown = sorted(keep - set(GROUPS))
        if unknown:
            raise KeyError(f"unknown token groups {unknown}; valid: {GROUPS}")
        h, ids, question = self.inputs(visual, text)
        positions = group_positions(visual.shape[1], text.shape[1])
        visible = torch.ones(h.shape[1], dtype=torch.bool)
        for name in set(GROUPS) - keep:
            visible &= ~positions[name]
        visible = visible.expand(h.shape[0], -1)
        with self.tokens(ids, question, visible):
            return self.lm.head(self.lm.run_blocks(h, visible=visible))[:, -1]

    def forward(self, visual: Tensor | None, text: Tensor) -> Tensor:
        """Logits of the token after the prompt (the answer), ``(N, V)``; ``visual=None`` drops the image."""
        return self.sequence_logits(visual, text)[:, -1]

    def visual_attention_mass(self, visual: Tensor) -> Tensor:
        """Attention the answer position puts on visual tokens, per layer (mean over heads and samples)."""
        masses = []
        for block in self.lm.blocks:
            weights = block.attention.last_weights
            masses.append(weights[:, -1, : visual.shape[1]].sum(-1).mean())
        return torch.stack(masses)


# -- adaptation and evaluation --------------------------------------------------------------------

@dataclass
class AdaptationResult:
    model: TinyMLLM
    losses: list[float] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _answer_loss(model: TinyMLLM, visual: Tensor | None, text: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(model(visual, text), labels)  # class tokens are ids 0..C-1


def hint_points_first(text: Tensor, vocab: Vocabulary) -> Tensor:
    """Does each prompt's hint word point at the first option? (An even word: the first.)"""
    return (text[:, 1] - vocab.n_classes) % 2 == 0


def hinted_option(text: Tensor, vocab: Vocabulary) -> Tensor:
    """The class the hint word of each prompt ``(N, 6)`` points at."""
    return torch.where(hint_points_first(text, vocab), text[:, 3], text[:, 4])


def first_option_probability(logits: Tensor, text: Tensor) -> Tensor:
    """The probability of the first option, the softmax restricted to the two options' class logits."""
    pair = torch.stack([logits.gather(1, text[:, 3:4]), logits.gather(1, text[:, 4:5])], dim=1).squeeze(-1)
    return torch.softmax(pair, dim=1)[:, 0]


def combine_with_hint(p_first: Tensor, points_first: Tensor, reliability: float) -> Tensor:
    """Bayes' rule: the posterior of the first option after an image posterior ``p_first`` and a hint.

    The hint points at the right option with probability ``reliability`` (the data's hint
    accuracy), independently of the image given the label, so the hinted option's odds are
    multiplied by ``reliability / (1 - reliability)``:
    ``p' = p l / (p l + (1 - p)(1 - l))`` with ``l = reliability`` if the hint points at the
    first option, ``1 - reliability`` otherwise. ``reliability = 0.5`` leaves ``p`` unchanged.
    """
    if not 0.0 <= reliability <= 1.0:
        raise ValueError(f"reliability must lie in [0, 1], got {reliability}")
    if p_first.shape != points_first.shape:
        raise ValueError(f"p_first {tuple(p_first.shape)} and points_first {tuple(points_first.shape)} must match")
    like = torch.where(points_first, torch.tensor(reliability), torch.tensor(1.0 - reliability)).to(p_first)
    num = p_first * like
    return num / (num + (1.0 - p_first) * (1.0 - like))


def image_probabilities(model: TinyMLLM, task: MultimodalTask, split: str = "test") -> Tensor:
    """``model``'s probability of the first option on ``split`` (two-option softmax), e.g. an image-only model."""
    if split not in task.splits:
        raise KeyError(f"unknown split {split!r}; valid: {sorted(task.splits)}")
    idx = task.splits[split]
    with evaluating(model), torch.no_grad():
        return first_option_probability(model(task.visual[idx], task.text[idx]), task.text[idx])


def combiner_scores(p_first: Tensor, task: MultimodalTask, reliability: float, split: str = "test"
                    ) -> dict[str, float]:
    """Scores of the rational combiner: Bayes-combine ``p_first`` (image posterior) with ``task``'s hints.

    ``p_first`` holds the image posterior of the first option for ``split``'s samples (from
    :func:`image_probabilities`); the combiner answers the option whose posterior
    (:func:`combine_with_hint`) is larger. Returns ``acc``, ``follows_hint``,
    ``acc_hint_right`` and ``acc_hint_wrong`` as :func:`evaluate` names them.
    """
    idx = task.splits[split]
    text, labels, right = task.text[idx], task.labels[idx], task.hint_right[idx]
    posterior = combine_with_hint(p_first, hint_points_first(text, task.vocab), reliability)
    answer = torch.where(posterior >= 0.5, text[:, 3], text[:, 4])
    correct = (answer == labels).float()
    return {"acc": correct.mean().item(),
            "follows_hint": (answer == hinted_option(text, task.vocab)).float().mean().item(),
            "acc_hint_right": correct[right].mean().item() if right.any() else float("nan"),
            "acc_hint_wrong": correct[~right].mean().item() if (~right).any() else float("nan")}


def evaluate(model: TinyMLLM, task: MultimodalTask, split: str = "test") -> dict[str, float]:
    """Accuracy with and without the image, with the update on text / visual tokens only, visual attention mass.

    ``acc``: full model. ``acc_no_visual``: visual tokens removed. ``acc_text_path`` /
    ``acc_visual_path``: the low-rank update applied to text tokens only / visual tokens only
    (MokA's partial-modality inference). ``visual_attention``: attention mass the answer
    position puts on the visual tokens (mean over layers). ``follows_hint``: fraction of
    answers equal to the option the hint word points at.
    """
    if split not in task.splits:
        raise KeyError(f"unknown split {split!r}; valid: {sorted(task.splits)}")
    with evaluating(model):
        idx = task.splits[split]
        visual, text, labels = task.visual[idx], task.text[idx], task.labels[idx]
        def acc(logits: Tensor, mask: Tensor | None = None) -> float:
            right = logits[:, :task.vocab.n_classes].argmax(1) == labels
            right = right if mask is None else right[mask]
            return right.float().mean().item() if len(right) else float("nan")

        logits = model(visual, text)
        scores = {"acc": acc(logits), "visual_attention": model.visual_attention_mass(visual).mean().item()}
        hinted = hinted_option(text, task.vocab)
        scores["follows_hint"] = (logits[:, :task.vocab.n_classes].argmax(1) == hinted).float().mean().item()
        scores["acc_no_visual"] = acc(model(None, text))
        for name, modality in (("acc_text_path", TEXT), ("acc_visual_path", VISUAL)):
            model.context.adapted = {modality}
            try:
                scores[name] = acc(model(visual, text))
            finally:
                model.context.adapted = None
        scores["acc_hint_right"] = acc(logits, task.hint_right[idx])
        scores["acc_hint_wrong"] = acc(logits, ~task.hint_right[idx])
    return scores


def adapt(lm: TinyLM, task: MultimodalTask, adapter: str = "lora", epochs: int = 15, batch_size: int = 64,
          lr: float = 3e-3, rank: int = 4, seed: int = 0, direction: str = "visual_queries_text",
          weight: float = 1.0) -> AdaptationResult:
    """Fine-tune a copy of ``lm`` on ``task`` with ``adapter`` (``lora``, ``moka``, ``moka_no_cross``, ``none``).

    ``direction`` and ``weight`` set MokA's cross-attention (see :class:`LowRankAdapter`).

    Only the projector, the visual position embeddings and the adapters train (Adam).
    The test split is only evaluated at the end; nothing is selected on it.
    """
    import copy

    started = time.perf_counter()
    torch.manual_seed(seed)
    model = TinyMLLM(copy.deepcopy(lm), task.visual.shape[-1], task.visual.shape[1], adapter, rank,
                     direction=direction, weight=weight)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    train = task.splits["train"]
    losses = []
    model.train()
    for _ in range(epochs):
        order = train[torch.randperm(len(train), generator=generator)]
        total = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = _answer_loss(model, task.visual[idx], task.text[idx], task.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(order))
    result = AdaptationResult(model, losses, evaluate(model, task, "test"))
    result.seconds = time.perf_counter() - started
    return result


def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters that receive gradients."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def compare_adapters(lm: TinyLM, task: MultimodalTask, adapters: Sequence[str] = ("lora", "moka"),
                     seeds: Iterable[int] = (0, 1, 2), *, dataset: str = "task",
                     probes: dict[str, MultimodalTask] | None = None, label: str | None = None,
                     **adapt_kw) -> "pd.DataFrame":
    """One row per (adapter, seed) with the :func:`evaluate` scores on the test split.

    The MLLM counterpart of :func:`mmlib.experiment.compare` (see the module docstring for
    why it is separate): columns ``dataset`` (``dataset``), ``method`` (the adapter, or
    ``label`` if given), ``seed``, the scores, ``seconds`` and ``trainable``, ready for
    :mod:`mmlib.results`. ``probes`` maps a name to another task on the same samples (e.g.
    the same images with uninformative hints): each trained model is also evaluated on its
    test split, in columns ``<name>_<score>``.
    """
    import pandas as pd

    rows = []
    for adapter in adapters:
        for seed in seeds:
            result = adapt(lm, task, adapter, seed=seed, **adapt_kw)
            probed = {f"{name}_{k}": v for name, probe in (probes or {}).items()
                      for k, v in evaluate(result.model, probe, "test").items()}
            rows.append({"dataset": dataset, "method": label or adapter, "seed": seed, **result.scores, **probed,
                         "seconds": result.seconds, "trainable": trainable_parameters(result.model)})
    return pd.DataFrame(rows)


# -- modality contributions of the MLLM -----------------------------------------------------------

VALUES = ("accuracy", "log_prob")


def answer_value(logits: Tensor, labels: Tensor, value: str = "accuracy", n_classes: int | None = None) -> float:
    """The value of answer logits ``(N, V)``: ``accuracy`` or ``log_prob``, averaged over the samples.

    ``accuracy``: ``mean 1[argmax_{c < C} z_c = y]``, the argmax over the ``n_classes`` class
    tokens (all ``V`` if ``None``) as :func:`evaluate` takes it. ``log_prob``: the answer
    token's mean log-probability ``mean log softmax(z)_y`` over the whole vocabulary (minus
    the answer loss).
    """
    if value not in VALUES:
        raise KeyError(f"unknown value {value!r}; valid: {VALUES}")
    if value == "accuracy":
        return (logits[:, :n_classes].argmax(1) == labels).float().mean().item()
    return torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).mean().item()


def token_group_shapley(answer_logits: Callable[[frozenset[str]], Tensor], labels: Tensor,
                        groups: Sequence[str] = GROUPS, value: str = "accuracy",
                        n_classes: int | None = None) -> dict[str, float]:
    """Exact Shapley contribution of each token group to the answer's ``value``, by masking.

    The game: the players are the token groups (default the image tokens and the hint
    word), ``v(S)`` = :func:`answer_value` of ``answer_logits(S)``, the answer logits with
    only the groups in ``S`` visible (the question is always there), and
    ``phi_g = sum_{S subset of G \\ {g}} |S|! (n - |S| - 1)! / n! [v(S + {g}) - v(S)]``
    (:func:`mmlib.metrics.shapley_values`, as chapter 02 computes it over modalities).
    Efficiency: the contributions sum to ``v(all) - v(none)``. ``answer_logits`` is any
    function of the visible groups (e.g. :meth:`TinyMLLM.masked_logits`), so hand-made
    games test it.
    """
    from .metrics import shapley_values

    if value not in VALUES:
        raise KeyError(f"unknown value {value!r}; valid: {VALUES}")
    return shapley_values(lambda keep: answer_value(answer_logits(keep), labels, value, n_classes), groups)


@torch.no_grad()
def modality_contributions(model: TinyMLLM, task: MultimodalTask, split: str = "test",
                           value: str = "accuracy") -> dict[str, float]:
    """:func:`token_group_shapley` of ``model`` on ``task``'s ``split``: the image's and the hint's contribution.

    Masking is :meth:`TinyMLLM.masked_logits` (hidden from attention at every layer).
    ``accuracy`` contributions sum to ``acc - acc(question only)``; ``log_prob`` ones to the
    answer's log-probability gained over the question alone.
    """
    if split not in task.splits:
        raise KeyError(f"unknown split {split!r}; valid: {sorted(task.splits)}")
    idx = task.splits[split]
    visual, text = task.visual[idx], task.text[idx]
    with evaluating(model):
        return token_group_shapley(lambda keep: model.masked_logits(visual, text, keep), task.labels[idx],
                                   value=value, n_classes=task.vocab.n_classes)


@torch.no_grad()
def attention_shares(model: TinyMLLM, visual: Tensor, text: Tensor) -> dict[str, Tensor]:
    """Share of the answer position's attention on each token group, per layer ``(L,)``.

    ``share_g^l = mean_n sum_{j in g} a^l_{n, S-1, j}`` with ``a^l`` the softmax attention of
    block ``l`` averaged over its heads, ``S - 1`` the last prompt token (``<ans>``, whose
    output is the answer) and ``g`` in ``image``, ``hint``, ``question`` (the rest of the
    prompt, the answer position itself included; :func:`group_positions`). The three
    shares sum to 1 in every layer. Fork-Merge Decoding's authors (Jung et al., 2025,
    Figure 1) read this at the *last* layer for the last question token; ``[-1]`` of each
    tensor is that reading and ``.mean()`` the average over layers.
    """
    with evaluating(model):
        model(visual, text)
    positions = group_positions(visual.shape[1], text.shape[1])
    rows = torch.stack([block.attention.last_weights[:, -1] for block in model.lm.blocks])  # (L, N, S)
    return {name: rows[..., mask].sum(-1).mean(-1) for name, mask in positions.items()}
