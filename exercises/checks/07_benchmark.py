"""Checks of exercise 07. Each takes the learner's function (or class) and raises AssertionError(hint).

The reference frontier is mmlib.results.pareto_frontier, the one chapter 07 draws; the
learner's method is run through mmlib.benchmark.benchmark on a small synthetic data set.
The two function checks run a hand-made case first (its hint is the readable one), then a
random case drawn from a fresh seed at every grading, so that no hard-coded answer can pass;
its hint names the seed, and the ``_random_*`` helpers in this file rebuild its inputs from it.
MyMethod takes no input and is checked by running it (see its check's docstring).
"""

import math
import random
import secrets

import numpy as np
import pandas as pd

from mmlib.benchmark import benchmark
from mmlib.data import load
from mmlib.methods import REMEDY_FAMILIES, Method
from mmlib.results import pareto_frontier as reference_frontier

_FIT = {"epochs": 3, "batch_size": 32}


def _fresh_seed() -> int:
    """A new seed at every grading: the random case cannot be known in advance."""
    return secrets.randbits(32)


def _as_bools(values) -> list[bool]:
    return [bool(v) for v in values]


def _random_pareto_frontier(seed: int):
    """40 point sets of 6-12 points (the hand-made ones have at most 5) on a 5 x 5 grid, so that
    ties and identical points are common; now and then a NaN."""
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(40):
        n = int(rng.integers(6, 13))
        acc, imb = (rng.integers(0, 5, n) / 4).tolist(), (rng.integers(0, 5, n) / 4).tolist()
        if rng.random() < 0.3:
            (acc if rng.random() < 0.5 else imb)[int(rng.integers(0, n))] = math.nan
        cases.append((acc, imb))
    return cases


def check_pareto_frontier(pareto_frontier):
    """pareto_frontier(accuracy, imbalance): the points no other point beats on both axes"""
    got = _as_bools(pareto_frontier([0.9, 0.8, 0.95, 0.7, 0.85], [0.5, 0.2, 0.9, 0.1, 0.6]))
    want = [True, True, True, True, False]
    if got == [True, True, True, True, True] or got == [False] * 5:
        raise AssertionError(f"expected {want}, got {got}: (0.85, 0.6) is beaten by (0.9, 0.5) on both axes")
    assert got == want, f"for acc [0.9, 0.8, 0.95, 0.7, 0.85], imb [0.5, 0.2, 0.9, 0.1, 0.6] expected {want}, got {got}"
    seed = _fresh_seed()
    for acc, imb in _random_pareto_frontier(seed):
        want = reference_frontier(acc, imb).tolist()
        got = _as_bools(pareto_frontier(list(acc), list(imb)))
        assert got == want, (
            f"random case (seed {seed}): for acc {acc} and imb {imb} expected {want}, got {got} — "
            "compare every point with every other one")
    assert _as_bools(pareto_frontier([0.8, 0.9], [0.3, 0.3])) == [False, True], (
        "equal imbalance, lower accuracy: the first point is dominated (one strict inequality is enough)")
    assert _as_bools(pareto_frontier([0.8, 0.8], [0.3, 0.3])) == [True, True], (
        "two identical points do not dominate each other: both are on the frontier")
    got = _as_bools(pareto_frontier([0.99, math.nan, 0.1], [0.0, 0.0, math.nan]))
    assert got == [True, False, False], f"a point with a NaN is never on the frontier; got {got}"
    assert _as_bools(pareto_frontier([math.nan, 0.1], [0.0, 0.9])) == [False, True], (
        "a point with a NaN dominates nothing")


def check_my_method(MyMethod):
    """MyMethod: a Method subclass that runs in the benchmark and changes the training

    There is no input here, so no answer to hard-code or replay: the class is run. The
    defence is behavioural: it must train through the benchmark to a valid row and must
    change at least one score compared with plain joint training under the same seed (a
    subclass that overrides nothing, or overrides a hook without changing it, fails). The
    seed stays fixed: a random one would add no defence, and a legitimately small change
    would then pass or fail by chance.
    """
    assert isinstance(MyMethod, type) and issubclass(MyMethod, Method), (
        "MyMethod must be a class that subclasses mmlib.methods.Method")
    assert MyMethod.family in REMEDY_FAMILIES, (
        f"set `family` to the stage your method changes, one of {REMEDY_FAMILIES}; got {MyMethod.family!r}")
    data = load("synthetic", n_samples=240)
    table = benchmark({"toy": data}, {"baseline": "baseline", "mine": MyMethod}, [0], **_FIT)
    row = table[table["method"] == "mine"].iloc[0]
    assert row["status"] == "ok", f"the benchmark could not run your method: {row.get('note', '')}"
    for column in ("test_acc", "test_f1", "imbalance", "shapley_audio", "shapley_visual"):
        assert math.isfinite(float(row[column])), f"your method's {column} is {row[column]}: check for NaN in the loss"
    assert 0 <= row["test_acc"] <= 1 and 0 <= row["imbalance"] <= 1, f"not a valid row: {row.to_dict()}"
    base = table[table["method"] == "baseline"].iloc[0]
    columns = ["val_acc", "test_acc", "test_acc_audio", "test_acc_visual", "shapley_audio", "shapley_visual"]
    assert any(abs(float(row[c]) - float(base[c])) > 1e-9 for c in columns), (
        "your method trains exactly like plain joint training (same scores as the baseline with the same "
        "seed): override at least one hook so that it changes something")


