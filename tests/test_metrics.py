"""Metrics on hand-made inputs: Shapley values of known games, imbalance, accuracies."""


import pytest
import torch

from mmlib.data import load
from mmlib.metrics import (accuracy, imbalance, macro_f1, shapley_contributions, shapley_values,
                           true_class_score, gradient_norms)
from mmlib.models import build_model
from mmlib.theory import feature_gradients, shared_term_size, softmax_minus_onehot


def test_shapley_two_player_game_by_hand():
    # v({})=0.1, v(a)=0.6, v(v)=0.3, v(av)=0.9: phi_a = (0.5 + 0.6)/2, phi_v = (0.2 + 0.3)/2
    table = {frozenset(): 0.1, frozenset("a"): 0.6, frozenset("v"): 0.3, frozenset("av"): 0.9}
    phi = shapley_values(lambda s: table[s], ["a", "v"])
    assert phi["a"] == pytest.approx(0.55) and phi["v"] == pytest.approx(0.25)
    assert phi["a"] + phi["v"] == pytest.approx(0.9 - 0.1)  # efficiency


def test_shapley_three_player_symmetric_and_dummy():
    # value = number of players among {x, y}; z is a dummy player
    phi = shapley_values(lambda s: float(len(s & {"x", "y"})), ["x", "y", "z"])
    assert phi == pytest.approx({"x": 1.0, "y": 1.0, "z": 0.0})


def test_shapley_per_sample_tensors():
    values = {frozenset(): torch.zeros(2), frozenset("a"): torch.tensor([1.0, 0.0]),
              frozenset("b"): torch.tensor([0.0, 0.0]), frozenset("ab"): torch.tensor([1.0, 1.0])}
    phi = shapley_values(lambda s: values[s], ["a", "b"])
    torch.testing.assert_close(phi["a"], torch.tensor([1.0, 0.5]))
    torch.testing.assert_close(phi["b"], torch.tensor([0.0, 0.5]))


def test_model_shapley_sums_to_full_minus_empty_accuracy():
    data = load("mfeat", views=("fac", "mor"))
    torch.manual_seed(0)
    model = build_model(data)
    phi = shapley_contributions(model, data, "val")
    per_sample = shapley_contributions(model, data, "val", per_sample=True)
    assert set(phi) == {"fac", "mor"}
    full = accuracy(model(data.split("val")).fused, data.labels[data.splits["val"]])
    assert sum(p.mean().item() for p in per_sample.values()) == pytest.approx(full, abs=1e-6)


def test_imbalance_measure_edges():
    assert imbalance({"a": 0.4, "v": 0.4}) == 0.0
    assert imbalance({"a": 0.8, "v": 0.0}) == 1.0
    assert imbalance({"a": 0.0, "v": 0.0}) == 0.0
    assert imbalance({"a": 0.6, "v": 0.2}) == pytest.approx(0.5)


def test_accuracy_scores_and_f1_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    labels = torch.tensor([0, 0, 0])
    assert accuracy(logits, labels) == pytest.approx(2 / 3)
    assert true_class_score(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)).item() == pytest.approx(2.0)
    # class 1 never appears and is predicted once: its F1 is 0; class 0: tp=2, fn=1 -> 0.8
    assert macro_f1(logits, labels, 2) == pytest.approx(0.4)
    with pytest.raises(ValueError):
        accuracy(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))


def test_closed_form_gradients_match_autograd():
    torch.manual_seed(0)
    h = {"a": torch.randn(5, 3, requires_grad=True), "v": torch.randn(5, 4, requires_grad=True)}
    w = {"a": torch.randn(6, 3), "v": torch.randn(6, 4)}
    y = torch.tensor([0, 1, 2, 3, 5])
    logits = h["a"] @ w["a"].T + h["v"] @ w["v"].T
    torch.nn.functional.cross_entropy(logits, y).backward()
    expected = feature_gradients(logits.detach(), y, w)
    for m in h:
        torch.testing.assert_close(h[m].grad, expected[m])
    assert softmax_minus_onehot(logits, y).sum(1).abs().max() < 1e-6


def test_shared_term_shrinks_with_any_confident_modality():
    weak_alone = shared_term_size({"v": 0.5}, 6)
    with_strong = shared_term_size({"a": 5.0, "v": 0.5}, 6)
    assert with_strong < 0.1 < weak_alone
    assert shared_term_size({}, 6) == pytest.approx(5 / 6)


def test_gradient_norms_zero_before_backward(mfeat):
    data = mfeat
    model = build_model(data)
    assert gradient_norms(model) == {"fac": 0.0, "zer": 0.0}


def test_shapley_refuses_a_modality_named_twice():
    with pytest.raises(ValueError, match=r"distinct modalities; \['a'\] named more than once"):
        shapley_values(lambda s: float(len(s)), ["a", "b", "a"])


@pytest.mark.parametrize("scores, expected", [
    ({"a": 0.3, "v": -0.1}, 1.0),               # two modalities of opposite sign: as uneven as it gets
    ({"a": -0.2, "v": 0.2}, 1.0),
    ({"a": 0.5, "v": 0.3, "t": -0.2}, 0.7),     # (0.5 - (-0.2)) / (0.5 + 0.3 + 0.2)
    ({"a": -0.1, "v": -0.3}, 0.5),              # both negative: (-0.1 - (-0.3)) / 0.4
])
def test_imbalance_with_negative_contributions_stays_in_unit_interval(scores, expected):
    assert imbalance(scores) == pytest.approx(expected)
