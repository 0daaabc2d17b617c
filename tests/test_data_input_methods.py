"""Sample- and modality-level valuation (Wei et al., CVPR 2024): the pure math and the method."""

import pytest
import torch

from mmlib import methods
from mmlib.methods.valuation import (MaskedBatch, modality_gaps, modality_resample_count, resample_copies,
                                     sample_contribution, sample_contributions, weakest_modality)
from mmlib.models import build_model
from mmlib.train import run


# -- per-sample contribution --------------------------------------------------------------------

@pytest.mark.parametrize("c_all, c_m, c_o, expected", [
    (1, 1, 1, 1.0),    # everyone right: each modality did its full share
    (1, 1, 0, 1.5),    # m alone is right, the other is not: m carries the sample
    (1, 0, 1, 0.5),    # the other alone is right: m only adds to the joint answer
    (1, 0, 0, 1.0),    # only together: an equal split of the joint value
    (0, 0, 0, 0.0),    # nobody right
    (0, 1, 0, 0.5),
    (0, 0, 1, -0.5),   # m spoils the other's right answer
])
def test_sample_contribution_authors_scale(c_all, c_m, c_o, expected):
    value = sample_contribution(torch.tensor([c_all]), torch.tensor([c_m]), torch.tensor([c_o]))
    assert value.item() == pytest.approx(expected)


def test_sample_contribution_is_shapley_with_unit_full_value():
    c_all, c_a, c_v = (torch.tensor([1, 0, 1, 0], dtype=torch.bool), torch.tensor([1, 1, 0, 0], dtype=torch.bool),
                       torch.tensor([0, 1, 1, 0], dtype=torch.bool))
    phi_a = sample_contribution(c_all, c_a, c_v, full_value=1.0)
    phi_v = sample_contribution(c_all, c_v, c_a, full_value=1.0)
    assert torch.allclose(phi_a + phi_v, c_all.float())  # efficiency: the shares add up to v(all) - v({})
    assert not torch.isnan(phi_a).any()


def test_sample_contribution_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes"):
        sample_contribution(torch.ones(2), torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="positive"):
        sample_contribution(torch.ones(1), torch.ones(1), torch.ones(1), full_value=0)


def test_model_contributions_match_the_pure_function(synthetic_small):
    torch.manual_seed(0)
    model = build_model(synthetic_small)
    batch = synthetic_small.split("val")
    phi = sample_contributions(model, batch)
    features = model.encode(batch.x)
    right = {}
    for keep in ("all", "audio", "visual"):
        kept = {m: f if keep in ("all", m) else torch.zeros_like(f) for m, f in features.items()}
        right[keep] = model.fuse(kept).fused.argmax(1) == batch.y
    assert torch.allclose(phi["audio"], sample_contribution(right["all"], right["audio"], right["visual"]))
    assert torch.allclose(phi["visual"], sample_contribution(right["all"], right["visual"], right["audio"]))


# -- resampling rules ------------------------------------------------------------------------------

def test_resample_copies_thresholds():
    phi = torch.tensor([-0.5, -0.1, 0.0, 0.4, 0.5, 1.0, 1.5])
    assert resample_copies(phi).tolist() == [3, 2, 2, 1, 1, 0, 0]
    with pytest.raises(ValueError, match="increase"):
        resample_copies(phi, (0.4, 0.4, 1.0))


def test_weakest_modality_and_ties():
    index, value = weakest_modality({"a": torch.tensor([1.0, 0.0, 0.5]), "v": torch.tensor([0.5, 0.5, 0.5])})
    assert index.tolist() == [1, 0, 0] and value.tolist() == [0.5, 0.0, 0.5]


def test_modality_level_count():
    gaps = modality_gaps({"audio": 1.2, "visual": 0.3})
    assert gaps == pytest.approx({"audio": -0.2, "visual": 0.7})
    weak, n = modality_resample_count(gaps, 300, alpha=1.0)
    assert weak == "visual" and n == round(0.9 * 2 / 3 * 300)
    assert modality_resample_count({"a": 0.5, "b": 0.5}, 100)[1] == 0  # no gap, no copies
    assert modality_resample_count({"a": 5.0, "b": -5.0}, 100)[1] == 100  # capped at N
    with pytest.raises(ValueError):
        modality_resample_count({}, 10)


# -- the methods --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sample_valuation", "modality_valuation"])
@pytest.mark.parametrize("level", ["feature", "input"])
def test_resampling_adds_weak_modality_copies(synthetic_small, name, level):
    result = run(synthetic_small, name, seed=0, epochs=3, method_kw={"warmup_epochs": 1, "level": level},
                 progress=False)
    history = result.history
    assert history["resampled"][0] == 0.0  # warm-up: the plain training set
    if name == "sample_valuation":
        assert history["resampled"][2] > 0.0  # an untrained visual branch always has low contributions
    else:  # the number of copies follows the logged contribution gap
        gap = abs(history["contribution_audio"][2] - history["contribution_visual"][2])
        n_train = len(synthetic_small.splits["train"])
        assert history["resampled"][2] == pytest.approx(round(gap * 2 / 3 * n_train) / n_train)
    assert all(0.0 <= a <= 1.0 for a in history["val_acc"])


def test_masked_batches_remove_the_other_modality(synthetic_small):
    method = methods.get("sample_valuation", warmup_epochs=0)
    model = build_model(synthetic_small)
    batch = synthetic_small.batch(torch.arange(4))
    keep = {"audio": torch.tensor([1.0, 0.0, 1.0, 1.0]), "visual": torch.tensor([1.0, 1.0, 0.0, 1.0])}
    masked = MaskedBatch(batch.x, batch.y, batch.index, keep)
    out = method.forward(model, masked)
    features = model.encode(batch.x)
    alone = model.fuse({"audio": torch.zeros_like(features["audio"]), "visual": features["visual"]})
    assert torch.allclose(out.fused[1], alone.fused[1], atol=1e-6)
    assert torch.allclose(out.fused[0], model(batch).fused[0], atol=1e-6)
