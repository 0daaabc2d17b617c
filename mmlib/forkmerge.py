"""Fork-Merge Decoding on the course's tiny MLLM: a training-free, inference-time remedy.

Paper: Jung, Jang, Choi, Chung, "Fork-Merge Decoding: Enhancing Multimodal Understanding in
Audio-Visual Large Language Models", arXiv:2505.20873 (2025), https://arxiv.org/abs/2505.20873
(authors and title as on its arXiv page). There, an audio-visual LLM's first decoder layers
run twice, once on audio-only and once on video-only input, each with the other modality
masked and the question kept (the *fork*); the two branches' hidden states are merged and
the remaining layers run on the merge (the *merge*). No parameter changes.

Here the two branches are the tiny MLLM's (:class:`mmlib.mllm.TinyMLLM`) evidence
groups (:func:`mmlib.mllm.group_positions`): branch ``A`` sees the **image** tokens and the
question with the hint word masked, branch ``B`` sees the **hint** and the question with
the image masked. With ``f_l`` the ``l``-th block, ``h^0`` the input states and ``d`` the
fork depth::

    h^A = f_d o ... o f_1 (h^0; hint hidden)        h^B = f_d o ... o f_1 (h^0; image hidden)
    m_i = h^A_i                                     i an image token
    m_i = h^B_i                                     i the hint token
    m_i = w h^A_i + (1 - w) h^B_i                   i a question token (shared by both branches)
    logits = head(f_L o ... o f_{d+1} (m))  at the answer position

"Masked" means hidden from attention at every forked layer (a key mask; the token keeps its
position, see :meth:`~mmlib.mllm.TinyMLLM.masked_logits`), and the merge phase runs
unmasked. ``head`` is the final LayerNorm and the unembedding.

Edge cases (tested):

* ``fork_depth = 0``: nothing is forked; the merge of two identical input states is the
  input itself, so FMD is the **ordinary, unmasked forward**.
* ``fork_depth = L`` (all layers): the answer logits are the head applied to the
  weighted merge of the two branches' *final* hidden states at the answer position
  (merged before the final LayerNorm).
* ``merge_weight = 1`` / ``0``: the question positions carry branch A's / B's states
  alone; at ``fork_depth = L`` this is exactly the image branch (hint masked) / the hint
  branch (image masked) alone. At a smaller depth the other branch's own tokens are still
  there for the remaining layers to read.

Differences from the paper: the authors' branches are audio and video with the text
prompt in both; ours are image and hint (the text is itself one of the modalities, and
the rest of the prompt is the shared question). Their merge weight is derived from
attention ("attention-guided fusion"); here it is an argument, ``merge_weight``, so a sweep
can show what it does (one may pass an attention share from
:func:`mmlib.mllm.attention_shares`). The fork depth is theirs (``L_fork``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .mllm import GROUPS, MultimodalTask, TinyMLLM, group_positions, hinted_option
from .models import evaluating


def _check(model: TinyMLLM, fork_depth: int, merge_weight: float) -> None:
    layers = len(model.lm.blocks)
    if isinstance(fork_depth, bool) or not isinstance(fork_depth, int) or not 0 <= fork_depth <= layers:
        raise ValueError(f"fork_depth must be an integer in [0, {layers}] (the model's layers), got {fork_depth!r}")
    if not 0.0 <= float(merge_weight) <= 1.0:
        raise ValueError(f"merge_weight must lie in [0, 1] (1: image branch only, 0: hint branch only), "
                         f"got {merge_weight!r}")


def fork_merge_logits(model: TinyMLLM, visual: Tensor, text: Tensor, fork_depth: int, merge_weight: float
                      ) -> Tensor:
    """Answer logits ``(N, V)`` under Fork-Merge Decoding (see the module docstring for the rule).

    ``fork_depth`` in ``[0, L]`` blocks run per branch; ``merge_weight`` in ``[0, 1]`` is the
    image branch's weight on the shared question positions (``1 - merge_weight`` the hint
    branch's). Pure: the model is not changed (gradients flow if the caller enables them).
    """
    _check(model, fork_depth, merge_weight)
    if visual is None:
        raise ValueError("Fork-Merge Decoding needs the visual tokens (the image branch)")
    h, ids, question = model.inputs(visual, text)
    n = h.shape[0]
    if fork_depth > 0:
        positions = group_positions(visual.shape[1], text.shape[1])
        hide = {name: (~positions[name]).expand(n, -1) for name in GROUPS}
        with model.tokens(ids, question, hide["hint"]):
            h_image = model.lm.run_blocks(h, 0, fork_depth, visible=hide["hint"])
        with model.tokens(ids, question, hide["image"]):
            h_hint = model.lm.run_blocks(h, 0, fork_depth, visible=hide["image"])
        shared = positions["question"][None, :, None]
        merged = merge_weight * h_image + (1.0 - merge_weight) * h_hint
        h = torch.where(shared, merged, torch.where(positions["image"][None, :, None], h_image, h_hint))
    with model.tokens(ids, question):
        return model.lm.head(model.lm.run_blocks(h, fork_depth))[:, -1]


def fork_merge_scores(model: TinyMLLM, task: MultimodalTask, fork_depth: int, merge_weight: float,
                      split: str = "test") -> dict[str, float]:
    """Scores of Fork-Merge Decoding on ``task``'s ``split``, named as :func:`mmlib.mllm.evaluate` names them.

    ``acc``, ``follows_hint`` (answers equal to the hinted option), ``acc_hint_right`` and
    ``acc_hint_wrong`` (accuracy where the hint is right / wrong); the argmax is over the
    class tokens.
    """
    if split not in task.splits:
        raise KeyError(f"unknown split {split!r}; valid: {sorted(task.splits)}")
    idx = task.splits[split]
    visual, text, labels, right = task.visual[idx], task.text[idx], task.labels[idx], task.hint_right[idx]
    with evaluating(model):
        answer = fork_merge_logits(model, visual, text, fork_depth, merge_weight)[:, :task.vocab.n_classes].argmax(1)
    correct = (answer == labels).float()
    nan = float("nan")
    return {"acc": correct.mean().item(),
            "follows_hint": (answer == hinted_option(text, task.vocab)).float().mean().item(),
            "acc_hint_right": correct[right].mean().item() if right.any() else nan,
            "acc_hint_wrong": correct[~right].mean().item() if (~right).any() else nan}
