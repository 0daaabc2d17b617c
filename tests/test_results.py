"""Tests of mmlib.results: the rule of evidence on hand-made inputs, and the result tables."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mmlib import results as R


# --------------------------------------------------------------------------- paired_difference
def test_paired_difference_matches_scipy_ttest_rel_and_its_interval():
    a = [0.81, 0.84, 0.86, 0.80, 0.83]
    b = [0.78, 0.80, 0.85, 0.79, 0.79]
    e = R.paired_difference(a, b)
    ref = stats.ttest_rel(a, b)
    assert e.p == pytest.approx(ref.pvalue, rel=1e-12)
    assert e.p_adjusted == e.p and e.n == 5
    d = np.subtract(a, b)
    assert e.mean == pytest.approx(d.mean())
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (e.low, e.high) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    ci = ref.confidence_interval(0.95)
    assert (e.low, e.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert e.verdict == ("better" if ref.pvalue < 0.05 else "not established")


def test_hand_computed_example():
    # d = [1, 2, 3]: mean 2, s = 1, se = 1/sqrt(3), t = 2*sqrt(3) = 3.464 on 2 df
    e = R.paired_difference([1.0, 2.0, 3.0])
    t = 2 * math.sqrt(3)
    assert e.p == pytest.approx(2 * stats.t.sf(t, 2))
    assert e.p == pytest.approx(0.0742, abs=1e-4)
    assert e.verdict == "not established" and not e.established
    assert e.high - e.mean == pytest.approx(stats.t.ppf(0.975, 2) / math.sqrt(3))


def test_a_clear_difference_is_better_or_worse_by_its_sign():
    a = [0.90, 0.91, 0.92, 0.905]
    b = [0.80, 0.805, 0.81, 0.80]
    assert R.paired_difference(a, b).verdict == "better"
    assert R.paired_difference(b, a).verdict == "worse"
    assert R.paired_difference(a, b).established


def test_lower_is_better_turns_a_negative_difference_into_better():
    lower = [0.10, 0.12, 0.11]
    higher = [0.50, 0.55, 0.52]
    e = R.paired_difference(lower, higher, higher_is_better=False)
    assert e.mean < 0 and e.verdict == "better" and e.higher_is_better is False
    assert R.paired_difference(higher, lower, higher_is_better=False).verdict == "worse"


def test_b_may_be_a_number():
    e = R.paired_difference([0.2, 0.25, 0.3], 0.0)
    assert e.p == pytest.approx(stats.ttest_1samp([0.2, 0.25, 0.3], 0.0).pvalue)
    assert e.verdict == "better"


def test_fewer_than_three_seeds_is_an_error():
    with pytest.raises(ValueError, match=">= 3 seeds"):
        R.paired_difference([0.9, 0.8], [0.1, 0.2])
    with pytest.raises(ValueError, match=">= 3 seeds"):
        R.paired_difference([], [])


def test_mismatched_lengths_and_non_finite_values_are_errors():
    with pytest.raises(ValueError, match="one value per seed"):
        R.paired_difference([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        R.paired_difference([0.1, math.nan, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        R.paired_difference([0.1, 0.2, 0.3], [0.1, math.inf, 0.3])
    with pytest.raises(ValueError, match="alpha"):
        R.paired_difference([0.1, 0.2, 0.3], alpha=1.5)


def test_zero_spread():
    e = R.paired_difference([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])  # every difference +0.5
    assert e.p == 0.0 and e.verdict == "better" and e.low == e.high == pytest.approx(0.5)
    assert R.paired_difference([0.0, 1.0, 2.0], [0.5, 1.5, 2.5]).verdict == "worse"
    same = R.paired_difference([0.3, 0.4, 0.5], [0.3, 0.4, 0.5])  # every difference 0
    assert same.p == 1.0 and same.verdict == "not established" and same.mean == 0.0


def test_str_reports_difference_interval_n_p_and_verdict():
    e = R.Evidence(mean=0.052, low=0.031, high=0.073, n=3, p=0.012, p_adjusted=0.024, verdict="better")
    assert str(e) == "+0.052 [+0.031, +0.073] n=3 p=0.012 (Holm 0.024): better"
    single = R.paired_difference([0.2, 0.25, 0.3])
    assert "Holm" not in str(single) and str(single).endswith(": better") and "n=3" in str(single)


# --------------------------------------------------------------------------- Holm
def test_holm_textbook_example():
    assert R.holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert R.holm([0.01]).tolist() == [0.01]
    assert R.holm([]).tolist() == []
    assert R.holm([0.5, 0.6, 0.9]).tolist() == [1.0, 1.0, 1.0]  # capped at 1
    p = np.random.default_rng(0).uniform(size=20)
    q = R.holm(p)
    assert (q >= p).all() and (np.diff(q[np.argsort(p)]) >= 0).all()  # monotone in p
    with pytest.raises(ValueError):
        R.holm([0.1, math.nan])


def test_adjust_recomputes_p_adjusted_and_verdicts_as_one_family():
    one = R.Evidence(mean=0.1, low=0.0, high=0.2, n=3, p=0.02, p_adjusted=0.02, verdict="better")
    two = R.Evidence(mean=-0.1, low=-0.2, high=0.0, n=3, p=0.04, p_adjusted=0.04, verdict="worse")
    out = R.adjust({"one": one, "two": two})
    assert out["one"].p_adjusted == pytest.approx(0.04) and out["one"].verdict == "better"
    assert out["two"].verdict == "worse"
    three = R.adjust({"one": one, "two": two, "x": R.Evidence(0.0, 0.0, 0.0, 3, 0.9, 0.9, "not established")})
    assert three["one"].p_adjusted == pytest.approx(0.06) and three["one"].verdict == "not established"
    assert three["two"].p_adjusted == pytest.approx(0.08) and three["two"].p == 0.04
    assert R.adjust({}) == {}


# --------------------------------------------------------------------------- versus_baseline
def _runs() -> pd.DataFrame:
    rows = []
    accs = {"baseline": [0.80, 0.82, 0.81, 0.79], "clear": [0.90, 0.915, 0.905, 0.895],
            "noisy": [0.85, 0.78, 0.83, 0.76]}
    for d, shift in (("d1", 0.0), ("d2", 0.05)):
        for m, values in accs.items():
            for seed, acc in enumerate(values):
                rows.append({"dataset": d, "method": m, "seed": seed, "status": "ok", "test_acc": acc + shift,
                             "imbalance": 0.5 if m == "baseline" else 0.2 + 0.01 * seed})
    table = pd.DataFrame(rows)
    diverged = (table["dataset"] == "d2") & (table["method"] == "clear") & (table["seed"] == 3)
    table.loc[diverged, ["status", "test_acc", "imbalance"]] = ["diverged", math.nan, math.nan]
    return table


def test_versus_baseline_on_two_datasets():
    out = R.versus_baseline(_runs(), "test_acc")
    assert list(out.columns) == ["dataset", "method", "n", "mean_diff", "ci_low", "ci_high", "p", "p_holm", "verdict"]
    assert out[["dataset", "method"]].values.tolist() == [["d1", "clear"], ["d1", "noisy"], ["d2", "clear"],
                                                         ["d2", "noisy"]]
    got = out.set_index(["dataset", "method"])
    assert got.loc[("d1", "clear"), "verdict"] == "better" and got.loc[("d1", "clear"), "n"] == 4
    assert got.loc[("d2", "clear"), "n"] == 3  # the diverged seed is dropped, the others paired
    assert got.loc[("d2", "clear"), "verdict"] == "better"
    assert (got.xs("noisy", level="method")["verdict"] == "not established").all()
    base = [0.80, 0.82, 0.81, 0.79]
    want = stats.ttest_rel([0.90, 0.915, 0.905, 0.895], base)
    assert got.loc[("d1", "clear"), "p"] == pytest.approx(want.pvalue)
    assert got.loc[("d1", "clear"), "mean_diff"] == pytest.approx(0.09875)
    assert got["p_holm"].to_numpy() == pytest.approx(R.holm(got["p"]))  # Holm across all four comparisons


def test_versus_baseline_lower_is_better_and_methods():
    out = R.versus_baseline(_runs(), "imbalance", higher_is_better=False, methods=["clear"])
    assert list(out["method"]) == ["clear", "clear"]
    assert (out["verdict"] == "better").all() and (out["mean_diff"] < 0).all()


def test_versus_baseline_pairs_on_common_seeds_and_refuses_fewer_than_three():
    table = _runs()
    table = table[~((table["method"] == "noisy") & (table["seed"] == 0))]  # noisy lacks seed 0: 3 common seeds
    out = R.versus_baseline(table, "test_acc").set_index(["dataset", "method"])
    assert out.loc[("d1", "noisy"), "n"] == 3
    fewer = table[~((table["dataset"] == "d2") & (table["method"] == "clear") & (table["seed"] == 2))]
    with pytest.raises(ValueError, match=r"dataset 'd2', method 'clear'.*>= 3"):
        R.versus_baseline(fewer, "test_acc")


def test_versus_baseline_skips_not_applicable_methods_and_checks_the_baseline():
    table = _runs()
    na = table[table["method"] == "noisy"].assign(method="na", status="n/a", test_acc=math.nan)
    out = R.versus_baseline(pd.concat([table, na], ignore_index=True), "test_acc")
    assert "na" not in set(out["method"])
    with pytest.raises(ValueError, match="baseline"):
        R.versus_baseline(table[table["method"] != "baseline"], "test_acc")
    as_read_back = pd.concat([table, na.assign(status=math.nan)], ignore_index=True)  # "n/a" in a CSV reads as NaN
    assert "na" not in set(R.versus_baseline(as_read_back, "test_acc")["method"])
    gone = table[~((table["dataset"] == "d1") & (table["method"] == "clear"))]
    all_diverged = table[(table["dataset"] == "d1") & (table["method"] == "clear")].assign(status="diverged")
    with pytest.raises(ValueError, match=r"dataset 'd1', method 'clear': only 0 seed"):
        R.versus_baseline(pd.concat([gone, all_diverged]), "test_acc")
    with pytest.raises(ValueError, match="several runs"):
        R.versus_baseline(pd.concat([table, table.iloc[:1]]), "test_acc")


# --------------------------------------------------------------------------- tables
def _table() -> pd.DataFrame:
    return pd.DataFrame({"dataset": ["d"] * 5, "method": ["b", "b", "b", "a", "a"], "seed": [0, 1, 2, 0, 1],
                         "status": ["ok", "ok", "diverged", "ok", "ok"], "acc": [0.5, 0.7, math.nan, 0.9, 0.9]})


def test_finished_summarize_and_mean_std_leave_out_diverged_runs_and_give_n():
    t = _table()
    assert len(R.finished(t)) == 4 and R.finished(t.drop(columns="status")) is not None
    s = R.summarize(t)
    assert list(s.index.get_level_values("method")) == ["b", "a"]  # first-seen order
    assert s.loc[("d", "b"), "acc"] == "0.600 ± 0.141" and s.loc[("d", "a"), "acc"] == "0.900 ± 0.000"
    assert s["n"].tolist() == [2, 2]
    ms = R.mean_std(t, "acc")
    assert list(ms.columns) == ["mean", "std", "n"]
    assert ms.loc[("d", "b"), "mean"] == pytest.approx(0.6) and ms.loc[("d", "b"), "n"] == 2


def test_method_means_and_summary_table_report_n():
    t = _table().assign(family="baseline")
    means = R.method_means(t, ("acc",))
    assert means.set_index("method")["n"].to_dict() == {"b": 2, "a": 2}
    assert R.summary_table(t, ("acc",)).loc[("d", "baseline", "b"), "n"] == 2