def _means() -> pd.DataFrame:
    rows = [("d1", "baseline", 0.80, 0.90), ("d1", "a", 0.85, 0.40), ("d1", "b", 0.90, 0.50),
            ("d1", "mine", 0.84, 0.60), ("d1", "c", 0.84, 0.60), ("d2", "baseline", 0.95, 0.70),
            ("d2", "a", 0.94, 0.20), ("d2", "b", 0.95, 0.75), ("d2", "mine", 0.96, 0.70), ("d2", "c", 0.90, 0.10)]
    return pd.DataFrame(rows, columns=["dataset", "method", "test_acc_mean", "imbalance_mean"])


def _dominators(rows: list, method: str) -> dict:
    """Per data set, the methods at least as good on both axes and strictly better on one."""
    result = {}
    for dataset in dict.fromkeys(r[0] for r in rows):
        me = next(r for r in rows if r[0] == dataset and r[1] == method)
        result[dataset] = sorted(r[1] for r in rows if r[0] == dataset and r[2] >= me[2] and r[3] <= me[3]
                                 and (r[2] > me[2] or r[3] < me[3]))
    return result


def _random_dominated_by(seed: int):
    """2-4 data sets (not named d1, d2), 3-7 methods each, scores on a coarse grid so that ties happen."""
    rng = random.Random(seed)
    datasets = [f"set{i}" for i in rng.sample(range(10), rng.randint(2, 4))]
    methods = ["mine"] + rng.sample(["baseline", "ogm", "opm", "mla", "pmr", "agm", "greedy"], rng.randint(2, 6))
    return [(d, m, rng.randint(10, 20) / 20, rng.randint(0, 10) / 20)
            for d in datasets for m in rng.sample(methods, len(methods))]


def check_dominated_by(dominated_by):
    """dominated_by(means, method): per data set, who beats it on both axes"""
    means = _means()
    got = dominated_by(means.copy(), "mine")
    assert isinstance(got, dict) and set(got) == {"d1", "d2"}, f"return one entry per data set; got {got!r}"
    got = {d: sorted(v) for d, v in got.items()}
    assert got["d2"] == [], f"on d2 'mine' is the most accurate: nothing dominates it; got {got['d2']}"
    assert "c" not in got["d1"], "'c' has the same scores as 'mine': identical points do not dominate each other"
    assert got["d1"] == ["a", "b"], f"on d1 expected ['a', 'b'] to dominate 'mine', got {got['d1']}"
    seed = _fresh_seed()
    rows = _random_dominated_by(seed)
    frame = pd.DataFrame(rows, columns=["dataset", "method", "test_acc_mean", "imbalance_mean"])
    for method in ("mine", rows[-1][1]):
        want = _dominators(rows, method)
        got = dominated_by(frame.copy(), method)
        assert isinstance(got, dict) and set(got) == set(want), (
            f"random case (seed {seed}): data sets {sorted(want)} need one entry each, got "
            f"{sorted(got) if isinstance(got, dict) else type(got).__name__}")
        got = {d: sorted(v) for d, v in got.items()}
        assert got == want, (
            f"random case (seed {seed}): for {method!r} expected {want}, got {got}, with the means\n"
            f"{frame.to_string(index=False)}")
    assert {d: sorted(v) for d, v in dominated_by(means.copy(), "baseline").items()} == {"d1": ["a", "b", "c", "mine"],
                                                                                          "d2": ["mine"]}, (
        "for 'baseline' expected d1: ['a', 'b', 'c', 'mine'] and d2: ['mine']")


CHECKS = {
    "pareto_frontier": check_pareto_frontier,
    "MyMethod": check_my_method,
    "dominated_by": check_dominated_by,
}
