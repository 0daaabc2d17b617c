"""Sample- and modality-level valuation (Wei et al., CVPR 2024): the pure math and the method."""

from types import SimpleNamespace

import pytest
import torch

from mmlib import methods
from mmlib.methods import valuation
from mmlib.methods.valuation import (MaskedBatch, modality_gaps, modality_resample_count, resample_copies,
                                     sample_contribution, sample_contributions, sample_copies, weakest_modality)
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

# The authors' rule (their sample-level data set class; BalanceBenchmark's create_dataset_sample_level),
# applied to every modality of a sample on its own: 1 copy if 0.4 < phi < 1, 2 if -0.1 < phi < 0.4,
# 3 if phi < -0.1, else 0 (strict comparisons: exactly -0.1, 0.4 and 1.0 fall through to 0).

def test_resample_copies_strict_thresholds():
    phi = torch.tensor([-0.5, -0.1, -0.05, 0.0, 0.4, 0.45, 0.5, 0.9, 0.99, 1.0, 1.5])
    # -0.5 < -0.1: 3; -0.1: no band; -0.05, 0.0 in (-0.1, 0.4): 2; 0.4: no band; 0.45 .. 0.99 in (0.4, 1): 1;
    # 1.0 and 1.5: 0
    assert resample_copies(phi).tolist() == [3, 0, 2, 2, 0, 1, 1, 1, 1, 0, 0]
    # the authors' data set class ends the one-copy band at 0.9: 0.9 and 0.99 then get none
    assert resample_copies(phi, (-0.1, 0.4, 0.9)).tolist() == [3, 0, 2, 2, 0, 1, 1, 0, 0, 0, 0]
    assert resample_copies(torch.tensor([float("nan")])).tolist() == [0]  # no comparison holds
    with pytest.raises(ValueError, match="increase"):
        resample_copies(phi, (0.4, 0.4, 1.0))


def test_sample_copies_authors_rule_every_modality():
    # sample 0: a = v = 0 (a tie) -> both in (-0.1, 0.4): 2 each; sample 1: a = 1.5 -> 0, v = -0.5 -> 3;
    # sample 2: a = v = 0.5 -> 1 each; sample 3: a = 1.0 (exactly, no band) -> 0, v = -0.5 -> 3
    copies = sample_copies({"a": torch.tensor([0, 1.5, 0.5, 1.0]), "v": torch.tensor([0, -0.5, 0.5, -0.5])})
    assert list(copies) == ["a", "v"]
    assert copies["a"].tolist() == [2, 0, 1, 0]
    assert copies["v"].tolist() == [2, 3, 1, 3]


def test_sample_copies_threshold_boundaries_give_nothing():
    # exactly -0.1, 0.4 and 1.0 match no band of the authors' elif chain
    copies = sample_copies({"a": torch.tensor([-0.1, 0.4, 1.0]), "v": torch.tensor([-0.11, 0.39, 0.41])})
    assert copies["a"].tolist() == [0, 0, 0]
    assert copies["v"].tolist() == [3, 2, 1]


def test_sample_copies_single_sample():
    # a = 0.5 in (0.4, 1): 1 copy keeping audio; v = 1.5 >= 1: none
    copies = sample_copies({"audio": torch.tensor([0.5]), "visual": torch.tensor([1.5])})
    assert copies["audio"].tolist() == [1] and copies["visual"].tolist() == [0]


def test_sample_copies_three_modalities():
    # three-modality Shapley values are multiples of 1/6: sample 0: a = -1/6 < -0.1 -> 3, v = 1/3 -> 2,
    # t = 1.5 -> 0; sample 1: a = 5/6 -> 1, v = 1.0 -> 0, t = 0.5 -> 1
    contributions = {"a": torch.tensor([-1 / 6, 5 / 6]), "v": torch.tensor([1 / 3, 1.0]), "t": torch.tensor([1.5, 0.5])}
    each = sample_copies(contributions)
    assert (each["a"].tolist(), each["v"].tolist(), each["t"].tolist()) == ([3, 1], [2, 0], [0, 1])
    # weakest only: sample 0's lowest is a (-1/6): 3 copies of a; sample 1's lowest is t (0.5): 1 copy of t
    weakest = sample_copies(contributions, rule="weakest")
    assert (weakest["a"].tolist(), weakest["v"].tolist(), weakest["t"].tolist()) == ([3, 0], [0, 0], [0, 1])


