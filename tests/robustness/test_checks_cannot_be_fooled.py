"""The exercise checks cannot be fooled by hard-coded answers (issue 13, item 1).

For every task of every exercise:
- a *replay* cheat (the reference solution's answer to the first call, returned for every
  call) fails;
- a *lookup table* cheat (right on every input an earlier grading used, so on every hand-made
  case; the first answer otherwise) fails, and the hint that stops it is the random case's
  (it names the seed);
- a *constant* cheat of the right type fails (for most tasks the constant is the hand-made
  case's own answer, so only the random case can catch it);
- the reference solution passes five gradings in a row, and the random case really is
  new at every grading (the solution's inputs and answers differ between two gradings);
- a correct answer written another way (mostly the library's own float32 code) passes five
  gradings too: the random cases' tolerances do not over-fit the reference solution.

MyMethod (exercise 07) takes no input, so there is nothing to replay: its check runs the class
through the benchmark and rejects a method that trains exactly like the baseline; its cheat
here is a Method subclass that overrides the loss hook with plain joint training's own loss.
"""

from __future__ import annotations

import copy
import hashlib
import math

import pytest
import torch
import torch.nn.functional as F

from mmlib.course.bookfile import load_book
from mmlib.course.exercises import FAIL, PASS, exercise_paths, grade, load_checks, namespace_from_module
from mmlib.methods import Method

BOOK = load_book()
IDS = [c.id for c in BOOK.chapters if c.exercise is not None and c.exercise.is_file()]
TASKS = [(eid, name) for eid in IDS for name in load_checks(eid)]
NO_INPUT = {("07", "MyMethod")}  # a class run by the benchmark: nothing to replay (module docstring)
_SOLUTIONS: dict[str, dict] = {}
_CHECKS: dict[str, dict] = {}


def _solution(eid: str) -> dict:
    if eid not in _SOLUTIONS:
        _SOLUTIONS[eid] = namespace_from_module(exercise_paths(eid).solution)
    return _SOLUTIONS[eid]


def _grade_one(eid: str, name: str, fn):
    if eid not in _CHECKS:
        _CHECKS[eid] = load_checks(eid)
    [result] = grade({name: _CHECKS[eid][name]}, {name: fn})
    return result


def replay(fn):
    """The answer of the first call, deep-copied, for every call: a lookup table of the first case."""
    first = []

    def cheat(*args, **kwargs):
        if not first:
            first.append(copy.deepcopy(fn(*args, **kwargs)))
        return copy.deepcopy(first[0])

    return cheat


class _SameLoss(Method):
    """MyMethod's cheat: overrides a hook, but with plain joint training's own loss."""

    name, family, paper = "same_loss", "learning objective", "a cheat"

    def loss(self, output, batch):
        return F.cross_entropy(output.fused, batch.y)


def _const(value):
    return lambda *args, **kwargs: copy.deepcopy(value)


# A constant of the right type per task; where it is short, the hand-made case's own answer.
CONSTANTS = {
    ("00", "accuracy"): _const(0.5),
    ("00", "softmax_minus_onehot"): _const(torch.zeros(5, 4)),
    ("00", "per_modality_accuracy"): _const({"audio": 0.75, "video": 0.5, "fused": 0.5}),
    ("01", "modality_logits"): _const({m: torch.zeros(4, 5) for m in ("audio", "visual", "text")}),
    ("01", "feature_gradients"): _const({"audio": torch.zeros(6, 3), "visual": torch.zeros(6, 4)}),
    ("01", "shared_term_size"): _const(5 / 6),
    ("02", "shapley_two"): _const(0.55),
    ("02", "shapley"): _const({"audio": 0.25, "visual": 0.25, "text": 0.25}),
    ("02", "imbalance"): _const(0.0),
    ("03", "sample_contribution"): _const(torch.tensor([1.0, 1.5, 0.5, 1.0, 0.0, 0.5, -0.5])),
    ("03", "resample_copies"): _const(torch.tensor([3, 2, 2, 2, 1, 1, 1, 0, 0])),
    ("03", "modality_resampling"): _const(("visual", 360)),
    ("04", "drop_probabilities"): _const({"audio": 0.7410, "visual": 0.0}),
    ("04", "entropy_fusion_weights"): _const({"audio": torch.full((6,), 0.5), "visual": torch.full((6,), 0.5)}),
    ("04", "conditional_utilization_rate"): _const(0.25),
    ("05", "cosine"): _const(torch.tensor(0.8)),
    ("05", "min_norm_weight"): _const(torch.tensor(0.5)),
    ("05", "pareto_update"): _const(torch.zeros(3)),
    ("06", "ogm_coefficients"): _const({"audio": 1 - math.tanh(1.5), "visual": 1.0}),
    ("06", "ge_noise"): _const(torch.randn(300, 200, generator=torch.Generator().manual_seed(1)) * 2.5),
    ("06", "modulate"): _const(0.25 * torch.randn(2000, generator=torch.Generator().manual_seed(2))),
    ("07", "pareto_frontier"): _const([True, True, True, True, False]),
    ("07", "MyMethod"): _SameLoss,
    ("07", "dominated_by"): _const({"d1": ["a", "b"], "d2": []}),
    ("08", "attention_imbalance_ratio"): _const((1 + 1 / math.sqrt(2) + 1) / 2),
    ("08", "rotation_matrix"): _const(torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])),
    ("09", "lora_delta"): _const(torch.tensor([[3.0, 0.0, 1.5]])),
    ("09", "modality_low_rank_update"): _const(torch.tensor([[[2.0, -2.0], [3.0, -3.0], [3.0, -3.0]]])),
    ("09", "visual_to_text_attention"): _const(torch.tensor([[[2.60886, 0.39114], [2.0, 0.0], [0.0, 2.0]]])),
    ("10", "per_class_weight_norms"): _const({"audio": torch.tensor([5.0, 0.0]), "visual": torch.tensor([1.0, 2.0])}),
    ("10", "decision_shares"): _const({"a": 0.5, "b": 0.5}),
    ("10", "capability_weights"): _const({"strong": 0.8, "weak": 0.2}),
    ("11", "product_scores"): _const(torch.tensor([[2.0, 1.0, -2.0]])),
    ("11", "shapley_two"): _const({"a": 0.5, "v": 0.2}),
    ("11", "imbalance"): _const(0.0),
}


