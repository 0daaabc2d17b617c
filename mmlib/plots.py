"""Reusable figures of the course (matplotlib). Each returns the ``Figure`` it drew."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .results import family_order, frontier_table
from .train import History


def curves(histories: Mapping[str, History | Sequence[History]], keys: Sequence[str], title: str = "",
           ylabel: str = "accuracy") -> Figure:
    """One panel per key; one line per label (mean over histories with a ± std band if several)."""
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, runs in histories.items():
            runs = [runs] if isinstance(runs, History) else list(runs)
            values = np.array([h[key] for h in runs], dtype=float)
            mean, std = values.mean(0), values.std(0)
            epochs = np.arange(len(mean))
            ax.plot(epochs, mean, label=label)
            if len(runs) > 1:
                ax.fill_between(epochs, mean - std, mean + std, alpha=0.2)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bars(table: pd.DataFrame, columns: Sequence[str], by: str = "method", panel: str | None = "dataset",
         title: str = "") -> Figure:
    """Grouped bars of ``columns`` (mean over seeds) with ± std error bars, one panel per ``panel`` value."""
    panels = list(dict.fromkeys(table[panel])) if panel else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.5, 1.1 * table[by].nunique() + 2) * len(panels), 3.4),
                             squeeze=False)
    for ax, name in zip(axes[0], panels):
        sub = table if name is None else table[table[panel] == name]
        present = [c for c in columns if c in sub and sub[c].notna().any()]
        stats = sub.groupby(by, sort=False)[present].agg(["mean", "std"])
        x = np.arange(len(stats))
        width = 0.8 / max(len(present), 1)
        for i, column in enumerate(present):
            ax.bar(x + (i - (len(present) - 1) / 2) * width, stats[(column, "mean")],
                   width, yerr=stats[(column, "std")].fillna(0), capsize=2, label=column)
        ax.set_xticks(x, stats.index, rotation=30, ha="right")
        ax.set_title(name or "")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def heatmap(matrix: np.ndarray, row_labels: Iterable[str], col_labels: Iterable[str], title: str = "",
            fmt: str = "{:.2f}", cmap: str = "viridis") -> Figure:
    """An annotated heat map (e.g. per-class accuracy of each modality)."""
    rows, cols = list(row_labels), list(col_labels)
    fig, ax = plt.subplots(figsize=(0.6 * len(cols) + 2.5, 0.45 * len(rows) + 1.5))
    image = ax.imshow(matrix, cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_relative_balance(table: pd.DataFrame, accuracy: str = "test_acc", imbalance: str = "imbalance",
                          label_all: bool = False) -> Figure:
    """Accuracy vs imbalance per data set (mean ± std over seeds), coloured by family, with the frontier.

    ``table`` is a benchmark table (:func:`mmlib.benchmark.benchmark`); the points are
    :func:`mmlib.results.frontier_table`'s means, the dashed line its Pareto frontier.
    """
    front = frontier_table(table, accuracy, imbalance)
    dsets = list(dict.fromkeys(front["dataset"]))
    fig, axes = plt.subplots(1, len(dsets), figsize=(6.2 * len(dsets), 4.6), squeeze=False)
    colours = dict(zip(family_order(), plt.get_cmap("tab10").colors))
    for ax, dataset in zip(axes[0], dsets):
        sub = front[front["dataset"] == dataset]
        for family in [f for f in family_order() if f in set(sub["family"])]:
            fam = sub[sub["family"] == family]
            ax.errorbar(fam[f"{imbalance}_mean"], fam[f"{accuracy}_mean"], xerr=fam[f"{imbalance}_std"],
                        yerr=fam[f"{accuracy}_std"], fmt={"baseline": "s", "control": "D"}.get(family, "o"),
                        ms=6 if family not in ("baseline", "control") else 9,
                        mec="k" if family in ("baseline", "control") else None,
                        color=colours.get(family), label=family, capsize=2, alpha=0.85)
        edge = sub[sub["on_frontier"]].sort_values(f"{imbalance}_mean")
        x, y = list(edge[f"{imbalance}_mean"]), list(edge[f"{accuracy}_mean"])
        if x:  # none when every run of this data set diverged
            right = float(np.nanmax(sub[f"{imbalance}_mean"] + sub[f"{imbalance}_std"]))
            ax.step(x + [max(right, x[-1])], y + [y[-1]], where="post", color="k", lw=1.5, ls="--",
                    label="Pareto frontier", zorder=3)  # everything below-right of it is dominated
        for _, r in sub.iterrows():
            if label_all or r["on_frontier"] or r["family"] in ("baseline", "control"):
                ax.annotate(r["method"], (r[f"{imbalance}_mean"], r[f"{accuracy}_mean"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"{imbalance} of Shapley contributions (lower = more balanced)")
        ax.set_ylabel(f"{accuracy} (higher = better)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
