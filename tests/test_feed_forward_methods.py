"""Feed-forward methods: MLA, OPM, AMCo, Greedy, RollingQ — their pure math and one short run each.

The ``*_authors_rule`` tests compare the pure functions with values worked out by hand
from the authors' rule (each comment shows the arithmetic).
"""

import math

import pytest
import torch

from mmlib.methods.amco import class_mask, dependence_scores, dependent_modalities, mask_ratio, softmax_shares
from mmlib.methods.greedy import (MMTM, bypass_dominance, conditional_utilization_rate, modality_to_rebalance,
                                  relative_gradient_energy)
from mmlib.methods.mla import (SharedHead, batch_entropy_fusion_weights, entropy, entropy_fusion_weights, owm_update,
                               project_gradient)
from mmlib.methods.opm import drop_probabilities, rescale_factor
from mmlib.methods.rollingq import rebalance_weight, rebalanced_target
from mmlib.train import run


# -- MLA -------------------------------------------------------------------------------------------

def test_entropy_fusion_prefers_the_confident_modality():
    z = {"a": torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "v": torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])}
    w = entropy_fusion_weights(z)
    assert w["a"][0] > 0.7 and torch.allclose(w["a"] + w["v"], torch.ones(2))
    assert w["a"][1] == pytest.approx(0.5)  # a tie: equal weights
    assert entropy(torch.zeros(1, 4)).item() == pytest.approx(math.log(4))
    assert not torch.isnan(entropy_fusion_weights({"a": torch.full((1, 3), 1e4)})["a"]).any()


def test_mla_entropy_weights_authors_rule():
    # C = 2. z_a = [0, 0]: p = [0.5, 0.5], H_a = ln 2 = 0.693147, confidence ln 2 - H_a = 0.
    # z_v = [ln 4, 0]: p = [0.8, 0.2], H_v = -(0.8 ln 0.8 + 0.2 ln 0.2) = 0.500402, confidence 0.192745.
    # w_v = e^0.192745 / (1 + e^0.192745) = 0.548038, w_a = 0.451962.
    z = {"a": torch.tensor([[0.0, 0.0]]), "v": torch.tensor([[math.log(4.0), 0.0]])}
    w = entropy_fusion_weights(z)
    assert w["v"].item() == pytest.approx(0.548038, abs=1e-5) and w["a"].item() == pytest.approx(0.451962, abs=1e-5)
    # The authors' coded rule (entropy_over="batch"): softmax over the batch axis, entropy summed over the batch.
    # Two samples. a: every column is [0, 0] -> [0.5, 0.5] over the batch, H_a = 2 ln 2 = 1.386294.
    # v: column 0 = [ln 4, 0] -> [0.8, 0.2] (0.500402), column 1 = [0, 0] -> ln 2: H_v = 1.193549.
    # w = softmax(-H): w_v = 1 / (1 + e^(H_v - H_a)) = 1 / (1 + e^-0.192745) = 0.548038, for *both* samples.
    zb = {"a": torch.zeros(2, 2), "v": torch.tensor([[math.log(4.0), 0.0], [0.0, 0.0]])}
    wb = batch_entropy_fusion_weights(zb)
    assert wb["v"].tolist() == pytest.approx([0.548038, 0.548038], abs=1e-5)
    assert torch.allclose(wb["a"] + wb["v"], torch.ones(2))
    # per sample the second row is a tie (both flat): 0.5 each, where the batch rule gives 0.548 to v
    assert entropy_fusion_weights(zb)["v"].tolist() == pytest.approx([0.548038, 0.5], abs=1e-5)


def test_owm_projection_protects_the_seen_direction():
    torch.manual_seed(0)
    r = torch.rand(8) + 0.5
    projector = owm_update(torch.eye(8), r, alpha=1e-3)
    grad = torch.randn(3, 8)
    projected = project_gradient(grad, projector)
    assert (projected @ r).abs().max() < 1e-2 * (grad @ r).abs().max()  # the head's answer on r barely moves
    other = torch.randn(8)
    other -= other @ r / (r @ r) * r  # a direction orthogonal to r is left untouched
    assert torch.allclose(projected @ other, grad @ other, atol=1e-4)
    assert torch.equal(owm_update(torch.eye(3), torch.zeros(3), 0.1), torch.eye(3))  # zero feature: no change
    with pytest.raises(ValueError):
        owm_update(torch.eye(3), torch.ones(3), 0.0)


