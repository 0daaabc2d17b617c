"""Tests of Fork-Merge Decoding on the tiny MLLM (mmlib.forkmerge)."""

import pytest
import torch

from mmlib import mllm
from mmlib.data import load
from mmlib.forkmerge import fork_merge_logits, fork_merge_scores
from mllm_helpers import random_model

LAYERS = 4


@pytest.fixture(scope="module")
def task():
    return mllm.build_task(load("synthetic", n_samples=120, seed=0), hint=0.7, seed=0)


def _model(task, adapter: str, seed: int = 0) -> mllm.TinyMLLM:
    """A 4-layer tiny MLLM with random weights and non-zero adapters (so every path acts)."""
    return random_model(task, adapter, layers=LAYERS, seed=seed)


def _states_after(model, visual, text, keep, depth):
    """Hidden states after ``depth`` blocks of the masked forward, read with a hook (an independent path)."""
    seen = {}
    handle = model.lm.blocks[depth - 1].register_forward_hook(lambda m, i, o: seen.setdefault("h", o))
    try:
        model.masked_logits(visual, text, keep)
    finally:
        handle.remove()
    return seen["h"]


@pytest.fixture(scope="module", params=["lora", "moka"])
def model(request, task):
    return _model(task, request.param)


def _batch(task, n=20):
    return task.visual[:n], task.text[:n]


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_depth_zero_is_the_ordinary_forward(task, model, weight):
    visual, text = _batch(task)
    with torch.no_grad():
        assert torch.allclose(fork_merge_logits(model, visual, text, 0, weight), model(visual, text), atol=1e-6)


def test_full_depth_with_weight_one_or_zero_is_one_branch_alone(task, model):
    visual, text = _batch(task)
    with torch.no_grad():
        image_only = model.masked_logits(visual, text, {"image"})
        hint_only = model.masked_logits(visual, text, {"hint"})
        assert torch.allclose(fork_merge_logits(model, visual, text, LAYERS, 1.0), image_only, atol=1e-6)
        assert torch.allclose(fork_merge_logits(model, visual, text, LAYERS, 0.0), hint_only, atol=1e-6)
        assert torch.allclose(hint_only, model(None, text), atol=1e-5)  # the hint branch: the image absent
        assert not torch.allclose(image_only, hint_only, atol=1e-3)  # control: the branches differ


@pytest.mark.parametrize("depth", [1, 2, 3, LAYERS])
def test_merge_rule_at_every_depth(task, model, depth):
    visual, text = _batch(task)
    w = 0.3
    with torch.no_grad():
        h_image = _states_after(model, visual, text, {"image"}, depth)
        h_hint = _states_after(model, visual, text, {"hint"}, depth)
        groups = mllm.group_positions(visual.shape[1], text.shape[1])
        merged = torch.where(groups["question"][None, :, None], w * h_image + (1 - w) * h_hint,
                             torch.where(groups["image"][None, :, None], h_image, h_hint))
        h, ids, question = model.inputs(visual, text)
        with model.tokens(ids, question):
            for block in model.lm.blocks[depth:]:
                merged = block(merged)
        expected = model.lm.head(merged)[:, -1]
        assert torch.allclose(fork_merge_logits(model, visual, text, depth, w), expected, atol=1e-5)


def test_intermediate_depths_differ_from_the_forward_and_from_each_other(task, model):
    visual, text = _batch(task)
    with torch.no_grad():
        outs = [fork_merge_logits(model, visual, text, d, 0.5) for d in range(LAYERS + 1)]
    for a in range(len(outs)):
        for b in range(a + 1, len(outs)):
            assert not torch.allclose(outs[a], outs[b], atol=1e-4), (a, b)


def test_fork_merge_is_pure_and_differentiable(task):
    model = _model(task, "moka")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    visual, text = _batch(task, 8)
    out = fork_merge_logits(model, visual, text, 2, 0.5)
    out[:, 0].sum().backward()
    assert model.projector.weight.grad is not None and model.projector.weight.grad.abs().sum() > 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert model.context.modality_ids is None and model.context.visible is None


@pytest.mark.parametrize("depth", [-1, LAYERS + 1, 1.5, True, None])
def test_invalid_depth_lists_the_valid_range(task, depth):
    model = _model(task, "lora")
    with pytest.raises(ValueError, match=rf"fork_depth must be an integer in \[0, {LAYERS}\]"):
        fork_merge_logits(model, *_batch(task, 2), depth, 0.5)


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_invalid_weight_lists_the_valid_range(task, weight):
    model = _model(task, "lora")
    with pytest.raises(ValueError, match=r"merge_weight must lie in \[0, 1\]"):
        fork_merge_logits(model, *_batch(task, 2), 1, weight)


def test_no_image_is_a_clear_error(task):
    with pytest.raises(ValueError, match="needs the visual tokens"):
        fork_merge_logits(_model(task, "lora"), None, task.text[:2], 1, 0.5)


def test_scores_at_depth_zero_are_evaluates_scores(task):
    model = _model(task, "moka")
    scores = fork_merge_scores(model, task, 0, 0.5)
    reference = mllm.evaluate(model, task, "test")
    for key in ("acc", "follows_hint", "acc_hint_right", "acc_hint_wrong"):
        assert scores[key] == pytest.approx(reference[key]), key
    full = fork_merge_scores(model, task, LAYERS, 0.0)  # the hint branch alone
    idx = task.splits["test"]
    with torch.no_grad():
        answer = model(None, task.text[idx])[:, :task.vocab.n_classes].argmax(1)
    assert full["acc"] == pytest.approx((answer == task.labels[idx]).float().mean().item())
    with pytest.raises(KeyError, match="valid"):
        fork_merge_scores(model, task, 1, 0.5, split="dev")