def _ids(case):
    return f"{case[0]}-{case[1]}"


def test_every_task_has_a_constant_cheat():
    assert sorted(CONSTANTS) == sorted(TASKS), set(TASKS) ^ set(CONSTANTS)


@pytest.mark.parametrize("case", [t for t in TASKS if t not in NO_INPUT], ids=_ids)
def test_replaying_the_first_answer_fails(case):
    eid, name = case
    result = _grade_one(eid, name, replay(_solution(eid)[name]))
    assert result.status == FAIL, f"exercise {eid} task {name}: a replay of the first answer passed"
    assert result.message, "a failure must come with a hint"


@pytest.mark.parametrize("case", [t for t in TASKS if t not in NO_INPUT], ids=_ids)
def test_a_lookup_table_of_an_earlier_grading_fails_on_the_random_case(case):
    """Right on every input seen in an earlier grading (all hand-made cases), else the first answer."""
    eid, name = case
    calls = []
    assert _grade_one(eid, name, _recording(_solution(eid)[name], calls)).status == PASS
    table = {}
    for fingerprint, _, answer in calls:
        table.setdefault(fingerprint, answer)
    first = calls[0][2]

    def cheat(*args, **kwargs):
        return copy.deepcopy(table.get(_fingerprint((args, kwargs)), first))

    result = _grade_one(eid, name, cheat)
    assert result.status == FAIL, f"exercise {eid} task {name}: answers looked up from an earlier grading passed"
    assert "seed" in result.message, (
        f"exercise {eid} task {name}: only the random case can catch this cheat, and its hint must name "
        f"the seed; got {result.message!r}")


@pytest.mark.parametrize("case", TASKS, ids=_ids)
def test_a_constant_answer_fails(case):
    eid, name = case
    result = _grade_one(eid, name, CONSTANTS[case])
    assert result.status == FAIL, f"exercise {eid} task {name}: a constant answer passed"
    assert result.message, "a failure must come with a hint"
    if case in NO_INPUT:
        assert "baseline" in result.message, result.message


@pytest.mark.parametrize("eid", IDS)
def test_reference_solution_passes_five_gradings_in_a_row(eid):
    # MyMethod's check is deterministic (fixed benchmark seed) and takes ~5 s: graded once by
    # tests/test_exercises.py, not repeated here.
    checks = {n: c for n, c in load_checks(eid).items() if (eid, n) not in NO_INPUT}
    for _ in range(5):
        results = grade(checks, _solution(eid))
        assert all(r.status == PASS for r in results), [r for r in results if r.status != PASS]