def test_shared_head_keeps_the_additive_contract():
    head = SharedHead({"a": 4, "v": 4}, 3)
    features = {"a": torch.randn(5, 4), "v": torch.randn(5, 4)}
    fused, logits = head(features)
    assert torch.allclose(fused, logits["a"] + logits["v"], atol=1e-6)
    assert torch.allclose(logits["a"] * 2, head.unimodal(features["a"]), atol=1e-6)
    with pytest.raises(ValueError, match="equal feature sizes"):
        SharedHead({"a": 4, "v": 5}, 3)


# -- OPM -------------------------------------------------------------------------------------------

def test_opm_drop_probability():
    q = drop_probabilities({"a": 30.0, "v": 10.0}, q_base=0.5, lam=0.5)
    assert q["v"] == 0.0
    assert q["a"] == pytest.approx(0.5 * (1 + 0.5 * math.tanh(2.0)))
    assert drop_probabilities({"a": 5.0, "v": 5.0}) == {"a": 0.0, "v": 0.0}  # a tie drops nothing
    assert drop_probabilities({"a": 0.0, "v": 0.0}) == {"a": 0.0, "v": 0.0}  # zero scores: no NaN
    assert drop_probabilities({"a": 3.0, "v": 0.0})["a"] == pytest.approx(0.75)  # others at zero
    assert drop_probabilities({"a": 100.0, "v": 1.0}, q_base=0.9, lam=1.0)["a"] == 1.0  # clipped
    three = drop_probabilities({"a": 10.0, "v": 4.0, "t": 4.0})
    assert three["a"] > 0 and three["v"] == three["t"] == 0.0
    with pytest.raises(ValueError):
        drop_probabilities({"a": 1.0})
    with pytest.raises(ValueError):
        drop_probabilities({"a": 1.0, "v": 1.0}, q_base=1.5)


def test_opm_drop_probability_authors_rule():
    # r = tanh(relu(s_m / s_others - 1)); q = q_base (1 + lam r) if r > 0 else 0; q_base = lam = 0.5.
    # 30 vs 10: r = tanh(2) = 0.964028, q = 0.5 * (1 + 0.5 * 0.964028) = 0.741007.
    # 20 vs 10: r = tanh(1) = 0.761594, q = 0.690399.   10 vs (4 + 4): r = tanh(0.25) = 0.244919, q = 0.561230.
    assert drop_probabilities({"a": 30.0, "v": 10.0})["a"] == pytest.approx(0.741007, abs=1e-6)
    assert drop_probabilities({"a": 10.0, "v": 20.0}) == pytest.approx({"a": 0.0, "v": 0.690399}, abs=1e-6)
    assert drop_probabilities({"a": 10.0, "v": 4.0, "t": 4.0}) == pytest.approx(
        {"a": 0.561230, "v": 0.0, "t": 0.0}, abs=1e-6)
    # ties: relu(1 - 1) = 0, nobody is dropped (also three-way)
    assert drop_probabilities({"a": 7.0, "v": 7.0}) == {"a": 0.0, "v": 0.0}
    assert drop_probabilities({"a": 2.0, "v": 1.0, "t": 1.0})["v"] == 0.0
    # a zero score: the authors' s/0 = inf gives tanh(inf) = 1 -> q = 0.5 * 1.5 = 0.75; both zero: 0/0 -> nothing
    assert drop_probabilities({"a": 2.0, "v": 0.0}) == {"a": 0.75, "v": 0.0}
    assert drop_probabilities({"a": 0.0, "v": 0.0}) == {"a": 0.0, "v": 0.0}
    # a NaN score drops nothing (in the authors' code NaN > 0 is false too)
    assert drop_probabilities({"a": float("nan"), "v": 3.0}) == {"a": 0.0, "v": 0.0}


def test_opm_rescale_factor():
    assert rescale_factor({"a": 0.0, "v": 0.0}, {"a": 32, "v": 32}) == 1.0
    assert rescale_factor({"a": 0.5, "v": 0.0}, {"a": 32, "v": 32}) == pytest.approx(1 / (1 - 0.25))
    assert rescale_factor({"a": 1.0, "v": 1.0}, {"a": 3, "v": 5}) == math.inf


# -- AMCo --------------------------------------------------------------------------------------------

