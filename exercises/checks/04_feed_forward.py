"""Checks of exercise 04. Each takes the learner's function and raises AssertionError(hint).

Every check runs a hand-made case first (its hint is the readable one), then a random case
drawn from a fresh seed at every grading, so that no hard-coded answer can pass. A random
case's hint names its seed; the ``_random_*`` helpers in this file rebuild its inputs from it.
"""

import math
import random
import secrets

import torch

from mmlib.methods.greedy import conditional_utilization_rate as reference_rate
from mmlib.methods.mla import entropy_fusion_weights as reference_weights
from mmlib.methods.opm import drop_probabilities as reference_q

_POOL = ("audio", "visual", "text", "depth", "imu")


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _opm(scores: dict, q_base: float, lam: float) -> dict:
    """OPM written out: r = tanh(max(0, s_m / sum of the others - 1)), q = clip(q_base (1 + lam r)) if r > 0."""
    q = {}
    for m, s in scores.items():
        others = sum(v for k, v in scores.items() if k != m)
        r = math.tanh(max(0.0, s / others - 1.0))
        q[m] = min(1.0, q_base * (1 + lam * r)) if r > 0 else 0.0
    return q


def _random_drop_probabilities(seed: int):
    """2-4 modalities, one of which leads by a clear factor (1.05-4x the others' sum)."""
    rng = random.Random(seed)
    while True:
        names = rng.sample(_POOL, rng.randint(2, 4))
        scores = {m: round(rng.uniform(0.5, 20.0), 3) for m in names}
        leader = rng.choice(names)
        scores[leader] = round(sum(v for k, v in scores.items() if k != leader) * rng.uniform(1.05, 4.0), 3)
        q_base, lam = round(rng.uniform(0.1, 0.9), 3), round(rng.uniform(0.2, 1.5), 3)
        want = _opm(scores, q_base, lam)
        if set(want) != {"audio", "visual"} or abs(want["audio"] - reference_q({"audio": 30.0, "visual": 10.0},
                                                                                0.5, 0.5)["audio"]) > 1e-3:
            return scores, q_base, lam, want


def check_drop_probabilities(drop_probabilities):
    """drop_probabilities: OPM's drop probability from the scores"""
    cases = [({"audio": 30.0, "visual": 10.0}, 0.5, 0.5), ({"audio": 10.0, "visual": 10.0}, 0.5, 0.5),
             ({"a": 12.0, "v": 4.0, "t": 4.0}, 0.4, 1.0), ({"a": 3.0, "v": 0.0}, 0.5, 0.5),
             ({"a": 0.0, "v": 0.0}, 0.5, 0.5), ({"a": 100.0, "v": 1.0}, 0.9, 1.0)]
    for i, (scores, q_base, lam) in enumerate(cases):
        got = drop_probabilities(scores, q_base, lam)
        expected = reference_q(scores, q_base, lam)
        assert set(got) == set(scores), f"return one probability per modality, got keys {sorted(got)}"
        for m in scores:
            assert not math.isnan(float(got[m])), f"q[{m!r}] is NaN for scores {scores}: guard the division"
            assert abs(float(got[m]) - expected[m]) < 1e-6, (
                f"scores {scores}, q_base={q_base}, lam={lam}: expected q[{m!r}] = {expected[m]:.4f}, "
                f"got {float(got[m]):.4f} — a modality that does not lead is never dropped (q = 0), and "
                "q is clipped to [0, 1]")
        if i == 0:
            seed = _fresh_seed()
            r_scores, r_q_base, r_lam, want = _random_drop_probabilities(seed)
            got = drop_probabilities(dict(r_scores), r_q_base, r_lam)
            assert set(got) == set(want), (
                f"random case (seed {seed}): scores {r_scores} need one probability per modality, "
                f"got keys {sorted(got)}")
            wrong = {m: (round(float(got[m]), 4), round(want[m], 4)) for m in want
                     if not abs(float(got[m]) - want[m]) < 1e-6}
            assert not wrong, (
                f"random case (seed {seed}): scores {r_scores}, q_base={r_q_base}, lam={r_lam}; "
                f"(got, expected) per modality: {wrong} — q = clip(q_base (1 + lam tanh(s_m / others - 1))) "
                "for the leader, 0 for the rest")


