"""Tests of the tiny fusion transformer (mmlib.transformer) and RollingQ (mmlib.methods.rollingq)."""

import math

import pytest
import torch

import mmlib.methods as methods
from mmlib.data import load
from mmlib.metrics import shapley_contributions, subset_output
from mmlib.methods.rollingq import rebalance_weight, rebalanced_target, rotation_matrix
from mmlib.models import build_model
from mmlib.train import fit, run
from mmlib.transformer import (AttentionTrace, attention_imbalance_ratio, attention_on, build_transformer,
                               modality_attention_mass, to_tokens, token_shape)


@pytest.fixture(scope="module")
def small_data():
    return load("synthetic", n_samples=120, seed=0)


# -- tokens -------------------------------------------------------------------------------------

def test_image_tokens_are_columns():
    x = torch.arange(2 * 1 * 3 * 4, dtype=torch.float32).reshape(2, 1, 3, 4)
    tokens = to_tokens(x)
    assert tokens.shape == (2, 4, 3)
    assert torch.equal(tokens[1, 2], x[1, 0, :, 2])
    assert token_shape((1, 3, 4)) == (4, 3)


def test_vector_tokens_are_zero_padded_chunks():
    x = torch.arange(10, dtype=torch.float32).reshape(1, 10)
    tokens = to_tokens(x, chunk=4)
    assert tokens.shape == (1, 3, 4)
    assert torch.equal(tokens[0, 2], torch.tensor([8.0, 9.0, 0.0, 0.0]))
    assert token_shape((10,), chunk=4) == (3, 4)


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="expected"):
        to_tokens(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="expected"):
        token_shape((3, 4))


# -- the model ----------------------------------------------------------------------------------

def test_fused_is_exactly_the_sum_of_modality_logits(small_data):
    torch.manual_seed(0)
    model = build_transformer(small_data)
    out = model(small_data.split("val"))
    assert torch.allclose(out.fused, sum(out.logits.values()), atol=1e-5)
    assert set(out.features) == {"audio", "visual"} and out.features["audio"].shape[1] == 32


def test_fuse_on_contributions_reproduces_output_and_supports_subsets(small_data):
    torch.manual_seed(0)
    model = build_transformer(small_data)
    out = model(small_data.split("val"))
    again = model.fuse(out.features)
    assert torch.allclose(again.fused, out.fused, atol=1e-5)
    audio_only = subset_output(model, out.features, {"audio"})
    assert torch.allclose(audio_only.fused, out.logits["audio"] + model.head.linear.bias / 2, atol=1e-5)
    with pytest.raises(ValueError, match="not a mix"):
        model.fuse({"audio": out.features["audio"], "visual": torch.zeros(3, 4, 32)})
    scores = shapley_contributions(model, small_data, "val")
    assert set(scores) == {"audio", "visual"} and all(math.isfinite(v) for v in scores.values())


def test_attention_weights_sum_to_one_over_modalities(small_data):
    torch.manual_seed(0)
    model = build_transformer(small_data)
    attention = attention_on(model, small_data, "val")
    mass = attention.mass()
    assert torch.allclose(mass["audio"] + mass["visual"], torch.ones(len(mass["audio"])), atol=1e-5)
    assert attention.weights["audio"].shape[1] == 33 and attention.weights["visual"].shape[1] == 16


def test_modality_attention_mass_hand_made():
    weights = {"a": torch.tensor([[0.5, 0.2], [0.0, 0.0]]), "b": torch.tensor([[0.3], [1.0]])}
    mass = modality_attention_mass(weights)
    assert torch.allclose(mass["a"], torch.tensor([0.7, 0.0])) and torch.allclose(mass["b"], torch.tensor([0.3, 1.0]))


# -- AIR ----------------------------------------------------------------------------------------

def test_air_hand_made():
    q = torch.tensor([1.0, 0.0])
    k_a = torch.tensor([[2.0, 0.0], [1.0, 1.0]])   # cos 1 and 1/sqrt(2)
    k_b = torch.tensor([[0.0, 3.0], [-1.0, 0.0]])  # cos 0 and -1
    expected = ((1 - 0) + (1 / math.sqrt(2) + 1)) / 2
    assert attention_imbalance_ratio(q, k_a, k_b) == pytest.approx(expected)
    assert attention_imbalance_ratio(q, k_b, k_a) == pytest.approx(-expected)


def test_air_ties_and_zero_keys_give_no_nan():
    q = torch.tensor([1.0, 1.0])
    k = torch.tensor([[1.0, 2.0]])
    assert attention_imbalance_ratio(q, k, k) == 0.0
    zero = torch.zeros(1, 2)
    value = attention_imbalance_ratio(q, zero, zero)
    assert value == 0.0 and not math.isnan(value)
    assert attention_imbalance_ratio(torch.zeros(2), k, zero) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        attention_imbalance_ratio(q, k, torch.zeros(2, 2))


# -- rotation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rotation_maps_u_onto_v_and_is_a_rotation(seed):
    gen = torch.Generator().manual_seed(seed)
    u, v = torch.randn(7, generator=gen, dtype=torch.float64), torch.randn(7, generator=gen, dtype=torch.float64)
    r = rotation_matrix(u, v)
    assert torch.allclose(r @ (u / u.norm()), v / v.norm(), atol=1e-10)
    assert torch.allclose(r.T @ r, torch.eye(7, dtype=torch.float64), atol=1e-10)
    assert torch.linalg.det(r).item() == pytest.approx(1.0)
    w = torch.randn(7, generator=gen, dtype=torch.float64)  # a vector orthogonal to u and v is unchanged
    basis, _ = torch.linalg.qr(torch.stack([u, v, w], dim=1))
    ortho = basis[:, 2]
    assert torch.allclose(r @ ortho, ortho, atol=1e-10)


