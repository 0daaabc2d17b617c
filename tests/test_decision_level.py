"""Unit tests of mmlib.decision (decision-level measures and weights), chapter 10's builders and
scaffolding (mmlib.models.model_with_dims/head_model, mmlib.studies.decision_layer) and the
decision-level methods. The weight explorer is tested in test_widgets.py."""

import math

import pytest
import torch

from mmlib import decision as D
from mmlib import methods
from mmlib.data import MultimodalDataset
from mmlib.data.dataset import stratified_split
from mmlib.metrics import accuracy
from mmlib.models import Rescale, head_model, model_with_dims
from mmlib.studies.decision_layer import feature_dataset, pretrain_encoders, pretrained_model
from mmlib.train import fit


def test_weight_norms_overall_and_per_class():
    slices = {"a": torch.tensor([[3.0, 4.0], [0.0, 0.0]]), "b": torch.tensor([[1.0], [2.0]])}
    assert D.weight_norms(slices) == pytest.approx({"a": 5.0, "b": math.sqrt(5)})
    per_class = D.per_class_weight_norms(slices)
    assert per_class["a"].tolist() == pytest.approx([5.0, 0.0])
    assert per_class["b"].tolist() == pytest.approx([1.0, 2.0])


def test_feature_energy_grows_with_norm_and_dimension():
    h_small = torch.ones(10, 4)
    energy = D.feature_energy({"small": h_small, "wide": torch.ones(10, 16), "loud": 3 * h_small})
    assert energy == pytest.approx({"small": 4.0, "wide": 16.0, "loud": 36.0})
    scales = D.equal_energy_scales({"x": 2 * torch.ones(5, 4), "y": torch.ones(5, 4)})  # energies 16, 4 -> 10
    assert scales == pytest.approx({"x": math.sqrt(10 / 16), "y": math.sqrt(10 / 4)})
    assert D.equal_energy_scales({"x": torch.ones(5, 4), "zero": torch.zeros(5, 3)})["zero"] == 1.0
    assert Rescale(0.5)(torch.ones(2, 2)).tolist() == [[0.5, 0.5], [0.5, 0.5]]


def test_logit_magnitudes_ignore_constant_shifts():
    z = torch.tensor([[1.0, -1.0], [2.0, -2.0]])
    mags = D.logit_magnitudes({"a": z, "b": z + 10.0, "zero": torch.zeros(2, 2)})
    assert mags["a"] == pytest.approx(1.5) and mags["b"] == pytest.approx(1.5) and mags["zero"] == 0.0


def test_decision_shares_sum_to_one_and_follow_the_pushes(two_modalities):
    logits, _ = two_modalities
    shares = D.decision_shares(logits)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["a"] > shares["b"] > 0
    # hand computation for the first sample: decided class 0, pushes a: 3 - 1 = 2, b: 1 - 1/3 = 2/3
    first = D.decision_shares({m: z[:1] for m, z in logits.items()})
    assert first["a"] == pytest.approx(2 / (2 + 2 / 3))


def test_decision_shares_zero_modality_and_all_ties_no_nan(two_modalities):
    logits, _ = two_modalities
    shares = D.decision_shares({"a": logits["a"], "zero": torch.zeros(4, 3)})
    assert shares == pytest.approx({"a": 1.0, "zero": 0.0})
    tied = D.decision_shares({"a": torch.zeros(3, 4), "b": torch.zeros(3, 4)})
    assert tied == pytest.approx({"a": 0.5, "b": 0.5})


def test_contributions_add_up_to_fused_margin():
    gen = torch.Generator().manual_seed(0)
    logits = {m: torch.randn(20, 5, generator=gen) for m in "abc"}
    fused = sum(logits.values())
    margin = fused.max(1).values - fused.mean(1)
    assert torch.allclose(D.contributions(logits).sum(1), margin, atol=1e-5)
    assert (margin >= 0).all()


