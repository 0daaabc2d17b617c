"""Feed-forward methods: MLA, OPM, AMCo, Greedy — their pure math and one short run each."""

import math

import pytest
import torch

from mmlib.methods.amco import class_mask, dependent_modalities, mask_ratio
from mmlib.methods.greedy import (MMTM, bypass_dominance, conditional_utilization_rate, modality_to_rebalance,
                                  relative_gradient_energy)
from mmlib.methods.mla import SharedHead, entropy, entropy_fusion_weights, owm_update, project_gradient
from mmlib.methods.opm import drop_probabilities, rescale_factor
from mmlib.train import run


# -- MLA -------------------------------------------------------------------------------------------

def test_entropy_fusion_prefers_the_confident_modality():
    z = {"a": torch.tensor([[10.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), "v": torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])}
    w = entropy_fusion_weights(z)
    assert w["a"][0] > 0.7 and torch.allclose(w["a"] + w["v"], torch.ones(2))
    assert w["a"][1] == pytest.approx(0.5)  # a tie: equal weights
    assert entropy(torch.zeros(1, 4)).item() == pytest.approx(math.log(4))
    assert not torch.isnan(entropy_fusion_weights({"a": torch.full((1, 3), 1e4)})["a"]).any()


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
    with pytest.raises(ValueError):
        class_mask(2, 3, 4)


# -- Greedy ------------------------------------------------------------------------------------------

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
    p = torch.nn.Parameter(torch.full((2,), 2.0))
    assert relative_gradient_energy([p]) == 0.0  # no gradient yet
    p.grad = torch.ones(2)
    assert relative_gradient_energy([p]) == pytest.approx(2 / 8)


def test_mmtm_curation_cuts_the_bypass():
    torch.manual_seed(0)
    block = MMTM({"a": 4, "v": 4})
    a, v1, v2 = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    block.eval()
    assert not torch.allclose(block({"a": a, "v": v1})["a"], block({"a": a, "v": v2})["a"])
    block.curated = {"a"}
    assert torch.allclose(block({"a": a, "v": v1})["a"], block({"a": a, "v": v2})["a"])


# -- the methods, end to end -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, logged", [
    ("mla", ["loss_audio", "loss_visual"]),
    ("opm", ["q_audio", "q_visual", "executed"]),
    ("amco", ["mask_ratio", "dependent_audio"]),
    ("greedy", ["bdr_audio", "utilization_visual", "rebalancing_audio"]),
])
def test_short_run_logs_its_mechanism(synthetic_small, name, logged):
    result = run(synthetic_small, name, seed=0, epochs=2, progress=False)
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
