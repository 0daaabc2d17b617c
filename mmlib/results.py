"""Result tables and the one rule of evidence behind every "clearly" in the course.

The tables: mean ± std over seeds with ``n`` (:func:`summarize`, :func:`mean_std`,
:func:`summary_table`, :func:`method_means`), family averages, and the accuracy-vs-balance
Pareto frontier (:func:`pareto_frontier`, :func:`frontier_table`). Runs whose training
diverged (``status == "diverged"``) are left out of every one of them (:func:`finished`);
:func:`diverged_runs` lists them.

The rule of evidence. The course calls method A "clearly better" (or "clearly worse")
than method B on a score only when this test says so, and in no other way:

* **Paired over seeds.** Runs with the same seed share the data split and the initial
  weights, so A and B are compared seed by seed: ``d_s = a_s - b_s`` for the ``n`` seeds
  both have. ``n < 3`` is an error, not a weak result.
* **A two-sided paired t-test at alpha = 0.05.** With ``dbar`` the mean and ``s`` the
  standard deviation (ddof = 1) of the ``d_s``::

      t = dbar / (s / sqrt(n)),   p = 2 * P(T_{n-1} >= |t|)

* **Holm-corrected** across the comparisons one table (one call of :func:`versus_baseline`,
  or one :func:`adjust`) makes against its baseline: with the ``m`` p-values sorted,
  ``p_(1) <= ... <= p_(m)``, the adjusted ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
* **Reported** as the mean difference with its 95 % confidence interval (t-based,
  ``dbar ± t_{1-alpha/2, n-1} * s / sqrt(n)``) and ``n``, e.g.
  ``+0.052 [+0.031, +0.073] n=3 p=0.012 (Holm 0.024): better``.
* **Verdict.** A difference whose Holm-adjusted p is below alpha is "better" or "worse"
  (by its sign and by whether higher is better for that score: lower imbalance is
  better). Any other difference is **"not established"** — never "no effect" and never
  "the same": with few seeds a real difference can fail to pass.

The test itself, :func:`paired_difference` and :func:`holm`, is pure (sequences in, numbers
out) and tested against :func:`scipy.stats.ttest_rel` on hand-made inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .methods import FAMILIES
from .validation import Number

__all__ = ["ALPHA", "MIN_SEEDS", "Evidence", "adjust", "diverged_runs", "family_averages", "family_order",
           "finished", "frontier_table", "holm", "mean_std", "method_means", "ordered_methods",
           "paired_difference", "pareto_frontier", "summarize", "summary_table", "versus_baseline"]

#: The rule's significance level (two-sided, after Holm's correction).
ALPHA = 0.05
#: The fewest seeds the rule accepts.
MIN_SEEDS = 3

VERDICTS = ("better", "worse", "not established")


# --------------------------------------------------------------------------- the rule of evidence
@dataclass(frozen=True)
class Evidence:
    """One paired comparison "a versus b" over seeds, as the rule reports it.

    ``mean`` is the mean of ``d_s = a_s - b_s``; ``[low, high]`` its ``1 - alpha``
    confidence interval; ``p`` the two-sided paired t-test's p-value and ``p_adjusted``
    the Holm-adjusted one within its family of claims (equal to ``p`` for a single
    comparison). ``verdict`` is "better" / "worse" (for ``a``) when ``p_adjusted < alpha``,
    else "not established".
    """

    mean: float
    low: float
    high: float
    n: int
    p: float
    p_adjusted: float
    verdict: str
    higher_is_better: bool = True
    alpha: float = ALPHA

    @property
    def established(self) -> bool:
        """Whether the rule establishes a difference (either way)."""
        return self.verdict != "not established"

    def __str__(self) -> str:
        holm_part = "" if self.p_adjusted == self.p else f" (Holm {_p_text(self.p_adjusted)})"
        return (f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] n={self.n} "
                f"p{'' if self.p < 0.001 else '='}{_p_text(self.p)}{holm_part}: {self.verdict}")


def _p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _verdict(mean: float, p_adjusted: float, higher_is_better: bool, alpha: float) -> str:
    if not p_adjusted < alpha or mean == 0:
        return "not established"
    return "better" if (mean > 0) == higher_is_better else "worse"


def _check_alpha(alpha: float, owner: str) -> None:
    Number(gt=0, lt=1)(alpha, "alpha", owner)


def paired_difference(a: Sequence[float], b: Sequence[float] | float = 0.0, *, higher_is_better: bool = True,
                      alpha: float = ALPHA) -> Evidence:
    """The rule applied to one comparison: paired t-test of ``a - b`` over seeds.

    ``a`` and ``b`` hold one value per seed, in the same seed order (``b`` may be a
    number, e.g. ``0`` for "is this gap above zero"). With ``d = a - b`` over ``n`` seeds,
    ``dbar = mean(d)``, ``s = std(d, ddof=1)`` and ``se = s / sqrt(n)``::

        t = dbar / se,   p = 2 * (1 - F_{t, n-1}(|t|)),   CI = dbar ± t_{1-alpha/2, n-1} * se

    Zero spread (``s = 0``): all differences equal and nonzero gives ``p = 0`` (established
    in the direction of the sign); all differences zero gives ``p = 1``. ``p_adjusted``
    is ``p`` (one comparison); Holm-correct a family of them with :func:`adjust`.

    Raises ``ValueError`` for sequences of different lengths, fewer than 3 seeds, or a
    non-finite value.
    """
    _check_alpha(alpha, "paired_difference")
    a_arr = np.asarray(a, dtype=float)
    if a_arr.ndim != 1:
        raise ValueError(f"paired_difference: a must be a 1-D sequence of per-seed values, got shape {a_arr.shape}")
    b_arr = np.asarray(b, dtype=float)
    if b_arr.ndim == 0:
        b_arr = np.full_like(a_arr, float(b_arr))
    elif b_arr.shape != a_arr.shape:
        raise ValueError(f"paired_difference: a and b must hold one value per seed each, got {len(a_arr)} "
                         f"and {b_arr.size} values")
    n = len(a_arr)
    if n < MIN_SEEDS:
        raise ValueError(f"paired_difference: the rule of evidence needs >= {MIN_SEEDS} seeds, got n = {n}")
    if not (np.isfinite(a_arr).all() and np.isfinite(b_arr).all()):
        raise ValueError(f"paired_difference: every value must be finite, got a = {a_arr.tolist()}, "
                         f"b = {b_arr.tolist()}")
    d = a_arr - b_arr
    mean = float(d.mean())
    s = float(d.std(ddof=1))
    if s == 0.0 or not math.isfinite(s):
        p = 1.0 if mean == 0.0 else 0.0
        low = high = mean
    else:
        se = s / math.sqrt(n)
        t = mean / se
        p = float(2.0 * stats.t.sf(abs(t), n - 1))
        half = float(stats.t.ppf(1.0 - alpha / 2.0, n - 1)) * se
        low, high = mean - half, mean + half
    return Evidence(mean=mean, low=low, high=high, n=n, p=p, p_adjusted=p,
                    verdict=_verdict(mean, p, higher_is_better, alpha), higher_is_better=bool(higher_is_better),
                    alpha=alpha)


def holm(pvalues: Iterable[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input's order.

    With the ``m`` p-values sorted ascending, ``p_(1) <= ... <= p_(m)``::

        p~_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))

    so the adjusted values are monotone in the raw ones and capped at 1. Empty in, empty out.
    """
    p = np.asarray(list(pvalues), dtype=float)
    if p.ndim != 1:
        raise ValueError(f"holm: pvalues must be a 1-D sequence, got shape {p.shape}")
    if p.size and (not np.isfinite(p).all() or (p < 0).any() or (p > 1).any()):
        raise ValueError(f"holm: every p-value must be in [0, 1], got {p.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled) if m else scaled
    return adjusted


def adjust(evidence: Mapping[str, Evidence]) -> dict[str, Evidence]:
    """Holm-correct a family of claims (results of :func:`paired_difference`) together.

    Returns the same keys with ``p_adjusted`` and ``verdict`` recomputed; everything else is kept.
    """
    keys = list(evidence)
    adjusted = holm([evidence[k].p for k in keys])
    return {k: replace(e, p_adjusted=float(q), verdict=_verdict(e.mean, float(q), e.higher_is_better, e.alpha))
            for k, e, q in zip(keys, (evidence[k] for k in keys), adjusted)}


def versus_baseline(table: pd.DataFrame, column: str, baseline: str = "baseline", *,
                    by: Sequence[str] = ("dataset",), methods: Sequence[str] | None = None,
                    higher_is_better: bool = True, alpha: float = ALPHA) -> pd.DataFrame:
    """Each method against ``baseline`` on ``column``, by the rule (one row per (by..., method)).

    Runs are paired by ``(by..., seed)``. Diverged runs are dropped first (:func:`finished`),
    and so are runs without a value in ``column``: those that were not applicable
    (``status == "n/a"``; read back from a CSV file their status is missing). A method with
    no value at all in a group gets no row there. A method whose seeds differ from the
    baseline's is paired on the common seeds; fewer than 3 of them (all its runs diverged,
    say) is a ``ValueError`` naming the group and the method. Holm's correction runs across
    ALL the comparisons of this call.

    Columns: ``by...``, ``method``, ``n``, ``mean_diff`` (method minus baseline), ``ci_low``,
    ``ci_high``, ``p``, ``p_holm``, ``verdict`` ("better" / "worse" / "not established"; with
    ``higher_is_better=False``, e.g. imbalance, a significantly lower value is "better").
    """
    by = list(by)
    missing = [c for c in (*by, "method", "seed", column) if c not in table]
    if missing:
        raise ValueError(f"versus_baseline: the table has no column {missing}")
    if "status" in table:
        present = table[table["status"] != "n/a"]
    else:
        present = table
    if baseline not in set(present["method"]):
        raise ValueError(f"versus_baseline: no run of the baseline {baseline!r} in the table")
    labels = list(dict.fromkeys(present["method"])) if methods is None else list(methods)
    unknown = [m for m in labels if m not in set(table["method"])]
    if unknown:
        raise ValueError(f"versus_baseline: no run of {unknown} in the table")
    labels = [m for m in labels if m != baseline]
    claims: dict[tuple, Evidence] = {}
    for group, runs in present.groupby(by, sort=False) if by else [((), present)]:
        group = group if isinstance(group, tuple) else (group,)
        where = ", ".join(f"{c} {v!r}" for c, v in zip(by, group)) or "the table"
        scored = runs[runs[column].notna()]
        in_group = finished(scored)
        diverged = set(runs.loc[runs["status"] == "diverged", "method"]) if "status" in runs else set()
        tried = set(scored["method"]) | diverged
        base = _per_seed(in_group, baseline, column, where)
        if base is None:
            raise ValueError(f"versus_baseline: {where} has no finished run of the baseline {baseline!r} "
                             f"with a value of {column!r}")
        for method in labels:
            if method not in tried:
                continue
            other = _per_seed(in_group, method, column, where)
            common = [] if other is None else [s for s in base.index if s in other.index]
            if len(common) < MIN_SEEDS:
                raise ValueError(f"versus_baseline: {where}, method {method!r}: only {len(common)} seed(s) shared "
                                 f"with {baseline!r} after dropping diverged runs and runs without a value; "
                                 f"the rule of evidence needs >= {MIN_SEEDS}")
            claims[(*group, method)] = paired_difference(other[common].to_numpy(), base[common].to_numpy(),
                                                         higher_is_better=higher_is_better, alpha=alpha)
    claims = adjust(claims)  # type: ignore[arg-type]
    rows = [{**dict(zip(by, key[:-1])), "method": key[-1], "n": e.n, "mean_diff": e.mean, "ci_low": e.low,
             "ci_high": e.high, "p": e.p, "p_holm": e.p_adjusted, "verdict": e.verdict}
            for key, e in claims.items()]
    return pd.DataFrame(rows, columns=[*by, "method", "n", "mean_diff", "ci_low", "ci_high", "p", "p_holm",
                                       "verdict"])


def _per_seed(runs: pd.DataFrame, method: str, column: str, where: str) -> pd.Series | None:
    rows = runs[runs["method"] == method]
    if rows.empty:
        return None
    if rows["seed"].duplicated().any():
        seeds = sorted(rows.loc[rows["seed"].duplicated(), "seed"].unique().tolist())
        raise ValueError(f"versus_baseline: {where}, method {method!r} has several runs for seed(s) {seeds}; "
                         "pairing needs one run per seed")
    return rows.set_index("seed")[column].astype(float)


# --------------------------------------------------------------------------- tables
def finished(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without the runs that diverged (a table without a ``status`` column is returned as is)."""
    return table[table["status"] != "diverged"] if "status" in table else table


def summarize(table: pd.DataFrame, columns: Iterable[str] | None = None, digits: int = 3,
              by: tuple[str, ...] = ("dataset", "method")) -> pd.DataFrame:
    """Mean ± std over seeds of the numeric columns (or ``columns``), as strings, in first-seen order.

    ``std`` is the sample standard deviation (ddof = 1; 0 for a single run). Runs that
    diverged (``status == "diverged"``) are left out; ``n`` is the number of runs per group.
    """
    table = finished(table)
    numeric = [c for c in (columns or table.columns)
               if c not in (*by, "seed") and pd.api.types.is_numeric_dtype(table[c])]
    grouped = table.groupby(list(by), sort=False)
    mean, std = grouped[numeric].mean(), grouped[numeric].std(ddof=1).fillna(0.0)

    def cell(m: float, s: float) -> str:
        return "—" if pd.isna(m) else f"{m:.{digits}f} ± {s:.{digits}f}"

    out = pd.DataFrame({c: [cell(m, s) for m, s in zip(mean[c], std[c])] for c in numeric}, index=mean.index)
    out["n"] = grouped.size().reindex(out.index).to_numpy()
    return out


def mean_std(table: pd.DataFrame, column: str, by: tuple[str, ...] = ("dataset", "method")) -> pd.DataFrame:
    """Numeric ``mean``, ``std`` (ddof = 1; 0 for one run) and ``n`` (runs with a value) of one column per group.

    For plots and checks; diverged runs left out.
    """
    out = finished(table).groupby(list(by), sort=False)[column].agg(["mean", "std", "count"])
    out = out.rename(columns={"count": "n"})
    out["std"] = out["std"].fillna(0.0)
    return out


def diverged_runs(table: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``table`` whose training diverged (dataset, method, seed, note); empty when none did."""
    columns = ["dataset", "method", "seed", "note"]
    if "status" not in table:
        return pd.DataFrame(columns=columns)
    rows = table[table["status"] == "diverged"]
    return rows[[c for c in columns if c in rows]].reset_index(drop=True)


def pareto_frontier(accuracy: Sequence[float], imbalance: Sequence[float]) -> np.ndarray:
    """Which points are not dominated (higher accuracy and lower imbalance are both better).

    Point ``i`` is dominated when some ``j`` has ``acc_j >= acc_i`` and ``imb_j <= imb_i``
    with at least one inequality strict::

        i is dominated  <=>  exists j: acc_j >= acc_i and imb_j <= imb_i and (acc_j > acc_i or imb_j < imb_i)

    Identical points do not dominate each other (both are on the frontier). Points with a
    non-finite coordinate (NaN or inf: a run that diverged) are never on it and dominate
    nothing. Returns a boolean array, one entry per point. (A descriptive summary of
    means: whether one method is *clearly* better than another is :func:`versus_baseline`'s call.)
    """
    acc = np.asarray(accuracy, dtype=float)
    imb = np.asarray(imbalance, dtype=float)
    if acc.shape != imb.shape or acc.ndim != 1:
        raise ValueError(f"accuracy and imbalance must be 1-D of the same length, got {acc.shape} and {imb.shape}")
    valid = np.isfinite(acc) & np.isfinite(imb)
    better_or_equal = (acc[None, :] >= acc[:, None]) & (imb[None, :] <= imb[:, None])  # [i, j]: j vs i
    strictly = (acc[None, :] > acc[:, None]) | (imb[None, :] < imb[:, None])
    dominated = (better_or_equal & strictly & valid[None, :]).any(axis=1)
    return valid & ~dominated


def family_order() -> list[str]:
    """Baseline first, then the controls, then the survey's four stages, then decision level."""
    return list(FAMILIES)


def ordered_methods(table: pd.DataFrame) -> list[str]:
    """Method labels of ``table``: baseline first, then by family (survey order), then by name."""
    families = table.drop_duplicates("method").set_index("method")["family"]
    rank = {f: i for i, f in enumerate(family_order())}
    return sorted(families.index, key=lambda m: (m != "baseline", rank.get(families[m], len(rank)), m))


def _ok(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == "ok"] if "status" in table else table


def summary_table(table: pd.DataFrame, columns: Sequence[str] = ("test_acc", "test_f1", "imbalance", "seconds"),
                  digits: int = 3) -> pd.DataFrame:
    """Mean ± std over seeds, one row per (dataset, family, method) in benchmark order; n/a kept as 'n/a'.

    Only runs with ``status == "ok"`` count (``n`` is how many); a method whose every
    run diverged shows 'diverged'.
    """
    rows = []
    for dataset in dict.fromkeys(table["dataset"]):
        sub = table[table["dataset"] == dataset]
        for method in ordered_methods(sub):
            runs = sub[sub["method"] == method]
            ok = _ok(runs)
            row = {"dataset": dataset, "family": runs["family"].iloc[0], "method": method, "n": len(ok)}
            for c in columns:
                values = ok[c].astype(float) if c in ok else pd.Series(dtype=float)
                if ok.empty:
                    row[c] = "diverged" if "status" in runs and (runs["status"] == "diverged").any() else "n/a"
                elif values.isna().all():
                    row[c] = "—"
                else:
                    std = values.std(ddof=1) if len(values) > 1 else 0.0
                    row[c] = f"{values.mean():.{digits}f} ± {std:.{digits}f}"
            rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "family", "method"])