def test_removal_drops_by_hand_and_with_bias(two_modalities):
    logits, labels = two_modalities
    # fused: sample 3 (label 0) is decided 1 (3 vs 1): 3/4 correct. Without a: b alone 3/4 (ties -> class 0)
    drops = D.removal_drops(logits, labels)
    assert drops["a"] == pytest.approx(0.75 - 0.75)
    assert drops["b"] == pytest.approx(0.75 - 0.75)
    # a modality that opposes the other: removing it *gains* accuracy (negative drop)
    opposed = D.removal_drops({"a": logits["a"], "neg": -logits["a"]}, labels)
    assert opposed == pytest.approx({"a": 0.5 - 0.25, "neg": 0.5 - 0.75})
    bias = torch.tensor([0.0, 0.0, 10.0])  # each modality's logits hold b/2; removing b keeps b/2
    with_bias = {m: z + bias / 2 for m, z in logits.items()}
    drops = D.removal_drops(with_bias, labels, bias)
    assert drops["a"] == pytest.approx(accuracy(sum(with_bias.values()), labels)
                                       - accuracy(with_bias["b"] + bias / 2, labels))


def test_per_class_accuracy_missing_class_is_nan_not_zero():
    scores = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    acc = D.per_class_accuracy(scores, labels)
    assert acc[:2].tolist() == pytest.approx([1.0, 0.5])
    assert math.isnan(acc[2].item())


def test_fit_temperature_recovers_a_known_temperature():
    gen = torch.Generator().manual_seed(0)
    true_logits = 2.0 * torch.randn(4000, 4, generator=gen)
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    # the model is 3x over-confident: its best temperature is ~3
    assert D.fit_temperature(3.0 * true_logits, labels) == pytest.approx(3.0, rel=0.1)
    assert D.fit_temperature(torch.zeros(10, 3), torch.zeros(10, dtype=torch.long)) == 1.0


def test_capability_weights_sum_to_one_and_ignore_chance(two_modalities):
    logits, labels = two_modalities
    w = D.capability_weights(logits, labels)
    assert sum(w.values()) == pytest.approx(1.0)
    # a: 3/4 correct, b: 3/4 correct -> equal gains over chance 1/3
    assert w["a"] == pytest.approx(0.5)
    w = D.capability_weights({"a": logits["a"], "zero": torch.zeros(4, 3)}, torch.tensor([1, 1, 2, 1]))
    assert w == pytest.approx({"a": 1.0, "zero": 0.0})  # zeros predict class 0: 0 correct
    w = D.capability_weights({"x": torch.zeros(4, 3), "y": torch.zeros(4, 3)}, torch.tensor([1, 1, 2, 1]))
    assert w == pytest.approx({"x": 0.5, "y": 0.5})
    assert all(not math.isnan(v) for v in w.values())


def test_confidence_weights_rows_sum_to_one_zero_modality_gets_zero(two_modalities):
    logits, _ = two_modalities
    w = D.confidence_weights({"a": logits["a"], "b": logits["b"], "zero": torch.zeros(4, 3)})
    assert w.shape == (4, 3)
    assert torch.allclose(w.sum(1), torch.ones(4))
    assert (w[:, 2] == 0).all() and (w[:, 0] > w[:, 1]).all()
    flat = D.confidence_weights({"x": torch.zeros(2, 3), "y": torch.zeros(2, 3)})
    assert torch.allclose(flat, torch.full((2, 2), 0.5))


