"""Unit tests of chapter 6's methods: the pure functions on hand-made inputs, then each method in a short run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mmlib.methods as methods
from mmlib.methods.agm import agm_coefficients, scale_gradient, shapley_responses
from mmlib.methods.inforeg import fisher_trace, information_growth, proximal_strength
from mmlib.methods.ogm import discrepancy_ratios, ge_noise, modulate_gradient, ogm_coefficients
from mmlib.methods.pmr import class_prototypes, prototype_logits, weak_modalities
from mmlib.methods.reconboost import boosting_loss, consolidation_loss
from mmlib.methods.relearning import cluster_purity, kmeans_purity, minmax_scale, reinit_strength, soft_reinit
from mmlib.train import run

OPTIMIZATION = ["ogm_ge", "agm", "pmr", "inforeg", "reconboost", "relearning"]


# -- OGM-GE ------------------------------------------------------------------------------------

def test_ogm_dominant_gets_one_minus_tanh_alpha_rho():
    k = ogm_coefficients({"audio": 30.0, "visual": 10.0}, alpha=0.5)
    assert k["visual"] == 1.0
    assert k["audio"] == pytest.approx(1 - math.tanh(0.5 * 3.0))  # the code's form, not tanh(alpha*(rho-1))
    assert k["audio"] != pytest.approx(1 - math.tanh(0.5 * 2.0))


def test_ogm_is_symmetric_in_which_modality_dominates():
    k = ogm_coefficients({"audio": 10.0, "visual": 30.0}, alpha=0.5)
    assert k == {"audio": 1.0, "visual": pytest.approx(1 - math.tanh(1.5))}


def test_ogm_tie_leaves_both_untouched():
    assert ogm_coefficients({"a": 7.0, "b": 7.0}, alpha=2.0) == {"a": 1.0, "b": 1.0}
    assert ogm_coefficients({"a": 0.0, "b": 0.0}, alpha=2.0) == {"a": 1.0, "b": 1.0}


def test_ogm_jumps_just_above_a_tie():
    k = ogm_coefficients({"a": 1.0 + 1e-9, "b": 1.0}, alpha=0.5)["a"]
    assert k == pytest.approx(1 - math.tanh(0.5), abs=1e-6)


def test_ogm_zero_score_gives_no_nan():
    k = ogm_coefficients({"a": torch.tensor(5.0), "b": torch.tensor(0.0)}, alpha=0.3)
    assert k == {"a": 0.0, "b": 1.0}
    assert all(math.isfinite(v) for v in k.values())
    assert ogm_coefficients({"a": 5.0, "b": 0.0}, alpha=0.0) == {"a": 1.0, "b": 1.0}  # 0 * inf would be NaN


def test_ogm_three_modalities_compare_with_mean_of_others():
    k = ogm_coefficients({"a": 6.0, "b": 2.0, "c": 4.0}, alpha=0.4)
    assert k["a"] == pytest.approx(1 - math.tanh(0.4 * 6.0 / 3.0))
    assert k["c"] == 1.0 and k["b"] == 1.0  # rho_c = 4 / mean(6, 2) = 1: a tie
    ratios = discrepancy_ratios({"a": 6.0, "b": 2.0, "c": 4.0})
    assert ratios["b"] == pytest.approx(0.4)


def test_ogm_two_modality_extension_matches_pairwise_rule():
    rng = np.random.default_rng(0)
    for _ in range(50):
        s1, s2 = rng.uniform(0, 64, size=2)
        alpha = rng.uniform(0, 2)
        k = ogm_coefficients({"x": s1, "y": s2}, alpha)
        rho = s1 / s2
        assert k["x"] == pytest.approx(1 - math.tanh(alpha * rho) if rho > 1 else 1.0)
        assert k["y"] == pytest.approx(1 - math.tanh(alpha / rho) if rho < 1 else 1.0)


def test_ogm_rejects_bad_input():
    with pytest.raises(ValueError, match="two modalities"):
        ogm_coefficients({"a": 1.0}, 0.1)
    with pytest.raises(ValueError, match="alpha"):
        ogm_coefficients({"a": 1.0, "b": 2.0}, -1)
    with pytest.raises(ValueError, match="non-negative"):
        ogm_coefficients({"a": -1.0, "b": 2.0}, 0.1)


def test_ge_noise_has_the_std_of_the_unmodulated_gradient():
    grad = torch.randn(200, 100, generator=torch.Generator().manual_seed(0)) * 3.0
    noise = ge_noise(grad, torch.Generator().manual_seed(1))
    assert noise.shape == grad.shape
    assert noise.std().item() == pytest.approx(grad.std().item(), rel=0.05)
    assert abs(noise.mean().item()) < 0.05 * grad.std().item()


def test_ge_noise_of_zero_or_single_gradient_is_finite_and_tiny():
    for grad in (torch.zeros(10, 10), torch.tensor([2.5])):
        noise = ge_noise(grad, torch.Generator().manual_seed(0))
        assert torch.isfinite(noise).all() and noise.abs().max() < 1e-6


def test_modulate_gradient_scales_then_adds_noise_from_unscaled_std():
    grad = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(modulate_gradient(grad, 0.25, ge=False), 0.25 * grad)
    noisy = modulate_gradient(grad, 0.0, ge=True, generator=torch.Generator().manual_seed(3))
    assert noisy.std().item() == pytest.approx(grad.std().item(), rel=0.1)  # k = 0: pure noise at std(g)


def test_ogm_without_ge_is_plain_ogm():
    method = methods.get("ogm_ge", ge=False, alpha=0.2)
    assert method.ge is False and method.alpha == 0.2


# -- AGM ---------------------------------------------------------------------------------------

def test_agm_two_modality_responses_are_the_authors_formula():
    f = {frozenset(): torch.tensor([0.3]), frozenset("a"): torch.tensor([1.0]),
         frozenset("v"): torch.tensor([2.0]), frozenset("av"): torch.tensor([4.0])}
    r = shapley_responses(f, ["a", "v"])
    assert r["a"].item() == pytest.approx(0.5 * (4.0 - 2.0 + 1.0))
    assert r["v"].item() == pytest.approx(0.5 * (4.0 - 1.0 + 2.0))
    assert (r["a"] + r["v"]).item() == pytest.approx(4.0)


def test_agm_responses_sum_to_full_output_for_three_modalities():
    rng = torch.Generator().manual_seed(0)
    names = ["a", "b", "c"]
    f = {frozenset(s): torch.randn(4, 3, generator=rng)
         for s in [(), ("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")]}
    r = shapley_responses(f, names)
    assert torch.allclose(sum(r.values()), f[frozenset(names)], atol=1e-6)
    with pytest.raises(KeyError, match="missing"):
        shapley_responses({frozenset(): torch.zeros(1)}, ["a", "b"])


def test_agm_coefficient_sign_follows_the_original_repository():
    # audio's loss is lower than usual (it is ahead): slowed down; visual lags: sped up.
    c = agm_coefficients({"audio": 0.2, "visual": 1.5}, {"audio": 0.5, "visual": 1.2}, alpha=1.0)
    assert c["audio"] < 1 < c["visual"]
    ratio_a, optimal_a = math.exp(1.5 - 0.2), math.exp(1.2 - 0.5)
    assert c["audio"] == pytest.approx(math.exp(optimal_a - ratio_a))


def test_agm_coefficient_is_one_at_its_running_mean_and_capped():
    same = {"a": 0.7, "b": 0.9}
    assert agm_coefficients(same, same, alpha=2.0) == {"a": 1.0, "b": 1.0}
    c = agm_coefficients({"a": 5.0, "b": 0.0}, {"a": 0.0, "b": 5.0}, alpha=1.0, cap=10.0)
    assert c["a"] == pytest.approx(math.exp(10.0)) and math.isfinite(c["b"]) and c["b"] > 0


def test_scale_gradient_keeps_value_and_scales_gradient():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = scale_gradient(x, 0.3)
    assert torch.equal(y.detach(), x.detach())
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full((2,), 0.3))


# -- PMR ---------------------------------------------------------------------------------------

def test_prototypes_are_class_means_with_ema_and_missing_class_kept():
    h = torch.tensor([[0.0, 0.0], [2.0, 2.0], [4.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    c = class_prototypes(h, y, n_classes=3)
    assert torch.allclose(c, torch.tensor([[1.0, 1.0], [4.0, 0.0], [0.0, 0.0]]))  # class 2 absent: zeros
    old = torch.tensor([[3.0, 3.0], [0.0, 0.0], [7.0, 7.0]])
    c = class_prototypes(h, y, n_classes=3, previous=old, momentum=0.5)
    assert torch.allclose(c, torch.tensor([[2.0, 2.0], [2.0, 0.0], [7.0, 7.0]]))  # class 2 keeps its old one


def test_prototype_logits_are_negative_distances():
    logits = prototype_logits(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    assert torch.allclose(logits, torch.tensor([[-5.0, -1.0]]))


def test_pmr_adds_pce_for_the_weaker_modality_only():
    assert weak_modalities({"a": 40.0, "v": 20.0}) == ["v"]
    assert weak_modalities({"a": 20.0, "v": 20.0}) == []
    assert weak_modalities({"a": 5.0, "v": 0.0}) == ["v"]


# -- InfoReg -----------------------------------------------------------------------------------

def test_fisher_trace_sums_layer_means():
    assert fisher_trace([torch.full((2, 2), 3.0), torch.tensor([1.0, 0.0])]) == pytest.approx(3.5)
    assert fisher_trace([]) == 0.0


def test_information_growth_detects_rising_and_falling_traces():
    assert information_growth([], 3) == 1.0 and information_growth([5.0], 3) == 1.0
    assert information_growth([1.0, 2.0, 3.0, 4.0, 5.0], 3) > 0.04       # rising: inside the window
    assert information_growth([5.0, 4.0, 3.0, 2.0, 1.0], 3) < 0           # falling: outside
    assert information_growth([0.0, 0.0, 0.0], 2) == 0.0                  # zero gradients: no NaN
    rising = [1.0, 2.0, 4.0, 8.0]
    assert information_growth(rising, 2) == pytest.approx(((4 + 8) / 2 - (2 + 4) / 2) / ((4 + 8) / 2))


def test_proximal_strength_targets_the_dominant_modality():
    m, beta = proximal_strength({"a": 0.9, "v": 0.3}, beta0=0.95)
    assert m == "a" and beta == pytest.approx(0.95 * math.exp(math.tanh(0.6)))
    assert proximal_strength({"a": 0.5, "v": 0.5}, beta0=0.95) == ("", 0.0)


# -- ReconBoost --------------------------------------------------------------------------------

def test_boosting_loss_down_weights_samples_the_others_already_solve():
    logits = torch.zeros(2, 3, requires_grad=True)
    y = torch.tensor([0, 0])
    others = torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])  # right on sample 0, wrong on sample 1
    boosting_loss(logits, others, y, w1=5.0, w2=1.0).backward()
    g = logits.grad[:, 0]
    assert g[1].abs() > g[0].abs() > 0
    value = boosting_loss(torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([0]), 5.0, 1.0)
    assert value.item() == pytest.approx((-5 + 1 / 3) * math.log(1 / 3) / 3)


def test_consolidation_term_has_gradient_on_the_current_learner_only():
    f = torch.tensor([[1.0, 0.0]], requires_grad=True)
    prev = torch.tensor([[0.0, 1.0]], requires_grad=True)
    consolidation_loss(f, prev).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0  # the public code's version gives none
    assert prev.grad is None


# -- Re-learning -------------------------------------------------------------------------------

def test_cluster_purity_on_hand_made_clusters():
    assert cluster_purity([0, 0, 1, 1], [3, 3, 5, 5]) == 1.0
    assert cluster_purity([0, 0, 0, 0], [1, 1, 2, 3]) == 0.5
    assert cluster_purity([0, 1, 1, 1], [0, 0, 0, 1]) == 0.75  # a class (2) missing is fine
    with pytest.raises(ValueError):
        cluster_purity([], [])


def test_minmax_scale_and_kmeans_purity_of_separated_clusters():
    x = minmax_scale(np.array([[0.0, 5.0], [10.0, 5.0]]))
    assert np.allclose(x, [[-1, 0], [1, 0]])  # a constant column becomes 0, not NaN
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(20)
    features = torch.randn(60, 4, generator=g) * 0.1 + torch.eye(3, 4)[labels] * 10
    assert kmeans_purity(features, labels, 3) == 1.0


def test_reinit_strength_and_soft_reinit():
    assert reinit_strength(0.9, 0.9, 3.0) == 0.0
    assert reinit_strength(0.9, 0.6, 3.0) == pytest.approx(math.tanh(0.9))
    p = torch.nn.Parameter(torch.tensor([4.0, 0.0]))
    soft_reinit([p], [torch.tensor([0.0, 2.0])], 0.25)
    assert torch.allclose(p.detach(), torch.tensor([3.0, 0.5]))
    with pytest.raises(ValueError):
        soft_reinit([p], [torch.zeros(2)], 1.5)


# -- every method learns mfeat (the contract itself is tests/test_method_contract.py) -------------

@pytest.mark.parametrize("name", OPTIMIZATION)
def test_method_trains_without_nan_and_beats_chance(name, mfeat):
    result = run(mfeat, name, seed=0, epochs=5, progress=False)
    final = result.history.final
    assert math.isfinite(final["test_loss"])
    assert final["test_acc"] > 0.5  # ten classes: chance is 0.1
    for p in result.model.parameters():
        assert torch.isfinite(p).all()


def test_ogm_logs_coefficients_in_window_only(mfeat):
    history = run(mfeat, "ogm_ge", seed=0, epochs=4, progress=False,
                  method_kw={"alpha": 0.5, "modulation_start": 1, "modulation_end": 2}).history
    coef = history["coef_fac"]
    assert coef[0] == 1.0 and coef[3] == 1.0
    assert coef[1] < 1.0 and coef[2] < 1.0  # fac dominates zer on mfeat
    assert min(history["coef_zer"]) == 1.0


def test_ogm_with_zero_alpha_and_no_noise_equals_baseline(mfeat):
    base = run(mfeat, "baseline", seed=1, epochs=2, progress=False).history.final
    ogm = run(mfeat, "ogm_ge", seed=1, epochs=2, progress=False, method_kw={"alpha": 0.0, "ge": False}).history.final
    assert ogm["test_acc"] == base["test_acc"] and ogm["test_loss"] == pytest.approx(base["test_loss"])


def test_agm_output_equals_model_output(mfeat):
    from mmlib.train import seed_everything
    from mmlib.models import build_model
    seed_everything(0)
    model = build_model(mfeat)
    method = methods.get("agm")
    from mmlib.train import TrainState
    TrainState.start(model, mfeat, method, epochs=1, batch_size=8)
    batch = mfeat.batch(mfeat.splits["train"][:8])
    assert torch.allclose(method.forward(model, batch).fused, model(batch).fused, atol=1e-5)


def test_relearning_reinitialises_on_schedule(mfeat):
    history = run(mfeat, "relearning", seed=0, epochs=4, progress=False,
                  method_kw={"reinit_every": 2, "reinit_num": 1}).history
    strengths = history["reinit_fac"]
    assert strengths[0] == 0.0 and strengths[2] == 0.0 and strengths[3] == 0.0
    assert 0.0 <= strengths[1] < 1.0 and math.isfinite(history["purity_train_fac"][1])


def test_reconboost_alternates_learners(mfeat):
    history = run(mfeat, "reconboost", seed=0, epochs=3, progress=False).history
    assert history["stage_fac"] == [1.0, 0.0, 1.0] and history["stage_zer"] == [0.0, 1.0, 0.0]


def test_reconboost_stage_steps_train_the_learner_and_correction_steps_everything(mfeat):
    """The phase travels with the batch (StageBatch or plain): no step override, no phase attribute."""
    from mmlib.methods.reconboost import ReconBoost, StageBatch
    from mmlib.models import build_model
    from mmlib.train import TrainState

    assert "step" not in vars(ReconBoost)
    method = ReconBoost()
    model = build_model(mfeat)
    state = TrainState.start(model, mfeat, method, epochs=2, batch_size=32)
    method.on_epoch_start(state)  # epoch 0: the first modality is the learner
    learner, frozen = model.modalities[0], model.modalities[1]
    batches = list(method.sample(state))
    n = len(batches) // 2
    assert all(isinstance(b, StageBatch) for b in batches[:n])
    assert not any(isinstance(b, StageBatch) for b in batches[n:])

    def weights(module):
        return [p.detach().clone() for p in module.parameters()]

    def moved(before, module):
        return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))

    for batch, everything in ((batches[0], False), (batches[n], True)):
        encoders = {m: weights(model.encoders[m]) for m in model.modalities}
        head = weights(model.head)
        method.step(state, batch, method.optimizer_for(state, batch))
        assert moved(encoders[learner], model.encoders[learner]) and moved(head, model.head)
        assert moved(encoders[frozen], model.encoders[frozen]) == everything
    assert method.optimizer_for(state, batches[n]) is state.optimizer  # the correction's covers every parameter


def test_inforeg_regulates_only_the_dominant_encoder(mfeat):
    history = run(mfeat, "inforeg", seed=0, epochs=3, progress=False).history
    assert max(history["beta_fac"]) > 0 and max(history["beta_zer"]) == 0.0
    assert all(t > 0 for t in history["fisher_trace_fac"])