def test_amco_schedule_mask_and_dependence():
    assert mask_ratio(0, 5, 0.5) == pytest.approx(0.5 * math.sin(math.pi / 10))
    assert mask_ratio(4, 5, 0.5) == pytest.approx(0.5) and mask_ratio(40, 5, 0.5) == pytest.approx(0.5)
    mask = class_mask(7, 6, 2, torch.Generator().manual_seed(0))
    assert mask.shape == (7, 6) and (mask.sum(1) == 4).all()
    assert class_mask(3, 4, 0).eq(1).all() and class_mask(3, 4, 4).eq(0).all()
    assert dependent_modalities({"a": 8.0, "v": 2.0}) == {"a": True, "v": False}
    assert dependent_modalities({"a": 5.0, "v": 5.0}) == {"a": False, "v": False}  # a tie: nobody dominates
    assert dependent_modalities({"a": 0.0, "v": 0.0}) == {"a": False, "v": False}
    assert dependent_modalities({"a": float("nan"), "v": 1.0}) == {"a": False, "v": False}
    with pytest.raises(ValueError):
        class_mask(2, 3, 4)
    with pytest.raises(ValueError):
        dependence_scores({"a": torch.zeros(1, 2)}, torch.tensor([0]), "nope")


def test_amco_dependence_authors_rule():
    # One sample, C = 2, label 0. z_a = [1, 0], z_v = [0, 3].
    # Authors (softmax over the concatenated logits [1, 0, 0, 3]): e^1 + e^0 = 3.718282 for a, e^0 + e^3 = 21.085537
    # for v, total 24.803819: u_a = 0.149908, u_v = 0.850092 -> v is dependent (u_v > 0.5).
    # Course's earlier rule (true-class scores): s_a = softmax([1, 0])[0] = 0.731059, s_v = softmax([0, 3])[0] =
    # 0.047426: share of a = 0.939 -> a is dependent. The two rules pick opposite modalities.
    z = {"a": torch.tensor([[1.0, 0.0]]), "v": torch.tensor([[0.0, 3.0]])}
    y = torch.tensor([0])
    shares = softmax_shares(z)
    assert shares == pytest.approx({"a": 0.149908, "v": 0.850092}, abs=1e-6)
    assert dependent_modalities(shares, 0.5) == {"a": False, "v": True}
    true_class = dependence_scores(z, y, "true_class")
    assert true_class == pytest.approx({"a": 0.731059, "v": 0.047426}, abs=1e-6)
    assert dependent_modalities(true_class, 0.5) == {"a": True, "v": False}
    # a tie (equal logits): shares 0.5 each, and 0.5 > 0.5 is false: nobody is dependent
    tie = softmax_shares({"a": torch.zeros(3, 4), "v": torch.zeros(3, 4)})
    assert tie == pytest.approx({"a": 0.5, "v": 0.5}) and not any(dependent_modalities(tie).values())
    # the authors' share ignores the labels: a batch with one class missing (all labels 0) changes nothing;
    # batch mean over two samples: sample 1 as above (u_a = 0.149908), sample 2 with z_a = [3, 0], z_v = [0, 0]:
    # (e^3 + 1) / (e^3 + 1 + 2) = 21.085537 / 23.085537 = 0.913365 -> u_a = (0.149908 + 0.913365) / 2 = 0.531637
    z2 = {"a": torch.tensor([[1.0, 0.0], [3.0, 0.0]]), "v": torch.tensor([[0.0, 3.0], [0.0, 0.0]])}
    assert dependence_scores(z2, torch.tensor([0, 0]))["a"] == pytest.approx(0.531637, abs=1e-6)
    # three modalities: the shares still sum to 1
    three = softmax_shares({"a": torch.randn(4, 3), "v": torch.randn(4, 3), "t": torch.randn(4, 3)})
    assert sum(three.values()) == pytest.approx(1.0)


# -- Greedy ------------------------------------------------------------------------------------------

def _param(weight: float, grad_squared: float) -> torch.nn.Parameter:
    p = torch.nn.Parameter(torch.tensor([weight]))
    p.grad = torch.tensor([math.sqrt(grad_squared)])
    return p


def test_greedy_rates_and_speeds():
    assert conditional_utilization_rate(0.8, 0.6) == pytest.approx(0.25)
    assert conditional_utilization_rate(0.0, 0.3) == 0.0
    assert conditional_utilization_rate(0.5, 0.7) < 0  # removing m helps: negative utilisation
    bdr = bypass_dominance({"a": 1.0, "v": 1.0}, {"a": 10.0, "v": 0.1})
    assert bdr == pytest.approx({"a": 1.0, "v": -1.0})
    assert bypass_dominance({"a": 0.0, "v": 1.0}, {"a": 1.0, "v": 1.0})["a"] == 0.0  # no gradient yet: 0
    assert modality_to_rebalance(bdr, threshold=0.5) == "a"
    assert modality_to_rebalance(bdr, threshold=5.0) is None
    assert modality_to_rebalance({"a": 1.0}, 0.0) is None
    assert modality_to_rebalance({"a": 0.3, "v": 0.3}, 0.0) is None  # a tie: nobody
    p = torch.nn.Parameter(torch.full((2,), 2.0))
    assert relative_gradient_energy([p]) == 0.0  # no gradient yet
    p.grad = torch.ones(2)
    assert relative_gradient_energy([p]) == pytest.approx(2 / 8)
    with pytest.raises(ValueError):
        relative_gradient_energy([p], "nope")