def _random_entropy_fusion_weights(seed: int) -> dict:
    """2-4 modalities of different sharpness, 7-30 samples (the hand-made case has 6)."""
    gen = torch.Generator().manual_seed(seed)
    names = random.Random(seed).sample(_POOL, random.Random(seed + 1).randint(2, 4))
    n, c = int(torch.randint(7, 31, (1,), generator=gen)), int(torch.randint(2, 9, (1,), generator=gen))
    return {m: float(torch.rand(1, generator=gen)) * 4 * torch.randn(n, c, generator=gen) for m in names}


def _expected_weights(logits: dict) -> dict:
    """softmax over modalities of log C - H(softmax(z_m)), computed in float64."""
    names = list(logits)
    conf = []
    for m in names:
        p = logits[m].double().softmax(dim=1)
        conf.append(math.log(logits[m].shape[1]) + (p * p.clamp_min(1e-300).log()).sum(dim=1))
    w = torch.stack(conf).softmax(dim=0)
    return {m: w[i] for i, m in enumerate(names)}


def check_entropy_fusion_weights(entropy_fusion_weights):
    """entropy_fusion_weights: MLA's confidence weights"""
    gen = torch.Generator().manual_seed(0)
    logits = {"audio": 3 * torch.randn(6, 5, generator=gen), "visual": torch.randn(6, 5, generator=gen)}
    logits["visual"][0] = 0.0  # a flat prediction: maximal entropy
    got = entropy_fusion_weights(logits)
    expected = reference_weights(logits)
    assert set(got) == set(logits), f"return one weight vector per modality, got keys {sorted(got)}"
    total = sum(torch.as_tensor(w) for w in got.values())
    assert torch.allclose(total, torch.ones(6), atol=1e-5), "the weights of a sample must sum to 1"
    for m in logits:
        assert torch.allclose(torch.as_tensor(got[m]).float(), expected[m], atol=1e-5), (
            f"weights of {m!r} differ from exp(log C - H) normalised over modalities: expected "
            f"{expected[m][:3].tolist()}..., got {torch.as_tensor(got[m])[:3].tolist()}...")
    seed = _fresh_seed()
    logits = _random_entropy_fusion_weights(seed)
    got = entropy_fusion_weights({m: z.clone() for m, z in logits.items()})
    want = _expected_weights(logits)
    n, c = next(iter(logits.values())).shape
    assert set(got) == set(want), (
        f"random case (seed {seed}): modalities {list(logits)} need one weight vector each, got keys {sorted(got)}")
    for m in want:
        w = torch.as_tensor(got[m]).double()
        assert tuple(w.shape) == (n,) and torch.allclose(w, want[m], atol=1e-5), (
            f"random case (seed {seed}): {len(logits)} modalities, {n} samples, {c} classes; the weights of {m!r} "
            f"(one per sample, shape ({n},)) differ from softmax over modalities of log C - H(softmax(z_m))")


def _random_conditional_utilization_rate(seed: int):
    """A_all in [0.2, 1], A_without in [0, 1]; never the hand-made first answer 0.25."""
    rng = random.Random(seed)
    while True:
        acc_all, acc_without = round(rng.uniform(0.2, 1.0), 4), round(rng.uniform(0.0, 1.0), 4)
        if abs((acc_all - acc_without) / acc_all - 0.25) > 1e-3:
            return acc_all, acc_without


def check_conditional_utilization_rate(conditional_utilization_rate):
    """conditional_utilization_rate: Greedy's utilisation of a modality"""
    for i, (acc_all, acc_without) in enumerate([(0.8, 0.6), (0.9, 0.9), (0.5, 0.7), (0.0, 0.3), (1.0, 0.1)]):
        got = conditional_utilization_rate(acc_all, acc_without)
        expected = reference_rate(acc_all, acc_without)
        assert abs(float(got) - expected) < 1e-9, (
            f"A_all={acc_all}, A_without={acc_without}: expected {expected:.4f}, got {got} "
            "((A_all - A_without) / A_all, and 0 when A_all = 0)")
        if i == 0:
            seed = _fresh_seed()
            a, b = _random_conditional_utilization_rate(seed)
            got, want = conditional_utilization_rate(a, b), (a - b) / a
            assert abs(float(got) - want) < 1e-9, (
                f"random case (seed {seed}): A_all={a}, A_without={b}: expected (A_all - A_without) / A_all = "
                f"{want:.6f}, got {got}")


CHECKS = {
    "drop_probabilities": check_drop_probabilities,
    "entropy_fusion_weights": check_entropy_fusion_weights,
    "conditional_utilization_rate": check_conditional_utilization_rate,
}