def test_sample_copies_weakest_option_and_ties():
    # same inputs as the authors'-rule test; only the lowest phi per sample gets copies, ties to the first:
    # sample 0 tie at 0 -> a: 2; sample 1 v = -0.5 -> v: 3; sample 2 tie at 0.5 -> a: 1; sample 3 v = -0.5 -> v: 3
    copies = sample_copies({"a": torch.tensor([0, 1.5, 0.5, 1.0]), "v": torch.tensor([0, -0.5, 0.5, -0.5])},
                           rule="weakest")
    assert copies["a"].tolist() == [2, 0, 1, 0]
    assert copies["v"].tolist() == [0, 3, 0, 3]
    with pytest.raises(ValueError, match="rule"):
        sample_copies({"a": torch.zeros(1)}, rule="strongest")
    with pytest.raises(ValueError, match="empty"):
        sample_copies({})


def test_weakest_modality_and_ties():
    index, value = weakest_modality({"a": torch.tensor([1.0, 0.0, 0.5]), "v": torch.tensor([0.5, 0.5, 0.5])})
    assert index.tolist() == [1, 0, 0] and value.tolist() == [0.5, 0.0, 0.5]


def test_modality_level_count():
    # the authors: int(|g_a - g_v| / 3 * 2 * alpha * N), truncated, not capped at N
    gaps = modality_gaps({"audio": 1.2, "visual": 0.3})
    assert gaps == pytest.approx({"audio": -0.2, "visual": 0.7})
    assert modality_resample_count({"a": 0.0, "v": 0.75}, 300) == ("v", 150)  # 0.75 / 3 * 2 * 300 = 150
    assert modality_resample_count({"a": 0.0, "v": 1.0}, 10) == ("v", 6)  # 6.67 truncated, not rounded to 7
    assert modality_resample_count({"a": 0.0, "v": 1.0}, 10, alpha=0.5) == ("v", 3)  # 3.33
    assert modality_resample_count({"a": 0.5, "b": 0.5}, 100)[1] == 0  # no gap, no copies
    assert modality_resample_count({"a": -5.0, "b": 5.0}, 100) == ("b", 666)  # 10 / 3 * 2 * 100 = 666.7: above N
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
        assert history["resampled"][2] == pytest.approx(int(gap / 3 * 2 * n_train) / n_train, abs=1.01 / n_train)
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


def _state(data, seed=0):
    torch.manual_seed(seed)
    return SimpleNamespace(model=build_model(data), data=data, generator=torch.Generator().manual_seed(seed), logs={})


@pytest.mark.parametrize("rule", ["each", "weakest"])
def test_sample_level_copies_keep_their_own_modality(synthetic_small, rule):
    state = _state(synthetic_small)
    train_index = synthetic_small.splits["train"]
    method = methods.get("sample_valuation", rule=rule)
    method.state = state
    index, only = method.extra_copies(state, train_index)
    want = sample_copies(sample_contributions(state.model, synthetic_small.batch(train_index)), rule=rule)
    for i, m in enumerate(synthetic_small.modality_names):
        assert torch.equal(index[only == i], train_index.repeat_interleave(want[m])), m


def test_modality_level_draws_with_replacement_past_n(synthetic_small, monkeypatch):
    n = len(synthetic_small.splits["train"])
    monkeypatch.setattr(valuation, "modality_resample_count", lambda gaps, n_samples, alpha: ("visual", 2 * n_samples))
    method, state = methods.get("modality_valuation"), _state(synthetic_small)
    method.state = state
    index, only = method.extra_copies(state, synthetic_small.splits["train"])
    assert len(index) == 2 * n and (only == synthetic_small.modality_names.index("visual")).all()
    assert len(index.unique()) < len(index)  # drawn with replacement
    assert set(index.tolist()) <= set(synthetic_small.splits["train"].tolist())