def test_class_capabilities_and_class_weights_columns_sum_to_one():
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(3).repeat(40)
    good_on_0 = torch.randn(120, 3, generator=gen) + 4.0 * torch.nn.functional.one_hot(labels, 3) * (labels == 0)[:, None]
    good_on_12 = torch.randn(120, 3, generator=gen) + 4.0 * torch.nn.functional.one_hot(labels, 3) * (labels > 0)[:, None]
    logits = {"u": good_on_0, "v": good_on_12}
    caps = D.class_capabilities(logits, labels)
    assert torch.allclose(caps.sum(0), torch.ones(3))
    assert caps[0, 0] > 0.5 and caps[1, 1] > 0.5 and caps[1, 2] > 0.5
    weights = D.fit_class_weights(logits, labels, balance=1.0, steps=100)
    assert weights.shape == (2, 3) and torch.allclose(weights.sum(0), torch.ones(3), atol=1e-6)
    assert weights[0, 0] > 0.5 and weights[1, 1] > 0.5
    zero = D.fit_class_weights({"u": good_on_0, "zero": torch.zeros(120, 3)}, labels, steps=50)
    assert not torch.isnan(zero).any() and torch.allclose(zero.sum(0), torch.ones(3), atol=1e-6)


def test_weighted_logits_uniform_is_identity_and_shapes_checked(two_modalities):
    logits, _ = two_modalities
    same = D.weighted_logits(logits, {"a": 0.5, "b": 0.5})
    assert all(torch.allclose(same[m], logits[m]) for m in logits)
    per_class = D.weighted_logits(logits, torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]]), per="class")
    assert per_class["a"][:, 1].abs().sum() == 0 and torch.allclose(per_class["b"][:, 1], 2 * logits["b"][:, 1])
    per_sample = D.weighted_logits(logits, torch.tensor([[1.0, 0.0]] * 4), per="sample")
    assert per_sample["b"].abs().sum() == 0
    with pytest.raises(ValueError, match="per='class' needs"):
        D.weighted_logits(logits, torch.ones(4, 2), per="class")
    with pytest.raises(ValueError, match="per must be one of"):
        D.weighted_logits(logits, torch.ones(2), per="batch")


# -- the registered methods ------------------------------------------------------------------------

