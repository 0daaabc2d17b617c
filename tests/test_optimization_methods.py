"""Unit tests of chapter 6's methods: the pure functions on hand-made inputs, then each method in a short run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mmlib.methods as methods
from mmlib.methods.agm import agm_coefficients, response_losses, scale_gradient, shapley_responses
from mmlib.methods.inforeg import fisher_trace, information_growth, proximal_strengths
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


def test_ogm_coefficients_hand_computed_from_the_authors_rule():
    # authors (OGM-GE main.py): rho = s_a / s_v = 3.0 / 1.5 = 2 > 1, k_a = 1 - tanh(0.3 * 2) = 1 - tanh(0.6)
    # = 1 - 0.537050 = 0.462950; the weaker modality keeps k = 1.
    assert ogm_coefficients({"audio": 3.0, "visual": 1.5}, alpha=0.3) == {
        "audio": pytest.approx(0.4629504330, abs=1e-9), "visual": 1.0}
    # tie rho = 1: the course leaves both at 1 (the authors' else-branch would give audio
    # 1 - tanh(0.3) = 0.708687; the difference is stated in OGMGE.differences)
    assert ogm_coefficients({"audio": 1.5, "visual": 1.5}, alpha=0.3) == {"audio": 1.0, "visual": 1.0}
    # a zero score of the weak modality: rho = inf, k = 1 - tanh(inf) = 0 (the authors' code divides by zero)
    assert ogm_coefficients({"audio": 3.0, "visual": 0.0}, alpha=0.3) == {"audio": 0.0, "visual": 1.0}


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


def test_agm_coefficients_hand_computed_from_the_authors_rule():
    # authors (run/CREMAD_main.py): ratio_a = exp(s_v - s_a) = exp(1.5 - 0.2) = exp(1.3) = 3.669297,
    # optimal_a = exp(S_v - S_a) = exp(1.2 - 0.5) = exp(0.7) = 2.013753,
    # coeff_a = exp(1.0 * min(2.013753 - 3.669297, 10)) = exp(-1.655544) = 0.190988;
    # ratio_v = exp(-1.3) = 0.272532, optimal_v = exp(-0.7) = 0.496585, coeff_v = exp(0.224054) = 1.251138
    c = agm_coefficients({"a": 0.2, "v": 1.5}, {"a": 0.5, "v": 1.2}, alpha=1.0)
    assert c["a"] == pytest.approx(0.190988, abs=1e-6) and c["v"] == pytest.approx(1.251138, abs=1e-6)


def test_agm_first_step_compares_with_a_running_mean_of_zero():
    # the authors' running scores start at 0 and exclude the current step: optimal = exp(0) = 1 at the
    # first step; losses 0.3 (a) and 1.1 (v), alpha 0.5: coeff_a = exp(0.5 * (1 - exp(0.8))) = 0.541848,
    # coeff_v = exp(0.5 * (1 - exp(-0.8))) = 1.316972
    c = agm_coefficients({"a": 0.3, "v": 1.1}, {"a": 0.0, "v": 0.0}, alpha=0.5)
    assert c["a"] == pytest.approx(0.541848, abs=1e-6) and c["v"] == pytest.approx(1.316972, abs=1e-6)


def test_agm_loss_gap_beyond_710_gives_finite_coefficients():
    # exp(800) overflows a float; the authors' floor p >= 1e-8 bounds a loss by -log(1e-8) = 18.420681, so
    # ratio_a = exp(18.420681) = 1e8 and coeff_a = exp(0.5 * (1 - 1e8)) = 0.0, coeff_v = exp(0.5 * (1 - 1e-8))
    # = exp(0.5) = 1.648721
    c = agm_coefficients({"a": 0.0, "v": 800.0}, {"a": 0.0, "v": 0.0}, alpha=0.5)
    assert all(math.isfinite(v) for v in c.values())
    assert c["a"] == 0.0 and c["v"] == pytest.approx(1.648721, abs=1e-6)
    c = agm_coefficients({"a": 0.0, "v": 800.0}, {"a": 900.0, "v": 0.0}, alpha=1.0)
    assert all(math.isfinite(v) for v in c.values())


def test_agm_response_losses_floor_the_probability_at_1e8():
    # sample 0: logits [0, 0] -> p_y = 0.5, loss log 2 = 0.693147; sample 1: logits [0, -100] with y = 1 ->
    # p_y = e^-100 < 1e-8, counted as -log(1e-8) = 18.420681; mean = 9.556914
    r = {"a": torch.tensor([[0.0, 0.0], [0.0, -100.0]]), "v": torch.tensor([[0.0, 0.0], [0.0, 0.0]])}
    losses = response_losses(r, torch.tensor([0, 1]))
    assert losses["a"] == pytest.approx((0.693147 + 18.420681) / 2, abs=1e-6)
    assert losses["v"] == pytest.approx(0.693147, abs=1e-6)


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
    # by hand: class 0 = mean([0, 0], [2, 2]) = [1, 1]; class 1 = [4, 0]; class 2 has no sample.
    # With EMA momentum 0.5: c = 0.5 * mean + 0.5 * old -> [2, 2], [2, 0]; class 2 keeps [7, 7]
    # (the authors' code divides by a zero count: NaN; the difference is stated in PMR.differences).
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


def test_pmr_scores_and_switch_hand_computed():
    # prototype logits of h = [0, 0] to c = [[3, 4], [0, 1]]: [-5, -1]; softmax = [e^-4, 1] / (1 + e^-4)
    # = [0.017986, 0.982014]. Audio's score on label 1 is 0.982014, visual's (same prototypes, label 0)
    # 0.017986: rho_a = 54.6 > 1, so the authors add the PCE of visual (lam = alpha), none for audio.
    logits = prototype_logits(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [0.0, 1.0]]))
    p = torch.softmax(logits, dim=1)[0]
    assert p[1].item() == pytest.approx(0.982014, abs=1e-6)
    assert weak_modalities({"audio": p[1].item(), "visual": p[0].item()}) == ["visual"]


def test_pmr_adds_pce_for_the_weaker_modality_only():
    assert weak_modalities({"a": 40.0, "v": 20.0}) == ["v"]
    assert weak_modalities({"a": 20.0, "v": 20.0}) == []
    assert weak_modalities({"a": 5.0, "v": 0.0}) == ["v"]


# -- InfoReg -----------------------------------------------------------------------------------

def test_fisher_trace_sums_layer_means():
    assert fisher_trace([torch.full((2, 2), 3.0), torch.tensor([1.0, 0.0])]) == pytest.approx(3.5)
    assert fisher_trace([]) == 0.0


def test_information_growth_hand_computed_from_the_authors_rule():
    # authors (InfoReg main.py): k = (mean(tr[-10:]) - mean(tr[-11:-1])) / mean(tr[-10:]) over a trace list
    # that starts with ten zeros; k = 1 in epoch 0. Here with w = 3 (three zeros in front):
    assert information_growth([], 3) == 1.0                                    # epoch 0
    assert information_growth([5.0], 3) == pytest.approx((5 - 0) / 5)          # [0,0,0,5]: 1
    assert information_growth([5.0, 5.0], 3) == pytest.approx((10 - 5) / 10)   # flat trace, epoch 2: 0.5
    assert information_growth([5.0] * 3, 3) == pytest.approx((15 - 10) / 15)  # epoch 3: 1/3
    assert information_growth([5.0] * 4, 3) == 0.0                             # padding used up: no growth
    assert information_growth([2.0, 4.0, 4.0], 3) == pytest.approx(0.4)        # [0,0,0,2,4,4]: (10 - 6) / 10
    assert information_growth([1.0, 2.0, 4.0, 8.0], 2) == pytest.approx(0.5)   # [0,0,1,2,4,8]: (12 - 6) / 12
    assert information_growth([5.0, 4.0, 3.0, 2.0, 1.0], 3) < 0               # falling: outside the window
    assert information_growth([0.0, 0.0, 0.0], 2) == 0.0                       # zero gradients: no NaN
    # the authors' window of 10 over 50 epochs: a flat trace is inside (k = 1/e > 0.05) for ten epochs
    assert information_growth([1.0] * 9, 10) == pytest.approx(1 / 9)
    assert information_growth([1.0] * 10, 10) == pytest.approx(1 / 10)
    assert information_growth([1.0] * 11, 10) == 0.0


def test_proximal_strengths_hand_computed_from_the_authors_rule():
    # authors: audio leads -> beta = 0.95 * exp(tanh(s_a - s_v)); visual leads -> beta2 = 0.1 * exp(tanh(s_v - s_a)).
    # gap 0.6: tanh(0.6) = 0.537050, exp(0.537050) = 1.710951 -> 0.95 * 1.710951 = 1.625404, 0.1 * ... = 0.171095
    weak = 0.95 * 0.1 / 0.95
    assert proximal_strengths({"a": 0.9, "v": 0.3}, "a", 0.95, weak) == {
        "a": pytest.approx(1.625404, abs=1e-6), "v": 0.0}
    assert proximal_strengths({"a": 0.3, "v": 0.9}, "a", 0.95, weak) == {
        "a": 0.0, "v": pytest.approx(0.171095, abs=1e-6)}
    assert proximal_strengths({"a": 0.5, "v": 0.5}, "a", 0.95, weak) == {"a": 0.0, "v": 0.0}  # tie: nobody
    assert proximal_strengths({"a": 0.9, "v": 0.3}, "a", 0.0, 0.0) == {"a": 0.0, "v": 0.0}    # beta0 = 0: off
    with pytest.raises(ValueError, match="dominant"):
        proximal_strengths({"a": 0.9, "v": 0.3}, "x", 0.95, weak)


def test_inforeg_defaults_are_the_authors_rule_and_beta0_zero_switches_everything_off():
    method = methods.get("inforeg")
    assert method.beta0 == 0.95 and method.weak_strength == pytest.approx(0.1) and method.threshold == 0.05
    off = methods.get("inforeg", beta0=0.0)
    assert off.beta0 == 0.0 and off.weak_strength == 0.0
    assert methods.get("inforeg", beta_weak=0.95).weak_strength == 0.95  # the course's earlier, symmetric rule


# -- ReconBoost --------------------------------------------------------------------------------

def test_boosting_loss_down_weights_samples_the_others_already_solve():
    logits = torch.zeros(2, 3, requires_grad=True)
    y = torch.tensor([0, 0])
    others = torch.tensor([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])  # right on sample 0, wrong on sample 1
    boosting_loss(logits, others, y, w1=5.0, w2=1.0).backward()
    g = logits.grad[:, 0]
    assert g[1].abs() > g[0].abs() > 0
    # by hand: C = 3, f = F = 0: log p = log(1/3), q = 1/3 -> (-5 + 1/3) * log(1/3) / 3 = 1.708952
    value = boosting_loss(torch.zeros(1, 3), torch.zeros(1, 3), torch.tensor([0]), 5.0, 1.0)
    assert value.item() == pytest.approx(1.708952, abs=1e-6)


def test_boosting_loss_of_stage_zero_weighs_every_sample_alike():
    # the authors' stage-0 ensemble is a constant: softmax over its one column is 1, so q = 1 and each
    # sample weighs -w1 + w2 = -4: (-4) * log(1/3) / 3 = 1.464816 for f = 0, C = 3
    value = boosting_loss(torch.zeros(1, 3), None, torch.tensor([0]), 5.0, 1.0)
    assert value.item() == pytest.approx(1.464816, abs=1e-6)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0])
    plain = torch.nn.functional.cross_entropy(logits, y) * (5.0 - 1.0) / 3  # (w1 - w2) / C times the CE
    assert boosting_loss(logits, None, y, 5.0, 1.0).item() == pytest.approx(plain.item())


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
    # authors (ours.py): w = tanh(lambda * |purity_train - purity_val|) = tanh(3 * 0.3) = tanh(0.9) = 0.716298;
    # theta <- w * theta_init + (1 - w) * theta: 0.25 * [0, 2] + 0.75 * [4, 0] = [3, 0.5]
    assert reinit_strength(0.9, 0.6, 3.0) == pytest.approx(0.716298, abs=1e-6)
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

    # epoch 0: the correction trains the ensemble, which holds only the first learner (the authors' stage 0)
    for batch, everything in ((batches[0], False), (batches[n], False)):
        encoders = {m: weights(model.encoders[m]) for m in model.modalities}
        head = weights(model.head)
        method.step(state, batch, method.optimizer_for(state, batch))
        assert moved(encoders[learner], model.encoders[learner]) and moved(head, model.head)
        assert moved(encoders[frozen], model.encoders[frozen]) == everything
    assert method.optimizer_for(state, batches[n]) is state.optimizer  # the correction's covers every parameter
    state.epoch = 1
    method.on_epoch_start(state)  # epoch 1: the second learner; its correction trains both encoders
    assert method.learner == frozen and method.ensemble == [learner]
    batch = next(b for b in method.sample(state) if not isinstance(b, StageBatch))
    encoders = {m: weights(model.encoders[m]) for m in model.modalities}
    method.step(state, batch, method.optimizer_for(state, batch))
    assert all(moved(encoders[m], model.encoders[m]) for m in model.modalities)


def test_inforeg_regulates_the_dominant_encoder_strongly(mfeat):
    history = run(mfeat, "inforeg", seed=0, epochs=3, progress=False).history
    assert min(history["dominant_fac"]) == 1.0  # fac leads mfeat from the first epoch
    assert max(history["beta_fac"]) > 0.95 and max(history["beta_zer"]) <= 0.1 * math.e
    assert all(t > 0 for t in history["fisher_trace_fac"])


def test_inforeg_with_beta0_zero_keeps_the_unimodal_losses_only(mfeat):
    history = run(mfeat, "inforeg", seed=0, epochs=2, progress=False, method_kw={"beta0": 0.0}).history
    assert max(history["beta_fac"]) == 0.0 and max(history["beta_zer"]) == 0.0