def _fingerprint(value):
    """A comparable summary of inputs and answers (callables and objects reduce to their type)."""
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous()
        return ("tensor", tuple(data.shape), str(data.dtype), hashlib.sha256(data.numpy().tobytes()).hexdigest())
    if isinstance(value, torch.nn.Module):
        return ("module", _fingerprint(dict(value.state_dict())))
    if isinstance(value, dict):
        return ("dict", tuple((repr(k), _fingerprint(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_fingerprint(v) for v in value))
    if isinstance(value, float):
        return "nan" if math.isnan(value) else round(value, 12)
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    if hasattr(value, "to_dict"):  # a pandas DataFrame
        return _fingerprint(value.to_dict("list"))
    return type(value).__name__


def _recording(fn, calls):
    def spy(*args, **kwargs):
        fingerprint = _fingerprint((args, kwargs))  # before the call: the solution may not mutate, but be safe
        out = fn(*args, **kwargs)
        calls.append((fingerprint, _fingerprint(out), copy.deepcopy(out)))
        return out

    return spy


@pytest.mark.parametrize("case", [t for t in TASKS if t not in NO_INPUT], ids=_ids)
def test_each_grading_draws_a_new_random_case(case):
    eid, name = case
    runs = []
    for _ in range(2):
        calls = []
        result = _grade_one(eid, name, _recording(_solution(eid)[name], calls))
        assert result.status == PASS, result
        runs.append([c[:2] for c in calls])
    assert runs[0][0] == runs[1][0], "the hand-made case (the first call) should be the same every time"
    assert runs[0] != runs[1], f"exercise {eid} task {name}: two gradings used exactly the same inputs"


def _alternatives() -> dict:
    """Correct answers written independently of the reference solutions: the library's own code
    (float32, other formulas) and a few hand-written variants. A check must pass them too."""
    from mmlib import decision as D
    from mmlib import mllm, theory
    from mmlib.results import pareto_frontier
    from mmlib.methods import greedy, mla, mmpareto, ogm, opm, valuation
    from mmlib.methods.rollingq import rotation_matrix
    from mmlib.metrics import imbalance, shapley_values
    from mmlib.transformer import attention_imbalance_ratio

    def softmax_minus_onehot(z, y):
        e = (z - z.max(dim=1, keepdim=True).values).exp()
        return e / e.sum(dim=1, keepdim=True) - torch.eye(z.shape[1])[y]

    def per_modality_accuracy(logits, y):
        fused = torch.stack(list(logits.values())).sum(0)
        return {**{m: D.accuracy(z, y) for m, z in logits.items()}, "fused": D.accuracy(fused, y)}

    def modality_logits(features, weight, bias):
        blocks = weight.split([h.shape[1] for h in features.values()], dim=1)
        return {m: h @ w.T + bias / len(features) for (m, h), w in zip(features.items(), blocks)}

    def feature_gradients(f, y, slices):
        shared = torch.autograd.functional.jacobian(lambda z: F.cross_entropy(z, y), f)
        return {m: shared @ w for m, w in slices.items()}

    def dominated_by(means, method):
        out = {}
        for dataset, sub in means.groupby("dataset", sort=False):
            front = sub.set_index("method")
            acc, imb = front.loc[method, "test_acc_mean"], front.loc[method, "imbalance_mean"]
            out[dataset] = sorted(m for m, row in front.iterrows() if row["test_acc_mean"] >= acc
                                  and row["imbalance_mean"] <= imb and (row["test_acc_mean"], row["imbalance_mean"])
                                  != (acc, imb))
        return out

    return {
        ("00", "accuracy"): D.accuracy,
        ("00", "softmax_minus_onehot"): softmax_minus_onehot,
        ("00", "per_modality_accuracy"): per_modality_accuracy,
        ("01", "modality_logits"): modality_logits,
        ("01", "feature_gradients"): feature_gradients,
        ("01", "shared_term_size"): theory.shared_term_size,
        ("02", "shapley_two"): lambda v: shapley_values(lambda s: v[frozenset(s)], ["a", "v"])["a"],
        ("02", "shapley"): shapley_values,
        ("02", "imbalance"): imbalance,
        ("03", "sample_contribution"): valuation.sample_contribution,
        ("03", "resample_copies"): valuation.resample_copies,
        ("03", "modality_resampling"): lambda means, n, alpha=1.0: valuation.modality_resample_count(
            valuation.modality_gaps(means), n, alpha),
        ("04", "drop_probabilities"): opm.drop_probabilities,
        ("04", "entropy_fusion_weights"): mla.entropy_fusion_weights,
        ("04", "conditional_utilization_rate"): greedy.conditional_utilization_rate,
        ("05", "cosine"): lambda a, b: F.cosine_similarity(a, b, dim=0, eps=1e-30),
        ("05", "min_norm_weight"): mmpareto.min_norm_weight,
        ("05", "pareto_update"): lambda g_mm, g_u, gamma=1.5: mmpareto.pareto_combine(g_mm, g_u, gamma).update,
        ("06", "ogm_coefficients"): ogm.ogm_coefficients,
        ("06", "ge_noise"): ogm.ge_noise,
        ("06", "modulate"): ogm.modulate_gradient,
        ("07", "pareto_frontier"): pareto_frontier,
        ("07", "dominated_by"): dominated_by,
        ("08", "attention_imbalance_ratio"): attention_imbalance_ratio,
        ("08", "rotation_matrix"): rotation_matrix,
        ("09", "lora_delta"): mllm.lora_delta,
        ("09", "modality_low_rank_update"): lambda x, ids, a, b, s: s * mllm.modality_low_rank(x, ids, a) @ b.T,
        ("09", "visual_to_text_attention"): mllm.visual_to_text_attention,
        ("10", "per_class_weight_norms"): lambda head, dims: D.per_class_weight_norms(
            dict(zip(dims, head.weight.split(list(dims.values()), dim=1)))),
        ("10", "decision_shares"): D.decision_shares,
        ("10", "capability_weights"): D.capability_weights,
    }


ALTERNATIVES = _alternatives()


@pytest.mark.parametrize("case", sorted(ALTERNATIVES), ids=_ids)
def test_a_correct_answer_written_another_way_passes_five_gradings(case):
    for _ in range(5):
        result = _grade_one(*case, ALTERNATIVES[case])
        assert result.status == PASS, result