def feature_data(seed: int = 0) -> MultimodalDataset:
    """Two feature-vector modalities: 'strong' separates the classes well, 'weak' a little."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(3).repeat(60)
    centres = torch.randn(3, 8, generator=gen)
    strong = 3 * centres[labels] + torch.randn(180, 8, generator=gen)
    weak = 0.5 * centres[labels][:, :4] + torch.randn(180, 4, generator=gen)
    return MultimodalDataset("toy", {"strong": strong, "weak": weak}, labels, ["a", "b", "c"],
                             stratified_split(labels, (0.5, 0.25, 0.25), seed))


@pytest.mark.parametrize("name", ["calibrated_weighting", "confidence_weighting", "class_weighting"])
def test_methods_fit_and_keep_the_additive_contract(name):
    from mmlib.metrics import predict
    from mmlib.models import build_model
    data = feature_data()  # registration and family: tests/test_method_contract.py
    torch.manual_seed(0)
    model = build_model(data, feature_dim=8)
    method = methods.get(name)
    history = fit(model, data, method, epochs=3, progress=False)
    assert 0.0 <= history.final["test_acc"] <= 1.0
    assert "temperature_weak" in history.records[-1]
    assert (model.decision.temperature > 0).all()
    output, _ = predict(model, data, "test", method)
    assert torch.allclose(output.fused, sum(output.logits.values()), atol=1e-5)
    weights = model.decision.weights
    total = weights.sum(0)
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)


def test_weights_restored_with_the_selected_epoch():
    from mmlib.models import build_model
    data = feature_data(1)
    torch.manual_seed(0)
    model = build_model(data, feature_dim=8)
    seen = []
    history = fit(model, data, methods.get("calibrated_weighting", head="joint"), epochs=6, lr=0.2, progress=False,
                  callback=lambda state: seen.append(state.model.decision.weights.clone()))
    assert "decision.weights" in model.state_dict() and "decision.temperature" in model.state_dict()
    assert torch.equal(model.decision.weights, seen[history.best_epoch])
    assert history.final["val_acc"] == pytest.approx(history.records[history.best_epoch]["val_acc"])


def test_bad_head_lists_valid_options():
    with pytest.raises(ValueError, match="unimodal"):
        methods.get("calibrated_weighting", head="late")


def test_capability_shares_and_head_on_frozen_features():
    from mmlib.metrics import predict
    assert D.capability_shares({"a": 0.9, "b": 0.5}, 2) == pytest.approx({"a": 1.0, "b": 0.0})
    assert D.capability_shares({"a": 0.1, "b": 0.2}, 4) == pytest.approx({"a": 0.5, "b": 0.5})
    data = feature_data()
    encoders, capability = pretrain_encoders(data, {"strong": 6, "weak": 3}, seed=0, scales={"weak": 2.0},
                                             epochs=2, progress=False)
    assert set(capability) == {"strong", "weak"} and isinstance(encoders["weak"][1], Rescale)
    features = feature_dataset(data, encoders)
    assert features.input_shapes == {"strong": (6,), "weak": (3,)}
    full = model_with_dims(data, {"strong": 6, "weak": 3})
    full.encoders["strong"].load_state_dict(encoders["strong"].state_dict())
    full.encoders["weak"] = encoders["weak"]
    head = head_model(features)
    head.head.load_state_dict(full.head.state_dict())
    a, _ = predict(full, data, "test")
    b, _ = predict(head, features, "test")
    assert torch.allclose(a.fused, b.fused, atol=1e-5)


def test_model_with_dims_widths_scales_and_unknown_modality():
    data = feature_data()
    model = model_with_dims(data, {"strong": 5, "weak": 2}, {"weak": 3.0})
    assert model.head.dims == {"strong": 5, "weak": 2}
    assert isinstance(model.encoders["weak"][-1], Rescale) and not isinstance(model.encoders["strong"][-1], Rescale)
    output = model(data.batch(data.splits["test"][:4]))
    assert output.features["strong"].shape == (4, 5) and output.features["weak"].shape == (4, 2)
    assert torch.allclose(output.fused, sum(output.logits.values()), atol=1e-5)
    with pytest.raises(KeyError, match="valid"):
        model_with_dims(data, {"audio": 4})


def test_head_model_reads_features_and_refuses_images():
    data = feature_data()
    head = head_model(data)
    assert all(isinstance(e, torch.nn.Identity) for e in head.encoders.values())
    assert head.head.dims == {"strong": 8, "weak": 4}
    labels = torch.arange(16) % 2
    images = MultimodalDataset("img", {"x": torch.zeros(16, 1, 4, 4)}, labels, ["a", "b"],
                               stratified_split(labels, (0.5, 0.25, 0.25), 0))
    with pytest.raises(ValueError, match="feature vectors"):
        head_model(images)


def test_pretrain_goes_through_run_and_fine_tuning_starts_from_copies():
    from mmlib.train import run
    data = feature_data()
    encoders, capability = pretrain_encoders(data, {"strong": 4}, seed=3, epochs=2, progress=False)
    alone = run(data, "baseline", seed=3, modalities=["strong"], epochs=2, progress=False,
                build=lambda d: model_with_dims(d, {"strong": 4}))
    assert capability["strong"] == alone.history.final["test_acc"]  # the same seeded run
    for a, b in zip(encoders["strong"].state_dict().values(), alone.model.encoders["strong"].state_dict().values()):
        assert torch.equal(a, b)
    encoders["strong"].train()
    model = pretrained_model(data, {"strong": 4, "weak": 2}, encoders=encoders)
    assert encoders["strong"].training  # feature_dataset/pretrained_model leave the encoder's mode alone
    first = next(iter(model.encoders["strong"].parameters()))
    assert torch.equal(first, next(iter(encoders["strong"].parameters())))
    with torch.no_grad():
        first.add_(1.0)
    assert not torch.equal(first, next(iter(encoders["strong"].parameters())))  # a copy, not the same tensor
    features = feature_dataset(data, encoders)
    assert encoders["strong"].training and features.input_shapes == {"strong": (4,)}
