"""Unit tests of the learning-objective methods (chapter 5): pure math on hand-made inputs, then each method trains."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmlib.methods import get
from mmlib.methods.cml import confidence_penalty
from mmlib.methods.gblending import blending_weights
from mmlib.methods.lfm import fitted_gap_weight, gap_weight, js_divergence, modality_gap
from mmlib.methods.mbsd import self_distillation
from mmlib.methods.mmcosine import CosineFusion, cosine_logits
from mmlib.methods.mmpareto import min_norm_weight, pareto_combine
from mmlib.methods.multitask import plain_sum_conflict
from mmlib.methods.umt import distillation_loss
from mmlib.train import run

OBJECTIVE = ["mmpareto", "mmcosine", "umt", "gblending", "cml", "mbsd", "lfm"]


# -- the multitask control's conflict log ------------------------------------------------------

@pytest.mark.parametrize("g_mm, g_u, cos, conflict, harm", [
    # aligned: cos = 1 / sqrt(2), the sum helps both
    (torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]), 1 / math.sqrt(2), 0.0, 0.0),
    # conflicting, and the plain sum [1.2, 0.6] has <sum, g_u> = -0.96 + 0.36 = -0.6 < 0: raises L_u
    (torch.tensor([2.0, 0.0]), torch.tensor([-0.8, 0.6]), -0.8, 1.0, 1.0),
    # conflicting but mild: cos = -0.1 / sqrt(1.01); the sum [0.9, 1.0] has inner products 0.9 and 0.91 > 0
    (torch.tensor([1.0, 0.0]), torch.tensor([-0.1, 1.0]), -0.1 / math.sqrt(1.01), 1.0, 0.0),
    # orthogonal: cos = 0 counts as a conflict (MMPareto's test), the sum [1, 1] harms neither
    (torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 0.0, 1.0, 0.0),
    # a zero gradient: no direction, no conflict, nothing to harm (<g, 0> = 0)
    (torch.tensor([1.0, -2.0]), torch.zeros(2), 0.0, 0.0, 0.0),
    (torch.zeros(2), torch.tensor([1.0, -2.0]), 0.0, 0.0, 0.0),
    (torch.zeros(2), torch.zeros(2), 0.0, 0.0, 0.0),
    # exactly opposite, equal length: the sum is zero and harms neither; opposite, unequal: the sum harms g_u
    (torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0]), -1.0, 1.0, 0.0),
    (torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.0]), -1.0, 1.0, 1.0),
])
def test_plain_sum_conflict_by_hand(g_mm, g_u, cos, conflict, harm):
    result = plain_sum_conflict(g_mm, g_u)
    assert result["cos"] == pytest.approx(cos, abs=1e-6)
    assert result["conflict"] == conflict and result["harm"] == harm


def test_plain_sum_conflict_rejects_mismatched_gradients():
    with pytest.raises(ValueError, match="equal length"):
        plain_sum_conflict(torch.zeros(3), torch.zeros(2))
    with pytest.raises(ValueError, match="equal length"):
        plain_sum_conflict(torch.zeros(2, 2), torch.zeros(2, 2))


def test_multitask_conflict_log_leaves_the_update_unchanged(synthetic_small):
    """log_conflict only adds measurements: the trained weights are identical, and the History holds one
    cos/conflict/harm value per epoch and encoder, within their ranges."""
    plain = run(synthetic_small, "multitask", seed=0, epochs=2, progress=False)
    logged = run(synthetic_small, "multitask", seed=0, epochs=2, progress=False, method_kw={"log_conflict": True})
    for a, b in zip(plain.model.state_dict().values(), logged.model.state_dict().values()):
        assert torch.equal(a, b)
    for m in synthetic_small.modality_names:
        assert f"cos_{m}" not in plain.history.keys()
        cos, conflict, harm = (logged.history[f"{k}_{m}"] for k in ("cos", "conflict", "harm"))
        assert len(cos) == len(conflict) == len(harm) == 2
        assert all(-1 <= c <= 1 for c in cos) and all(0 <= f <= 1 for f in (*conflict, *harm))


# -- MMPareto -----------------------------------------------------------------------------------

def test_min_norm_weight_is_the_shortest_point_of_the_segment():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-0.5, 1.0])
    alpha = min_norm_weight(g1, g2)
    grid = torch.linspace(0, 1, 10001)
    norms = torch.stack([(a * g1 + (1 - a) * g2).norm() for a in grid])
    assert abs(alpha.item() - grid[norms.argmin()].item()) < 1e-3
    # orthogonal unit vectors: the midpoint
    assert min_norm_weight(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(0.5)


def test_min_norm_weight_clips_to_the_shorter_vector():
    # <long - short, long> / |short - long|^2 > 1 here, so alpha clips to 1: the short vector itself
    short, long = torch.tensor([0.1, 0.0]), torch.tensor([0.5, 2.0])
    assert min_norm_weight(short, long).item() == 1.0
    # identical vectors: any weight is optimal; we return 1/2, never NaN
    g = torch.tensor([1.0, 2.0])
    assert min_norm_weight(g, g).item() == 0.5


def test_pareto_combine_aligned_is_the_boosted_sum():
    g_m, g_u = torch.tensor([1.0, 0.2]), torch.tensor([0.5, 0.5])
    step = pareto_combine(g_m, g_u, gamma=1.5)
    assert not step.conflict and step.alpha.item() == 0.5
    # new = g_m + g_u = g_sum, so the ratio is 1 and only gamma scales
    assert torch.allclose(step.update, 1.5 * (g_m + g_u))


def test_pareto_combine_conflict_gives_a_direction_that_helps_both():
    g_m, g_u = torch.tensor([2.0, 0.0]), torch.tensor([-0.8, 0.6])
    step = pareto_combine(g_m, g_u, gamma=1.0)
    assert step.conflict and step.cosine.item() < 0
    # the plain multitask sum points against the unimodal gradient (it would raise L_u) ...
    assert (g_m + g_u).dot(g_u) < 0
    # ... a min-norm point d of the hull satisfies <d, g> >= |d|^2 > 0 for both gradients
    assert step.update.dot(g_m) > 0 and step.update.dot(g_u) > 0
    # the magnitude is at least the plain multitask gradient's
    assert step.update.norm() >= (g_m + g_u).norm() - 1e-6


def test_pareto_combine_rescales_short_updates_to_the_sum_norm():
    g_m, g_u = torch.tensor([3.0, 0.0]), torch.tensor([-1.0, 1.0])
    step = pareto_combine(g_m, g_u, gamma=2.0)
    new = 2 * step.alpha * g_m + 2 * (1 - step.alpha) * g_u
    ratio = max(1.0, ((g_m + g_u).norm() / new.norm()).item())
    assert torch.allclose(step.update, 2.0 * ratio * new)


@pytest.mark.parametrize("g_m, g_u", [
    (torch.zeros(3), torch.tensor([1.0, 2.0, 3.0])),        # multimodal gradient zero
    (torch.tensor([1.0, 2.0, 3.0]), torch.zeros(3)),        # unimodal gradient zero
    (torch.zeros(3), torch.zeros(3)),                       # both zero
    (torch.tensor([1.0, -2.0, 0.5]), torch.tensor([-1.0, 2.0, -0.5])),  # exactly opposite
    (torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 0.0])),  # opposite, different lengths
])
def test_pareto_combine_never_produces_nan(g_m, g_u):
    step = pareto_combine(g_m, g_u, gamma=1.5)
    assert torch.isfinite(step.update).all() and torch.isfinite(step.cosine)


def test_pareto_combine_edge_cases_have_sensible_values():
    g = torch.tensor([1.0, 2.0, 3.0])
    # a zero unimodal gradient conflicts with nothing: the update is the multimodal one, boosted
    assert torch.allclose(pareto_combine(g, torch.zeros(3), 1.5).update, 1.5 * g)
    # exactly opposite: the only Pareto-stationary point is the zero update
    assert torch.equal(pareto_combine(g, -g, 1.5).update, torch.zeros(3))
    with pytest.raises(ValueError, match="flat"):
        pareto_combine(torch.zeros(2, 2), torch.zeros(2, 2))


# -- MMCosine -----------------------------------------------------------------------------------

def test_cosine_logits_are_bounded_and_scale_invariant():
    torch.manual_seed(0)
    h, w = torch.randn(5, 4), torch.randn(3, 4)
    z = cosine_logits(h, w, scale=10.0)
    assert z.abs().max() <= 10.0 + 1e-5
    assert torch.allclose(z, cosine_logits(7 * h, 0.1 * w, scale=10.0), atol=1e-5)
    assert torch.equal(cosine_logits(torch.zeros(2, 4), w, 10.0), torch.zeros(2, 3))


def test_mmcosine_installs_its_head_and_predicts_with_it(mfeat):
    data = mfeat
    result = run(data, "mmcosine", seed=0, epochs=2, progress=False)
    assert isinstance(result.model.head, CosineFusion)
    batch = data.split("test")
    out = result.model(batch)
    assert torch.allclose(out.fused, sum(out.logits.values()), atol=1e-5)
    assert out.fused.abs().max() <= 2 * result.method.scale + 1e-4
    # History's per-modality accuracy is that of the cosine logits
    acc_fac = (out.logits["fac"].argmax(1) == batch.y).float().mean().item()
    assert acc_fac == pytest.approx(result.history.final["test_acc_fac"], abs=1e-6)


# -- UMT, G-Blending, CML, MBSD, LFM ------------------------------------------------------------

def test_distillation_loss_is_zero_on_equal_features_and_lists_missing_modalities():
    f = {"a": torch.ones(2, 3), "b": torch.zeros(2, 3)}
    assert distillation_loss(f, f).item() == 0.0
    assert distillation_loss(f, {"a": torch.zeros(2, 3)}).item() == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no features"):
        distillation_loss({"a": torch.ones(1, 1)}, {"c": torch.ones(1, 1)})


def test_blending_weights_follow_gain_over_squared_overfitting():
    train0, held0 = {"fused": 2.0, "a": 2.0, "b": 2.0}, {"fused": 2.0, "a": 2.0, "b": 2.0}
    train1 = {"fused": 1.0, "a": 0.5, "b": 1.8}
    held1 = {"fused": 1.5, "a": 1.5, "b": 1.9}
    w = blending_weights(train0, train1, held0, held1)
    # fused: G=.5, O=.5 -> 2; a: G=.5, O=1 -> .5; b: G=.1, O=.1 -> 10
    assert w["b"] > w["fused"] > w["a"]
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["fused"] / w["a"] == pytest.approx(4.0)


def test_blending_weights_edge_cases():
    same = {"fused": 1.0, "a": 1.0}
    assert blending_weights(same, same, same, same) is None            # nobody generalised
    worse = {"fused": 1.5, "a": 0.9}
    w = blending_weights(same, same, same, worse)                       # 'a' improved with O = -0.1
    assert w == {"fused": 0.0, "a": 1.0}
    # zero overfitting: the floor keeps it finite
    w = blending_weights(same, {"fused": 0.5, "a": 0.5}, same, {"fused": 0.5, "a": 0.9})
    assert all(math.isfinite(v) for v in w.values()) and w["fused"] > w["a"]
    with pytest.raises(KeyError):
        blending_weights(same, {"fused": 1.0}, same, same)


def test_gblending_rejects_the_test_split_and_holds_out_part_of_train(mfeat):
    with pytest.raises(ValueError, match="holdout"):
        get("gblending", holdout="test")
    data = mfeat
    result = run(data, "gblending", seed=0, epochs=4, progress=False, method_kw={"super_epoch": 2, "holdout": 0.2})
    method = result.method
    train = set(data.splits["train"].tolist())
    held, kept = set(method.held_index.tolist()), set(method.train_index.tolist())
    assert held and held.isdisjoint(kept) and held | kept == train
    assert abs(sum(method.weights.values()) - 1) < 1e-6


def test_confidence_penalty_counts_only_rises():
    full = torch.tensor([[4.0, 0.0], [0.0, 0.0]])
    removed = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    conf_full = F.softmax(full, 1).max(1).values
    conf_removed = F.softmax(removed, 1).max(1).values
    expected = (conf_removed[1] - conf_full[1]).item() / 2   # only sample 2 got more confident
    assert confidence_penalty(full, removed, "sample").item() == pytest.approx(expected)
    assert confidence_penalty(full, full).item() == 0.0
    assert confidence_penalty(full, full, "sample").item() == 0.0


def test_confidence_penalty_hand_values_batch_sum_and_per_sample():
    # By hand: conf = max softmax; softmax([a, 0]) = sigmoid(a).
    #   full:    sigmoid(4) = 0.982014, [0, 0] -> 0.5
    #   removed: sigmoid(1) = 0.731059, sigmoid(3) = 0.952574
    #   d = [0.731059 - 0.982014, 0.952574 - 0.5] = [-0.250955, 0.452574]
    # BalanceBenchmark's batch-sum hinge: max(0, -0.250955 + 0.452574) = 0.201619
    # per sample: mean(max(0, d_i)) = (0 + 0.452574) / 2 = 0.226287
    full = torch.tensor([[4.0, 0.0], [0.0, 0.0]])
    removed = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    assert confidence_penalty(full, removed).item() == pytest.approx(0.201619, abs=1e-6)
    assert confidence_penalty(full, removed, "batch").item() == pytest.approx(0.201619, abs=1e-6)
    assert confidence_penalty(full, removed, "sample").item() == pytest.approx(0.226287, abs=1e-6)
    # a margin cancels a violation in the batch sum: d = [0.5 - 0.982014, 0.731059 - 0.5] sums to -0.250955
    removed = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    assert confidence_penalty(full, removed).item() == 0.0
    assert confidence_penalty(full, removed, "sample").item() == pytest.approx(0.231059 / 2, abs=1e-6)
    # the batch sum grows with the batch: the same rows twice give twice the penalty, the mean the same
    full2, removed2 = torch.cat([full, full]), torch.cat([removed, removed])
    rises = torch.tensor([[0.0, 0.0], [3.0, 0.0]])
    assert confidence_penalty(full2, torch.cat([rises, rises])).item() == pytest.approx(
        2 * confidence_penalty(full, rises).item(), rel=1e-6)
    assert confidence_penalty(full2, removed2, "sample").item() == pytest.approx(
        confidence_penalty(full, removed, "sample").item(), rel=1e-6)
    with pytest.raises(ValueError, match="hinge"):
        confidence_penalty(full, removed, "max")


def test_self_distillation_hand_values_both_kl_forms():
    # One sample of class 0. z_a = [ln 3, 0] -> p_a = [0.75, 0.25] (a is right); z_b = [0, 0] -> p_b = [0.5, 0.5].
    #   w   = |0.75 - 0.5| = 0.25
    #   RS  = mean((ln 3)^2, 0) = 1.206949 / 2 = 0.603474
    #   course KL(p_a || p_b) = 0.75 ln(1.5) + 0.25 ln(0.5) = 0.304099 - 0.173287 = 0.130812
    #       -> 0.25 (0.603474 + 0.130812) = 0.183572
    #   BalanceBenchmark kl_div(ps, pw) = pw (log pw - ps) = 0.5 (ln 0.5 - 0.75) = -0.721574
    #       -> 0.25 (0.603474 - 0.721574) = -0.029525
    y = torch.tensor([0])
    z_a, z_b = torch.tensor([[math.log(3), 0.0]]), torch.tensor([[0.0, 0.0]])
    assert self_distillation(z_a, z_b, y).item() == pytest.approx(0.183572, abs=1e-5)
    assert self_distillation(z_a, z_b, y, "true_class").item() == pytest.approx(-0.029525, abs=1e-5)
    # the stronger modality teaches whichever argument it is
    assert self_distillation(z_b, z_a, y).item() == pytest.approx(0.183572, abs=1e-5)
    # a tie in the true-class probability: weight 0, nothing to distil (either form)
    z_tie = torch.tensor([[0.0, math.log(3)]])
    y1 = torch.tensor([1])
    assert self_distillation(torch.tensor([[math.log(3), 0.0]]), torch.tensor([[math.log(3), 0.0]]), y1).item() == 0.0
    assert self_distillation(z_tie, z_tie, y1, "true_class").item() == 0.0
    with pytest.raises(ValueError, match="kl"):
        self_distillation(z_a, z_b, y, "js")


def test_self_distillation_weights_and_direction():
    y = torch.tensor([0, 1])
    z = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert self_distillation(z, z, y).item() == 0.0                     # equal: nothing to teach
    wrong = torch.tensor([[0.0, 2.0], [2.0, 0.0]])
    assert self_distillation(wrong, wrong, y).item() == 0.0             # neither right: weight 0
    z_b = torch.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    z_a = z.clone().requires_grad_(True)
    loss = self_distillation(z_a, z_b, y)
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(z_a.grad).all()
    # the student (b, the weaker) is pulled towards the teacher's class
    assert z_b.grad[0, 0] < 0 and z_b.grad[1, 1] < 0


def test_js_divergence_values():
    p = torch.tensor([[1.0, 0.0]])
    q = torch.tensor([[0.0, 1.0]])
    assert js_divergence([p, q]).item() == pytest.approx(math.log(2), abs=1e-6)   # disjoint: log 2
    assert js_divergence([p, p]).item() == pytest.approx(0.0, abs=1e-7)
    u = torch.full((3, 4), 0.25)
    assert js_divergence([u, u, u]).item() == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError):
        js_divergence([p])


def test_modality_gap_hand_values_authors_and_js():
    # p = softmax([0, 0]) = [0.5, 0.5], q = softmax([ln 3, 0]) = [0.75, 0.25], m = [0.625, 0.375].
    # Authors' Alignment (kl_div(p.log(), m) is KL(m || p)):
    #   KL(m || p) = 0.625 ln(1.25) + 0.375 ln(0.75)   = 0.139466 - 0.107881 = 0.031585
    #   KL(m || q) = 0.625 ln(5/6)  + 0.375 ln(1.5)    = -0.113952 + 0.152049 = 0.038097
    #   -> 0.5 (0.031585 + 0.038097) = 0.034841
    # Jensen-Shannon: KL(p || m) = 0.5 ln(0.8) + 0.5 ln(4/3) = 0.032269,
    #   KL(q || m) = 0.75 ln(1.2) + 0.25 ln(2/3) = 0.035375 -> 0.5 (0.032269 + 0.035375) = 0.033822
    z_p, z_q = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3), 0.0]])
    assert modality_gap([z_p, z_q]).item() == pytest.approx(0.034841, abs=1e-6)
    assert modality_gap([z_p, z_q], "js").item() == pytest.approx(0.033822, abs=1e-6)
    assert modality_gap([z_q, z_p]).item() == pytest.approx(0.034841, abs=1e-6)     # symmetric
    assert modality_gap([z_q, z_q]).item() == pytest.approx(0.0, abs=1e-7)          # equal predictions
    # three modalities: the mean over the three pairs (p,q), (p,p), (q,p) = 2 * 0.034841 / 3
    assert modality_gap([z_p, z_q, z_p]).item() == pytest.approx(2 * 0.034841 / 3, abs=1e-6)
    # a probability that underflows in float32 stays finite (log(softmax) would give 0 * -inf = NaN)
    extreme = modality_gap([torch.tensor([[200.0, -200.0]]), torch.tensor([[-200.0, 200.0]])])
    assert math.isfinite(extreme.item()) and extreme.item() > 0
    with pytest.raises(ValueError):
        modality_gap([z_p])
    with pytest.raises(ValueError, match="gap"):
        modality_gap([z_p, z_q], "kl")


def test_gap_weight_schedule():
    assert gap_weight(0, 20, 0.5, 0.05) == 0.5
    assert gap_weight(19, 20, 0.5, 0.05) == pytest.approx(0.05)
    assert gap_weight(0, 1, 0.5, 0.05) == 0.5
    assert get("lfm").gap_start == pytest.approx(0.795)        # the authors' fitted alpha_2 at epoch 0
    # the authors' fitted polynomial: c_0 at epoch 0; at 20: 0.795376 - 0.067095 - 0.049196 + 0.023436
    #   - 0.003581 + 0.000173 = 0.699113
    assert fitted_gap_weight(0) == pytest.approx(0.795376296)
    assert fitted_gap_weight(20) == pytest.approx(0.699113, abs=1e-6)


def test_pareto_combine_hand_values():
    # Aligned (cos > 0): alpha = 1/2, new = g_m + g_u = [2, 1] = g_sum, so the factor is 1: update = 1.5 [2, 1].
    step = pareto_combine(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0]))
    assert not step.conflict and step.alpha.item() == 0.5
    assert step.update.tolist() == pytest.approx([3.0, 1.5])
    # Conflict: g_m = [1, 0], g_u = [-0.5, 1] (cos < 0).
    #   alpha* = <g_u - g_m, g_u> / |g_m - g_u|^2 = (0.75 + 1) / 3.25 = 0.538462
    #   new = 2 (0.538462) [1, 0] + 2 (0.461538) [-0.5, 1] = [0.615385, 0.923077], |new| = 1.109400
    #   |g_sum| = |[0.5, 1]| = 1.118034 -> factor 1.007782 > 1 -> update = 1.5 * 1.007782 * new
    step = pareto_combine(torch.tensor([1.0, 0.0]), torch.tensor([-0.5, 1.0]))
    assert step.conflict and step.alpha.item() == pytest.approx(0.538462, abs=1e-6)
    assert step.update.tolist() == pytest.approx([0.930260, 1.395391], abs=1e-5)
    # A zero gradient conflicts with nothing: alpha = 1/2, update = 1.5 * g_u.
    step = pareto_combine(torch.zeros(2), torch.tensor([1.0, 2.0]))
    assert not step.conflict and step.update.tolist() == pytest.approx([1.5, 3.0])
    # Exactly opposite gradients: the shortest point of their hull is the origin, so no step, for equal
    # norms (alpha = 1/2) and unequal ones (alpha = <[-3,0],[-1,0]> / 9 = 1/3, new = 0 up to rounding).
    for g_u, alpha in (([-1.0, 0.0], 0.5), ([-1.0, 0.0], 1 / 3)):
        g_m = torch.tensor([1.0, 0.0]) if alpha == 0.5 else torch.tensor([2.0, 0.0])
        step = pareto_combine(g_m, torch.tensor(g_u))
        assert step.conflict and step.alpha.item() == pytest.approx(alpha, abs=1e-6)
        assert step.update.tolist() == [0.0, 0.0]
    # both zero: zero
    assert pareto_combine(torch.zeros(3), torch.zeros(3)).update.tolist() == [0.0, 0.0, 0.0]


def test_cosine_logits_hand_values():
    # h = [3, 4] -> [0.6, 0.8]; W rows [1, 0] and [0, 2] -> [1, 0] and [0, 1]; scale 10 -> [6, 8].
    # A zero feature vector has no direction: zero logits. No bias.
    logits = cosine_logits(torch.tensor([[3.0, 4.0], [0.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]]), 10.0)
    assert logits.tolist() == [pytest.approx([6.0, 8.0]), [0.0, 0.0]]
    # scaling a feature or a class weight does not change the logits
    again = cosine_logits(torch.tensor([[30.0, 40.0]]), torch.tensor([[5.0, 0.0], [0.0, 0.1]]), 10.0)
    assert again.tolist() == [pytest.approx([6.0, 8.0])]


def test_blending_weights_hand_values():
    # G = held0 - held1, O = (held1 - train1) - (held0 - train0), raw = max(G, 0) / O^2:
    #   fused: G = 0.5, O = 0.5 - 0 = 0.5 -> 2;  a: G = 0.5, O = 1.0 -> 0.5;  b: G = 0.1, O = 0.1 -> 10
    #   sum 12.5 -> w = 0.16, 0.04, 0.8
    train0, held0 = {"fused": 2.0, "a": 2.0, "b": 2.0}, {"fused": 2.0, "a": 2.0, "b": 2.0}
    w = blending_weights(train0, {"fused": 1.0, "a": 0.5, "b": 1.8}, held0, {"fused": 1.5, "a": 1.5, "b": 1.9})
    assert w == pytest.approx({"fused": 0.16, "a": 0.04, "b": 0.8})
    # a tie gives equal weights; a branch whose held-out loss rose gets 0 (BalanceBenchmark's |G| would not)
    w = blending_weights(train0, {"fused": 1.0, "a": 1.0, "b": 1.0}, held0, {"fused": 1.5, "a": 1.5, "b": 2.5})
    assert w == pytest.approx({"fused": 0.5, "a": 0.5, "b": 0.0})


def test_umt_teachers_follow_the_run_optimizer(monkeypatch, synthetic_small):
    import mmlib.train as train
    seen = []
    real = train.train_unimodal
    monkeypatch.setattr(train, "train_unimodal", lambda *a, **k: seen.append(k["optimizer"]) or real(*a, **k))
    for kind, override, want in (("adamw", None, "adamw"), ("sgd", None, "sgd"), ("adamw", "sgd", "sgd")):
        seen.clear()
        run(synthetic_small, "umt", seed=0, epochs=1, optimizer=kind, progress=False,
            method_kw={"teacher_optimizer": override})
        assert seen and set(seen) == {want}, (kind, override, seen)
    with pytest.raises(ValueError):
        get("umt", teacher_optimizer="rmsprop")


# -- every method learns mfeat (the contract itself is tests/test_method_contract.py) -------------

@pytest.mark.parametrize("name", OBJECTIVE)
def test_each_method_trains_on_mfeat(name, mfeat):
    result = run(mfeat, name, seed=0, epochs=3, progress=False,
                 method_kw={"teacher_epochs": 2} if name == "umt" else {})
    history = result.history
    assert all(math.isfinite(v) for v in history["loss"])
    assert history.final["test_acc"] > 0.5                              # 10 classes: chance is 0.1
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_mmpareto_logs_gradient_angles(mfeat):
    first = run(mfeat, "mmpareto", seed=1, epochs=2, progress=False).history
    for m in mfeat.modality_names:
        assert all(-1 <= c <= 1 for c in first[f"cos_{m}"])
        assert all(0 <= c <= 1 for c in first[f"conflict_{m}"])
        # the applied update never points against either gradient
        assert min(first[f"update_cos_multi_{m}"]) >= -1e-4 and min(first[f"update_cos_uni_{m}"]) >= -1e-4
        assert max(first[f"harm_{m}"]) == 0.0


def test_mmpareto_step_sets_encoder_gradients_to_the_pareto_update(mfeat):
    from mmlib.methods.gradients import flatten_gradients
    from mmlib.methods.mmpareto import MMPareto
    from mmlib.models import build_model
    from mmlib.train import TrainState, seed_everything

    data = mfeat
    seed_everything(0)
    model = build_model(data)
    method = MMPareto(gamma=1.5)
    # lr 0 and no weight decay: the step leaves the weights and the gradients alone
    state = TrainState.start(model, data, method, epochs=1, batch_size=32, lr=0.0, weight_decay=0.0)
    batch = data.batch(data.splits["train"][:32])
    output = model(batch)
    multi, uni = method.losses(output, batch)
    expected = {}
    for m in model.modalities:
        ps = list(model.encoders[m].parameters())
        g_m = flatten_gradients(torch.autograd.grad(multi, ps, retain_graph=True), ps)
        g_u = flatten_gradients(torch.autograd.grad(uni[m], ps, retain_graph=True), ps)
        expected[m] = pareto_combine(g_m, g_u, 1.5).update
    method.step(state, batch, state.optimizer)
    for m in model.modalities:
        got = torch.cat([p.grad.reshape(-1) for p in model.encoders[m].parameters()])
        assert torch.allclose(got, expected[m], atol=1e-6)