def test_rotation_hand_made_quarter_turn():
    r = rotation_matrix(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0]))
    expected = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert torch.allclose(r, expected, atol=1e-6)


def test_rotation_edge_cases():
    u = torch.tensor([1.0, 2.0, 3.0])
    assert torch.allclose(rotation_matrix(u, 5 * u), torch.eye(3), atol=1e-6)
    flip = rotation_matrix(u, -u)
    assert torch.allclose(flip @ (u / u.norm()), -u / u.norm(), atol=1e-5)
    assert torch.linalg.det(flip).item() == pytest.approx(1.0, abs=1e-5)
    assert not torch.isnan(flip).any()
    with pytest.raises(ValueError, match="zero vector"):
        rotation_matrix(torch.zeros(3), u)
    with pytest.raises(ValueError, match="same length"):
        rotation_matrix(u, torch.ones(4))


def test_rebalance_weight_and_target():
    assert rebalance_weight(0.0, 2.0) == 0.5
    assert rebalance_weight(1.0, 2.0) < 0.5 < rebalance_weight(-1.0, 2.0)
    assert rebalance_weight(1.0, 2.0) + rebalance_weight(-1.0, 2.0) == pytest.approx(1.0)
    k_a = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    k_b = torch.tensor([[0.0, 1.0], [0.0, 0.5]])
    target = rebalanced_target(k_a, k_b, air=0.0, sigma=2.0)  # tie: the bisector
    assert torch.allclose(target, torch.tensor([1.0, 1.0]) / math.sqrt(2), atol=1e-6)
    leaning = rebalanced_target(k_a, k_b, air=1.0, sigma=2.0)  # a preferred: lean toward b
    assert leaning[1] > leaning[0] and leaning.norm().item() == pytest.approx(1.0)


# -- the method ---------------------------------------------------------------------------------

def test_rollingq_is_registered_in_the_feed_forward_family():
    assert "rollingq" in methods.names()
    assert "rollingq" in methods.by_family()["feed-forward"]
    method = methods.get("rollingq", beta=0.1)
    assert method.beta == 0.1 and method.hyperparameters()["max_rotations"] == 3
    with pytest.raises(ValueError, match=">= 0"):
        methods.get("rollingq", beta=-1.0)


def test_rollingq_refuses_models_without_a_fusion_query(small_data):
    with pytest.raises(TypeError, match="build_transformer"):
        fit(build_model(small_data), small_data, "rollingq", epochs=1, progress=False)


def test_rollingq_rotates_at_most_max_rotations_and_logs_air(small_data):
    trace = AttentionTrace("val")
    result = trace.annotate(run(small_data, "rollingq", method_kw={"beta": 0.0, "max_rotations": 2},
                                build=build_transformer, optimizer="adam", lr=2e-3, callback=trace,
                                epochs=3, batch_size=32, progress=False))
    history = result.history
    assert history["rotations"] == [1.0, 2.0, 2.0]
    assert history["rotated"] == [1.0, 1.0, 0.0]
    rotation = result.model.head.rotation
    assert torch.allclose(rotation.T @ rotation, torch.eye(32), atol=1e-4)
    assert not torch.allclose(rotation, torch.eye(32))
    assert all(math.isfinite(v) for v in history["air"] + history["val_air"])


def test_rollingq_with_a_high_threshold_never_rotates(small_data):
    result = run(small_data, "rollingq", method_kw={"beta": 5.0}, build=build_transformer, optimizer="adam",
                 lr=2e-3, epochs=2, batch_size=32, progress=False)
    assert result.history["rotations"] == [0.0, 0.0]
    assert torch.equal(result.model.head.rotation, torch.eye(32))


def test_attention_trace_annotates_each_run_with_its_own_epochs(small_data):
    """One trace as the callback of several runs (as compare passes it) keeps them apart."""
    from functools import partial

    from mmlib.experiment import compare
    from mmlib.transformer import attention_summary
    trace = AttentionTrace("test")
    table, runs = compare({"small": small_data}, ["baseline"], seeds=[0, 1], keep_runs=True, callback=trace,
                          build=partial(build_transformer, dim=16), optimizer="adam", lr=2e-3, epochs=2,
                          batch_size=32, progress=False)
    assert len(table) == 2
    for result in runs.values():
        trace.annotate(result)
        assert len(result.history["test_air"]) == 2 and "test_attention_audio" in result.history.records[0]
    last = runs[("small", "baseline", 1)]
    with pytest.raises(KeyError, match="AttentionTrace"):
        AttentionTrace().annotate(last)
    assert last.history.records[-1]["test_air"] == pytest.approx(
        attention_summary(last.model, small_data, "test")["air"]) or last.history.best_epoch != 1


def test_rotation_turns_attention_toward_the_neglected_modality(small_data):
    """After one rotation with a strong sigma, the AIR on the training split changes sign or shrinks."""
    torch.manual_seed(0)
    model = build_transformer(small_data)
    attention = attention_on(model, small_data, "train")
    air = attention_imbalance_ratio(attention.query, attention.mean_keys["audio"], attention.mean_keys["visual"])
    target = rebalanced_target(attention.mean_keys["audio"], attention.mean_keys["visual"], air, sigma=2.0)
    with torch.no_grad():
        model.head.rotation.copy_(rotation_matrix(attention.query, target))
    after = attention_on(model, small_data, "train")
    air_after = attention_imbalance_ratio(after.query, after.mean_keys["audio"], after.mean_keys["visual"])
    assert air_after * air < 0 or abs(air_after) < abs(air)
