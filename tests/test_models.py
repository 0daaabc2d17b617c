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


# --------------------------------------------------------------------------- ResNet-18
def test_resnet18_encoder_has_resnet18s_shape_and_size():
    from mmlib.models import BasicBlock, ResNet18Encoder

    torch.manual_seed(0)
    encoder = ResNet18Encoder(1)  # a one-channel spectrogram, as the authors' audio ResNet
    assert encoder.stem[0].in_channels == 1 and encoder.stem[0].kernel_size == (7, 7)
    blocks = [m for m in encoder.modules() if isinstance(m, BasicBlock)]
    convs = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)]
    assert len(blocks) == 8 and len(convs) == 17  # 1 stem + 8 blocks x 2 convolutions (+ 3 shortcuts)
    # torchvision's resnet18 has 11,689,512 parameters: 11,176,512 before its 1000-class fc (512*1000 + 1000),
    # of which 9,408 in a 3-channel first conv (64*3*7*7); ours has a 1-channel one (64*1*7*7)
    assert sum(p.numel() for p in encoder.parameters()) == 11_176_512 - 64 * 3 * 49 + 64 * 1 * 49
    features = encoder(torch.randn(4, 1, 64, 48))
    assert features.shape == (4, 512) and bool((features >= 0).all())
    assert ResNet18Encoder(6, out_dim=32)(torch.randn(2, 6, 32, 32)).shape == (2, 32)  # stacked frames, projected


def test_build_model_with_resnet18_keeps_mlps_for_vectors_and_the_additive_contract(mfeat):
    from mmlib.models import ConvEncoder, MLPEncoder, ResNet18Encoder

    data = load("synthetic", n_samples=60)
    torch.manual_seed(0)
    model = build_model(data, encoder="resnet18", feature_dim=512)
    assert all(isinstance(e, ResNet18Encoder) and e.out_dim == 512 for e in model.encoders.values())
    out = model(data.batch(torch.arange(6)))
    torch.testing.assert_close(out.fused, sum(out.logits.values()), rtol=1e-5, atol=1e-5)
    assert isinstance(build_model(data).encoders["audio"], ConvEncoder)  # the default is unchanged
    assert all(isinstance(e, MLPEncoder) for e in build_model(mfeat, encoder="resnet18").encoders.values())
    with pytest.raises(KeyError, match=r"unknown encoder 'resnet50'; valid encoders: \['auto', 'resnet18'\]"):
        build_model(data, encoder="resnet50")
