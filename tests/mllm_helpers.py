"""Helpers shared by the tiny-MLLM tests (tests/test_mllm.py, tests/test_forkmerge.py)."""

import torch

from mmlib import mllm


def random_adapters(model: mllm.TinyMLLM, seed: int = 0) -> mllm.TinyMLLM:
    """Give every adapter a non-zero B, so the low-rank paths (and MokA's attention) act; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, mllm.LowRankAdapter):
                module.b.copy_(0.5 * torch.randn(module.b.shape, generator=generator))
    return model.eval()


def random_model(task: mllm.MultimodalTask, adapter: str, layers: int = 2, seed: int = 0) -> mllm.TinyMLLM:
    """A tiny MLLM for ``task`` with a random ``layers``-block language model and non-zero adapters."""
    torch.manual_seed(seed)
    lm = mllm.TinyLM(task.vocab.size, layers=layers)
    return random_adapters(mllm.TinyMLLM(lm, task.visual.shape[-1], task.visual.shape[1], adapter=adapter), seed)