def test_greedy_learning_speed_authors_rule():
    # Encoders: |g|^2 / |w|^2 = 0.1 / 1 for both. Bypass: a's excitation |w|^2 = 100, |g|^2 = 10; v's excitation
    # |w|^2 = 1, |g|^2 = 0.05; the shared squeeze |w|^2 = 1, |g|^2 = 1, counted for both (authors).
    # Authors (ratio of sums): bypass_a = (10 + 1) / (100 + 1) = 0.108911, bypass_v = (0.05 + 1) / (1 + 1) = 0.525;
    #   BDR_a = log10(0.108911 / 0.1) = 0.037071, BDR_v = log10(0.525 / 0.1) = 0.720159 -> re-balance v.
    # Course's earlier rule (sum of per-parameter ratios, excitation only): bypass_a = 0.1, bypass_v = 0.05;
    #   BDR_a = log10(1) = 0, BDR_v = log10(0.5) = -0.301030 -> re-balance a. Opposite signs of BDR_a - BDR_v.
    squeeze = _param(1.0, 1.0)
    excite = {"a": _param(10.0, 10.0), "v": _param(1.0, 0.05)}
    encoder = {m: _param(1.0, 0.1) for m in "av"}
    main = {m: relative_gradient_energy([encoder[m]]) for m in "av"}
    bypass = {m: relative_gradient_energy([excite[m], squeeze]) for m in "av"}
    assert bypass == pytest.approx({"a": 0.108911, "v": 0.525}, abs=1e-6)
    authors = bypass_dominance(main, bypass)
    assert authors == pytest.approx({"a": 0.037071, "v": 0.720159}, abs=1e-6)
    assert modality_to_rebalance(authors, 0.01) == "v"
    earlier = bypass_dominance(main, {m: relative_gradient_energy([excite[m]], "sum_of_ratios") for m in "av"})
    assert earlier == pytest.approx({"a": 0.0, "v": -0.301030}, abs=1e-6)
    assert modality_to_rebalance(earlier, 0.01) == "a"
    # even with the squeeze counted, summing per-parameter ratios keeps the wrong sign (1.1 vs 1.05)
    assert relative_gradient_energy([excite["a"], squeeze], "sum_of_ratios") == pytest.approx(1.1)
    # zero gradients: energy 0, BDR 0, nothing to re-balance; zero weights: 0, not a division by zero
    still = [_param(1.0, 0.0), _param(3.0, 0.0)]
    assert relative_gradient_energy(still) == 0.0
    zero = bypass_dominance({"a": 0.0, "v": 0.0}, {"a": 0.0, "v": 0.0})
    assert zero == {"a": 0.0, "v": 0.0} and modality_to_rebalance(zero, 0.0) is None
    assert relative_gradient_energy([_param(0.0, 1.0)]) == 0.0


def test_mmtm_gate_average_and_curation():
    torch.manual_seed(0)
    block = MMTM({"a": 4, "v": 4})
    assert block.squeeze.out_features == 4  # the authors' 2 * (4 + 4) / 4
    a, v1, v2 = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    with torch.no_grad():
        s = torch.relu(block.squeeze(torch.cat([a, v1], 1)))
        gate1 = torch.sigmoid(block.excite["a"](s)).mean(0)  # the authors' gate: sigmoid, not 2 sigmoid
        out = block({"a": a, "v": v1})
        s = torch.relu(block.squeeze(torch.cat([a, v2], 1)))
        gate2 = torch.sigmoid(block.excite["a"](s)).mean(0)
        block({"a": a, "v": v2})
    assert torch.allclose(out["a"], a * torch.sigmoid(block.excite["a"](torch.relu(block.squeeze(
        torch.cat([a, v1], 1))))), atol=1e-6)
    assert torch.allclose(block.average_a, (gate1 + gate2) / 2, atol=1e-6)  # cumulative mean of the gate
    assert not torch.allclose(block({"a": a, "v": v1})["a"], block({"a": a, "v": v2})["a"])
    block.curated = {"a"}  # re-balancing (training mode): a's branch gets its averaged gate, whatever v says
    with torch.no_grad():
        curated = block({"a": a, "v": v1})["a"]
    assert torch.allclose(curated, a * block.average_a, atol=1e-6)
    block.eval()  # evaluation always uses the full block
    assert not torch.allclose(block({"a": a, "v": v1})["a"], block({"a": a, "v": v2})["a"])
    ema = MMTM({"a": 4, "v": 4}, gate_scale=2.0, average="ema", momentum=0.5)
    with torch.no_grad():
        s = torch.relu(ema.squeeze(torch.cat([a, v1], 1)))
        gate = 2 * torch.sigmoid(ema.excite["a"](s)).mean(0)
        ema({"a": a, "v": v1})
    assert torch.allclose(ema.average_a, 0.5 * torch.ones(4) + 0.5 * gate, atol=1e-6)  # starts at 2 sigmoid(0) = 1
    with pytest.raises(ValueError):
        MMTM({"a": 4}, average="nope")


