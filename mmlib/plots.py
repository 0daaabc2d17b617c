"""The course's figures and its one figure style (matplotlib). Each figure function returns its ``Figure``.

The style, used by every chapter:

* **words, not column names** — :func:`label` turns a column or history key of the
  course (``test_acc``, ``val_acc_visual``, ``grad_audio``, ``probe_zer``, ...) into
  what it measures and its unit: "validation accuracy of the visual slice (fraction
  correct)". :func:`describe` gives the parts (:class:`Quantity`); an unknown name is a
  ``KeyError`` that lists the known names and patterns.
* **a chance line wherever accuracy is plotted** — :func:`chance_line` draws
  ``1 / n_classes`` labelled "chance"; the figure functions below draw it on every
  accuracy axis when given ``n_classes`` (and warn when they are not).
* **one colour per modality and per method family** — :data:`PALETTE` (and
  :func:`colour`): audio, visual, text, image, mfeat's six views, the fused
  prediction, and every family of :data:`mmlib.methods.FAMILIES`; the same in every
  chapter.
* **legends that do not cover data** — :func:`legend` puts an axes' legend outside,
  to its right; :func:`figure_legend` puts one legend for all panels right of the
  figure.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from .results import family_order, frontier_table
from .train import History

__all__ = ["CHANCE_COLOUR", "FAMILY_COLOURS", "MODALITY_COLOURS", "OTHER_COLOURS", "PALETTE", "Quantity", "bars",
           "chance_line", "colour", "column_colours", "curves", "describe", "figure_legend", "heatmap", "label", "legend",
           "plot_relative_balance"]

# --------------------------------------------------------------------------- colours
#: One colour per modality (Okabe-Ito for the course's four; Paul Tol's muted set for mfeat's views).
MODALITY_COLOURS: dict[str, str] = {
    "audio": "#0072B2",   # blue
    "visual": "#E69F00",  # orange
    "text": "#009E73",    # green
    "image": "#CC79A7",   # reddish purple
    "fac": "#332288",     # mfeat: profile correlations
    "fou": "#88CCEE",     # Fourier coefficients
    "kar": "#44AA99",     # Karhunen-Loeve coefficients
    "mor": "#117733",     # morphological features
    "pix": "#999933",     # pixel averages
    "zer": "#AA4499",     # Zernike moments
    "fused": "#000000",   # the fused prediction (all modalities)
}
#: One colour per method family, in the order of :data:`mmlib.methods.FAMILIES`.
FAMILY_COLOURS: dict[str, str] = {
    "baseline": "#666666",
    "control": "#A6761D",
    "data input": "#1B9E77",
    "feed-forward": "#D95F02",
    "learning objective": "#7570B3",
    "optimization": "#E7298A",
    "decision level": "#66A61E",
}
#: The chance line's colour.
CHANCE_COLOUR = "#7F7F7F"
#: Every named colour of the course: modalities, families and "chance".
PALETTE: dict[str, str] = {**MODALITY_COLOURS, **FAMILY_COLOURS, "chance": CHANCE_COLOUR}

_NUMBERED = re.compile(r"^(audio|visual|text|image)(\d+)$")  # synthetic's extra modalities: audio2, visual2, ...


def colour(name: str) -> str:
    """The course's colour of a modality, a method family, "fused" or "chance" (hex string).

    A numbered extra modality of the synthetic data (``audio2``, ``visual3``) gets a
    lighter shade of its kind's colour, so it is told apart from ``audio`` yet reads as
    the same kind. Anything else is a ``KeyError`` listing the named colours.
    """
    if name in PALETTE:
        return PALETTE[name]
    numbered = _NUMBERED.match(name) if isinstance(name, str) else None
    if numbered:
        kind, k = numbered.group(1), int(numbered.group(2))
        mix = min(0.25 * (k - 1), 0.75)
        return to_hex(tuple(c + (1 - c) * mix for c in to_rgb(PALETTE[kind])))
    raise KeyError(f"no course colour for {name!r}; named colours: {sorted(PALETTE)} "
                   "(and audio2, visual2, ... for synthetic's extra modalities)")


# --------------------------------------------------------------------------- words for column names
@dataclass(frozen=True)
class Quantity:
    """What a column measures: ``words`` and ``unit``; ``accuracy`` when a chance line applies."""

    words: str
    unit: str = ""
    accuracy: bool = False
    modality: str | None = None

    @property
    def text(self) -> str:
        """The axis label: "words (unit)"."""
        return f"{self.words} ({self.unit})" if self.unit else self.words


_ACC = "fraction correct"
_SPLIT = {"train": "training", "val": "validation", "test": "test"}
_FIXED: dict[str, Quantity] = {
    "epoch": Quantity("epoch"),
    "seconds": Quantity("training time", "s"),
    "loss": Quantity("training loss", "cross-entropy, nats"),
    "imbalance": Quantity("Shapley imbalance", "0 = balanced, 1 = one modality has all"),
    "test_f1": Quantity("test macro-F1", "0 to 1"),
    "shared_term": Quantity("shared factor 1 − p(true class)", "mean over samples"),
    "acc_corrupted": Quantity("fused accuracy on samples with corrupted audio", _ACC, True),
    "mask_ratio": Quantity("masked share of classes", "fraction"),
    "resampled": Quantity("extra copies per training sample", "per epoch"),
}
_SPLIT_RE = "(?P<split>train|val|test)"
# (pattern, words with {split}/{m}, unit, accuracy?); {m} must be a modality name
_PATTERNS: list[tuple[str, str, str, bool]] = [
    (rf"^{_SPLIT_RE}_acc$", "fused {split} accuracy", _ACC, True),
    (rf"^{_SPLIT_RE}_fused_acc$", "fused {split} accuracy", _ACC, True),
    (rf"^{_SPLIT_RE}_acc_weak$", "{split} accuracy of the weak modality's slice", _ACC, True),
    (rf"^{_SPLIT_RE}_acc_best_epoch$", "{split} accuracy at its best epoch (chosen on test)", _ACC, True),
    (rf"^{_SPLIT_RE}_acc_(?P<m>\w+)$", "{split} accuracy of the {m} slice", _ACC, True),
    (rf"^{_SPLIT_RE}_loss$", "fused {split} loss", "cross-entropy, nats", False),
    (rf"^{_SPLIT_RE}_loss_(?P<m>\w+)$", "{split} loss of the {m} slice", "cross-entropy, nats", False),
    (r"^acc_(?P<m>\w+)$", "accuracy of the {m} slice", _ACC, True),
    (r"^probe_(?P<m>\w+)$", "linear-probe accuracy of the {m} encoder", _ACC, True),
    (r"^proto_acc_(?P<m>\w+)$", "prototype accuracy of {m}", _ACC, True),
    (r"^shapley_(?P<m>\w+)$", "Shapley contribution of {m} to test accuracy", "fraction of samples", False),
    (r"^grad_(?P<m>\w+)$", "gradient norm reaching the {m} encoder", "L2 norm", False),
    (r"^loss_(?P<m>\w+)$", "loss of the {m} slice", "cross-entropy, nats", False),
    (r"^coef_(?P<m>\w+)$", "modulation coefficient of {m}", "1 = unmodulated", False),
    (r"^q_(?P<m>\w+)$", "drop probability of {m}", "probability", False),
    (r"^dropped_(?P<m>\w+)$", "share of samples with {m} dropped", "fraction, executed steps", False),
    (r"^resampled_(?P<m>\w+)$", "{m}-only copies per training sample", "per epoch", False),
    (r"^utilization_(?P<m>\w+)$", "conditional utilisation rate of {m}", "share of fused accuracy", False),
    (r"^rebalancing_(?P<m>\w+)$", "steps re-balancing the {m} branch", "fraction of steps", False),
    (r"^bdr_(?P<m>\w+)$", "conditional learning speed (BDR) of {m}", "log10 ratio", False),
    (r"^dependent_(?P<m>\w+)$", "steps on which {m} is dependent", "fraction of steps", False),
    (r"^(?:w|weight)_(?P<m>\w+)$", "weight of {m}", "", False),
    (r"^beta_(?P<m>\w+)$", "regulation strength β of {m}", "", False),
    (r"^fisher_trace_(?P<m>\w+)$", "Fisher information trace of {m}", "", False),
    (r"^stage_(?P<m>\w+)$", "steps in {m}'s boosting stage", "fraction of steps", False),
    (r"^cos_(?P<m>\w+)$", "cosine between the fused and {m}'s gradients", "−1 to 1", False),
    (r"^conflict_(?P<m>\w+)$", "steps with conflicting gradients for {m}", "fraction of steps", False),
    (r"^harm_(?P<m>\w+)$", "steps whose update raises {m}'s loss", "fraction of steps", False),
]


def _is_modality(name: str) -> bool:
    return name in MODALITY_COLOURS and name != "fused" or bool(_NUMBERED.match(name))


def describe(name: str, modality_names: Iterable[str] = ()) -> Quantity:
    """What the course's column or history key ``name`` measures (:class:`Quantity`).

    ``{m}`` in a pattern must be a modality: one of :data:`MODALITY_COLOURS` (or
    synthetic's ``audio2``, ...), or one of ``modality_names`` for a data set of your own.
    """
    if not isinstance(name, str):
        raise TypeError(f"a column name must be a str, got {type(name).__name__}")
    if name in _FIXED:
        return _FIXED[name]
    extra = set(modality_names)
    for pattern, words, unit, is_accuracy in _PATTERNS:
        match = re.match(pattern, name)
        if not match:
            continue
        parts = match.groupdict()
        m = parts.get("m")
        if m is not None and not (_is_modality(m) or m in extra):
            continue
        split = _SPLIT.get(parts.get("split") or "", "")
        text = words.format(split=split, m=m)
        return Quantity(text, unit, is_accuracy, m)
    raise KeyError(f"no words for the column {name!r}; known names: {sorted(_FIXED)}; known patterns (m a "
                   f"modality, split train/val/test): {[p for p, *_ in _PATTERNS]}")


def label(name: str, modality_names: Iterable[str] = ()) -> str:
    """The axis label of a column: its words and unit, e.g. ``val_acc_visual`` ->
    "validation accuracy of the visual slice (fraction correct)"."""
    return describe(name, modality_names).text


_FUSED = re.compile(r"^(?:train|val|test)_(?:fused_)?acc$")
#: Colours, in turn, of what is neither a modality nor a family: a column of no modality (the weak slice,
#: imbalance, time), a method variant in a line plot. None is close to a modality's colour.
OTHER_COLOURS = ("#56B4E9", "#882255", "#DDCC77", "#661100", "#6699CC")


def column_colours(columns: Sequence[str], modality_names: Iterable[str] = ()) -> dict[str, str]:
    """Each column's colour: its modality's (:data:`MODALITY_COLOURS`), black for a fused accuracy,
    and :data:`OTHER_COLOURS` in turn for the rest."""
    others = iter(OTHER_COLOURS * (len(columns) // len(OTHER_COLOURS) + 1))
    result = {}
    for column in columns:
        m = describe(column, modality_names).modality
        if m is not None and (m in MODALITY_COLOURS or _NUMBERED.match(m)):
            result[column] = colour(m)
        elif _FUSED.match(column):
            result[column] = PALETTE["fused"]
        else:
            result[column] = next(others)
    return result


# --------------------------------------------------------------------------- chance line and legends
def chance_line(ax: Axes, n_classes: int, **style: object) -> Line2D:
    """Draw the chance level ``1 / n_classes`` on an accuracy axis, labelled "chance" (dashed grey).

    The label shows in the axes' legend; ``style`` overrides the line's keywords.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2 (the number of classes), got {n_classes!r}")
    kw = {"color": CHANCE_COLOUR, "ls": "--", "lw": 1, "label": "chance", "zorder": 1.5} | dict(style)
    return ax.axhline(1.0 / int(n_classes), **kw)


def legend(ax: Axes, outside: bool = True, **kw: object) -> Legend | None:
    """The axes' legend, outside to its right (``outside=True``) or where it covers least data.

    Returns ``None`` when nothing is labelled. With ``outside=True`` use ``fig.tight_layout()``
    or ``layout="constrained"`` afterwards, which make room for it.
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    place = ({"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0} if outside
             else {"loc": "best"})
    return ax.legend(handles, labels, **({"fontsize": 8, "frameon": False} | place | dict(kw)))


def figure_legend(fig: Figure, axes: Iterable[Axes] | None = None, **kw: object) -> Legend | None:
    """One legend for all panels of ``fig`` (each label once), right of the figure, outside the axes.

    Call it after ``fig.tight_layout()``; it widens the figure's right margin to fit.
    """
    seen: dict[str, object] = {}
    for ax in (axes if axes is not None else fig.axes):
        for handle, text in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(text, handle)
    if not seen:
        return None
    made = fig.legend(list(seen.values()), list(seen), **({"loc": "center left", "bbox_to_anchor": (1.0, 0.5),
                                                           "fontsize": 8, "frameon": False} | dict(kw)))
    return made


def _classes_for(n_classes: int | Mapping[str, int] | None, panel: str | None) -> int | None:
    if n_classes is None or isinstance(n_classes, (int, np.integer)):
        return n_classes
    if panel not in n_classes:
        raise KeyError(f"n_classes has no entry for {panel!r}; it has {sorted(n_classes)}")
    return n_classes[panel]


def _no_chance_warning(where: str) -> None:
    warnings.warn(f"{where} plots accuracy without a chance line: pass n_classes (the number of classes)",
                  UserWarning, stacklevel=3)


# --------------------------------------------------------------------------- figures
def curves(histories: Mapping[str, History | Sequence[History]], keys: Sequence[str], title: str = "",
           ylabel: str | None = None, n_classes: int | None = None,
           colours: Mapping[str, str] | None = None, modality_names: Iterable[str] = ()) -> Figure:
    """One panel per history key; one line per label (mean over histories with a ± std band if several).

    Each panel is titled with the key's words and its y axis with the unit (:func:`describe`;
    ``ylabel`` overrides the unit). Accuracy panels get the chance line when ``n_classes``
    is given. Lines take ``colours[label]``, else the course colour of the label when it
    names a modality or family, else the key's modality colour when there is one label,
    else :data:`OTHER_COLOURS` in turn.
    """
    modality_names = list(modality_names)
    quantities = [describe(key, modality_names) for key in keys]
    if n_classes is None and any(q.accuracy for q in quantities):
        _no_chance_warning("curves")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    cycle = OTHER_COLOURS
    for ax, key, quantity in zip(axes[0], keys, quantities):
        for i, (name, runs) in enumerate(histories.items()):
            runs = [runs] if isinstance(runs, History) else list(runs)
            values = np.array([h[key] for h in runs], dtype=float)
            mean, std = values.mean(0), values.std(0)
            epochs = np.arange(len(mean))
            if colours and name in colours:
                line_colour = colours[name]
            elif name in PALETTE:
                line_colour = PALETTE[name]
            elif len(histories) == 1 and quantity.modality is not None:
                line_colour = column_colours([key], modality_names)[key]
            else:
                line_colour = cycle[i % len(cycle)]
            ax.plot(epochs, mean, label=name, color=line_colour)
            if len(runs) > 1:
                ax.fill_between(epochs, mean - std, mean + std, alpha=0.2, color=line_colour)
        if quantity.accuracy and n_classes is not None:
            chance_line(ax, n_classes)
        ax.set_title(quantity.words, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(quantity.unit if ylabel is None else ylabel)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    figure_legend(fig)
    return fig


def bars(table: pd.DataFrame, columns: Sequence[str], by: str = "method", panel: str | None = "dataset",
         title: str = "", n_classes: int | Mapping[str, int] | None = None, ylabel: str | None = None,
         modality_names: Iterable[str] = ()) -> Figure:
    """Grouped bars of ``columns`` (mean over seeds) with ± std error bars, one panel per ``panel`` value.

    Each column is one colour in every panel (:func:`column_colours`; a second column of the same
    modality is hatched) and is named in words
    in one legend right of the panels; the y axis names the columns' unit(s). Panels with an
    accuracy column get the chance line when ``n_classes`` is given (an int, or one per
    panel value, e.g. ``{"synthetic": 6, "mfeat": 10}``).
    """
    modality_names = list(modality_names)
    known = [c for c in columns if c in table]
    quantities = {c: describe(c, modality_names) for c in known}
    if n_classes is None and any(q.accuracy for q in quantities.values()):
        _no_chance_warning("bars")
    colours = column_colours(known, modality_names)
    # a second column of one modality (its Shapley share beside its accuracy) is hatched
    hatches = {c: "//" if list(colours.values()).index(colours[c]) < known.index(c) else None for c in known}
    units = list(dict.fromkeys(q.unit for q in quantities.values()))
    panels = list(dict.fromkeys(table[panel])) if panel else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.5, 1.1 * table[by].nunique() + 2) * len(panels), 3.4),
                             squeeze=False)
    for ax, name in zip(axes[0], panels):
        sub = table if name is None else table[table[panel] == name]
        present = [c for c in known if sub[c].notna().any()]
        stats = sub.groupby(by, sort=False)[present].agg(["mean", "std"])
        x = np.arange(len(stats))
        width = 0.8 / max(len(present), 1)
        for i, column in enumerate(present):
            ax.bar(x + (i - (len(present) - 1) / 2) * width, stats[(column, "mean")], width,
                   yerr=stats[(column, "std")].fillna(0), capsize=2, label=quantities[column].words,
                   color=colours[column], hatch=hatches[column], edgecolor="white" if hatches[column] else None)
        classes = _classes_for(n_classes, name)
        if classes is not None and any(quantities[c].accuracy for c in present):
            chance_line(ax, classes)
        ax.set_xticks(x, stats.index, rotation=30, ha="right")
        ax.set_title(name or "")
        ax.set_ylabel(ylabel if ylabel is not None else " / ".join(units))
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    figure_legend(fig)
    return fig


def heatmap(matrix: np.ndarray, row_labels: Iterable[str], col_labels: Iterable[str], title: str = "",
            fmt: str = "{:.2f}", cmap: str = "viridis", value_label: str = "") -> Figure:
    """An annotated heat map (e.g. per-class accuracy of each modality); ``value_label`` names the colour bar."""
    rows, cols = list(row_labels), list(col_labels)
    fig, ax = plt.subplots(figsize=(0.6 * len(cols) + 2.5, 0.45 * len(rows) + 1.5))
    image = ax.imshow(matrix, cmap=cmap, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7, color="white")
    fig.colorbar(image, ax=ax, label=value_label)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_relative_balance(table: pd.DataFrame, accuracy: str = "test_acc", imbalance: str = "imbalance",
                          label_all: bool = False, n_classes: int | Mapping[str, int] | None = None) -> Figure:
    """Accuracy vs imbalance per data set (mean ± std over seeds), coloured by family, with the frontier.

    ``table`` is a benchmark table (:func:`mmlib.benchmark.benchmark`); the points are
    :func:`mmlib.results.frontier_table`'s means, the dashed line its Pareto frontier.
    Families take :data:`FAMILY_COLOURS`; the chance line is drawn when ``n_classes``
    is given (an int, or one per data set).
    """
    front = frontier_table(table, accuracy, imbalance)
    dsets = list(dict.fromkeys(front["dataset"]))
    y_quantity, x_quantity = describe(accuracy), describe(imbalance)
    if n_classes is None and y_quantity.accuracy:
        _no_chance_warning("plot_relative_balance")
    fig, axes = plt.subplots(1, len(dsets), figsize=(6.2 * len(dsets), 4.6), squeeze=False)
    for ax, dataset in zip(axes[0], dsets):
        sub = front[front["dataset"] == dataset]
        for family in [f for f in family_order() if f in set(sub["family"])]:
            fam = sub[sub["family"] == family]
            ax.errorbar(fam[f"{imbalance}_mean"], fam[f"{accuracy}_mean"], xerr=fam[f"{imbalance}_std"],
                        yerr=fam[f"{accuracy}_std"], fmt={"baseline": "s", "control": "D"}.get(family, "o"),
                        ms=6 if family not in ("baseline", "control") else 9,
                        mec="k" if family in ("baseline", "control") else None,
                        color=FAMILY_COLOURS.get(family), label=family, capsize=2, alpha=0.85)
        edge = sub[sub["on_frontier"]].sort_values(f"{imbalance}_mean")
        x, y = list(edge[f"{imbalance}_mean"]), list(edge[f"{accuracy}_mean"])
        if x:  # none when every run of this data set diverged
            right = float(np.nanmax(sub[f"{imbalance}_mean"] + sub[f"{imbalance}_std"]))
            ax.step(x + [max(right, x[-1])], y + [y[-1]], where="post", color="k", lw=1.5, ls="--",
                    label="Pareto frontier", zorder=3)  # everything below-right of it is dominated
        classes = _classes_for(n_classes, dataset)
        if classes is not None and y_quantity.accuracy:
            chance_line(ax, classes)
        for _, r in sub.iterrows():
            if label_all or r["on_frontier"] or r["family"] in ("baseline", "control"):
                ax.annotate(r["method"], (r[f"{imbalance}_mean"], r[f"{accuracy}_mean"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(x_quantity.text)
        ax.set_ylabel(f"{y_quantity.text}, higher = better")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    figure_legend(fig)
    return fig