def method_means(table: pd.DataFrame, columns: Sequence[str] = ("test_acc", "imbalance")) -> pd.DataFrame:
    """Numeric mean and std over seeds of ``columns`` per (dataset, method), and ``n`` (runs that count).

    Runs that were n/a or diverged are dropped.
    """
    ok = _ok(table)
    ok = ok.assign(**{c: math.nan for c in columns if c not in ok})  # no run of the table has scores
    grouped = ok.groupby(["dataset", "method"], sort=False)
    stats_ = grouped[list(columns)].agg(["mean", "std"])
    stats_.columns = [f"{c}_{s}" for c, s in stats_.columns]
    stats_ = stats_.fillna({c: 0.0 for c in stats_.columns if c.endswith("_std")})
    stats_["n"] = grouped.size()
    stats_["family"] = grouped["family"].first()
    return stats_.reset_index()


def family_averages(table: pd.DataFrame, columns: Sequence[str] = ("test_acc", "imbalance")) -> pd.DataFrame:
    """Per data set and family: the mean over the family's methods of each method's mean over seeds.

    The way BalanceBenchmark reports "Objective avg" and the like; ``delta_<column>`` is
    the family average minus the baseline's mean. Controls (family ``control``) are one
    ingredient of several methods, not a remedy: they are left out.
    """
    means = method_means(table, columns)
    means = means[means["family"] != "control"]
    out = means.groupby(["dataset", "family"], sort=False)[[f"{c}_mean" for c in columns]].mean()
    out["methods"] = means.groupby(["dataset", "family"], sort=False)["method"].count()
    for c in columns:
        baseline = means[means["method"] == "baseline"].set_index("dataset")[f"{c}_mean"]
        out[f"delta_{c}"] = out[f"{c}_mean"] - baseline.reindex(out.index.get_level_values("dataset")).to_numpy()
    rank = {f: i for i, f in enumerate(family_order())}
    out = out.reset_index()
    out["_rank"] = out["family"].map(lambda f: rank.get(f, len(rank)))
    order = {d: i for i, d in enumerate(dict.fromkeys(table["dataset"]))}
    out["_d"] = out["dataset"].map(order)
    return out.sort_values(["_d", "_rank"]).drop(columns=["_rank", "_d"]).set_index(["dataset", "family"])


def frontier_table(table: pd.DataFrame, accuracy: str = "test_acc", imbalance: str = "imbalance") -> pd.DataFrame:
    """Each (dataset, method)'s mean accuracy and imbalance, ``n``, and whether it is on that data set's frontier."""
    means = method_means(table, (accuracy, imbalance))
    means["on_frontier"] = False
    for dataset, idx in means.groupby("dataset", sort=False).groups.items():
        sub = means.loc[idx]
        means.loc[idx, "on_frontier"] = pareto_frontier(sub[f"{accuracy}_mean"], sub[f"{imbalance}_mean"])
    return means