# -- RollingQ ----------------------------------------------------------------------------------------

def test_rollingq_target_authors_rule():
    # Keys of a: [2, 0] and [0, 3] -> unit [1, 0] and [0, 1] -> mean [0.5, 0.5] -> khat_a = [0.707107, 0.707107]
    # (the course averages *unit* per-sample mean keys, so the longer key does not count more).
    # Keys of b: [0, -5] -> khat_b = [0, -1]. AIR = 0: alpha = (1 + tanh(0)) / 2 = 0.5,
    # target = normalize(0.5 * [0.707107, 0.707107] + 0.5 * [0, -1]) = normalize([0.353553, -0.146447])
    #        = [0.923880, -0.382683] (cos and -sin of 22.5 degrees: the bisector of 45 and -90 degrees).
    keys_a, keys_b = torch.tensor([[2.0, 0.0], [0.0, 3.0]]), torch.tensor([[0.0, -5.0]])
    target = rebalanced_target(keys_a, keys_b, air=0.0, sigma=2.0)
    assert target.tolist() == pytest.approx([0.923880, -0.382683], abs=1e-6)
    # AIR = 0.5, sigma = 2: alpha = (1 + tanh(-1)) / 2 = 0.119203 (audio preferred -> lean to the other keys)
    assert rebalance_weight(0.5, 2.0) == pytest.approx(0.119203, abs=1e-6)
    assert rebalance_weight(0.0, 2.0) == 0.5
    alpha = 0.119203
    lean = alpha * torch.tensor([0.707107, 0.707107]) + (1 - alpha) * torch.tensor([0.0, -1.0])
    assert rebalanced_target(keys_a, keys_b, air=0.5, sigma=2.0).tolist() == pytest.approx(
        (lean / lean.norm()).tolist(), abs=1e-5)


# -- the methods, end to end -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, options, logged", [
    ("mla", {}, ["loss_audio", "loss_visual"]),
    ("mla", {"entropy_over": "batch"}, ["loss_audio"]),
    ("opm", {}, ["q_audio", "q_visual", "executed"]),
    ("amco", {}, ["mask_ratio", "dependent_audio"]),
    ("amco", {"dependence": "true_class", "unimodal_loss": "unmasked"}, ["dependent_visual"]),
    ("greedy", {"start_epoch": 0}, ["bdr_audio", "utilization_visual", "rebalancing_audio"]),
    ("greedy", {"start_epoch": 0, "speed": "sum_of_ratios", "gate_scale": 2.0, "average": "ema"}, ["bdr_visual"]),
])
def test_short_run_logs_its_mechanism(synthetic_small, name, options, logged):
    result = run(synthetic_small, name, seed=0, epochs=2, progress=False, method_kw=options)
    history = result.history
    for key in logged:
        values = history[key]
        assert len(values) == 2 and not any(math.isnan(v) for v in values)
    assert 0.0 <= history.final["test_acc"] <= 1.0


def test_mla_predict_uses_entropy_weights(synthetic_small):
    result = run(synthetic_small, "mla", seed=0, epochs=1, progress=False)
    model, method = result.model, result.method
    batch = synthetic_small.split("val")
    model.eval()
    with torch.no_grad():
        out = method.predict(model, batch)
        z = {m: model.head.unimodal(h) for m, h in model.encode(batch.x).items()}
    weights = entropy_fusion_weights(z)
    assert torch.allclose(out.fused, sum(weights[m][:, None] * z[m] for m in z), atol=1e-5)
    assert torch.allclose(out.fused, sum(out.logits.values()), atol=1e-5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_opm_a_non_finite_score_drops_nothing(bad):
    assert drop_probabilities({"a": bad, "v": 10.0}) == {"a": 0.0, "v": 0.0}
    assert drop_probabilities({"a": 30.0, "v": bad, "t": 1.0}) == {"a": 0.0, "v": 0.0, "t": 0.0}
