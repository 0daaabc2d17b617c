"""The contract of DESIGN.md §3: fused logits are exactly the sum of per-modality logits."""

import pytest
import torch

from mmlib.data import load
from mmlib.models import build_model


@pytest.mark.parametrize("fusion", ["concat", "sum", "gated"])
@pytest.mark.parametrize("dataset", ["synthetic", "mfeat"])
def test_fused_is_sum_of_modality_logits(fusion, dataset):
    data = load(dataset, **({"n_samples": 60} if dataset == "synthetic" else {}))
    torch.manual_seed(0)
    model = build_model(data, fusion=fusion)
    out = model(data.batch(torch.arange(20)))
    assert out.fused.shape == (20, data.n_classes)
    torch.testing.assert_close(out.fused, sum(out.logits.values()), rtol=1e-5, atol=1e-5)
    assert set(out.features) == set(data.modality_names)


def test_concat_logits_are_head_slices_plus_shared_bias():
    data = load("mfeat", views=("fac", "zer", "mor"))
    torch.manual_seed(0)
    model = build_model(data, feature_dim=8)
    out = model(data.batch(torch.arange(5)))
    w = model.head.linear.weight
    b = model.head.linear.bias
    expected = out.features["zer"] @ w[:, 8:16].T + b / 3
    torch.testing.assert_close(out.logits["zer"], expected)


def test_build_model_errors_list_valid_choices(mfeat):
    data = mfeat
    with pytest.raises(KeyError, match="valid fusions"):
        build_model(data, fusion="film")
    with pytest.raises(KeyError, match="valid"):
        build_model(data, modalities=["pix"])
