"""ipywidgets explorers. Each one is a thin layer over a pure function of mmlib.

The widgets build their controls and an ``Output`` area; the drawing happens in a
``render`` function that tests call directly (headless), so every explorer is
tested without a browser.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display
from matplotlib.figure import Figure
from torch import Tensor

from .decision import calibrate, decision_shares, per_class_accuracy, weighted_logits
from .metrics import accuracy
from .theory import shared_term_size


def _explorer(controls: Sequence[widgets.Widget], render: Callable[..., Figure]) -> widgets.VBox:
    """A VBox of ``controls`` and an output area redrawn by ``render(**values)`` on every change."""
    out = widgets.Output()

    def redraw(_: object = None) -> None:
        values = {c.description.rstrip(":").replace(" ", "_"): c.value for c in controls}
        with out:
            out.clear_output(wait=True)
            fig = render(**values)
            display(fig)
            plt.close(fig)

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([*controls, out])


# -- chapter 1: the shared gradient term ------------------------------------------------------------

def render_shared_term(audio_margin: float, visual_margin: float, n_classes: int = 6) -> Figure:
    """Bar chart of the shared term ``1 - p_y`` with each modality alone and with both together."""
    cases = {
        "audio alone": {"audio": audio_margin},
        "visual alone": {"visual": visual_margin},
        "both (fused)": {"audio": audio_margin, "visual": visual_margin},
    }
    sizes = [shared_term_size(margins, n_classes) for margins in cases.values()]
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ax.bar(list(cases), sizes, color=["tab:blue", "tab:orange", "tab:green"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("1 - p(true class)")
    ax.set_title("gradient every encoder receives is scaled by this")
    for i, s in enumerate(sizes):
        ax.text(i, s + 0.02, f"{s:.2f}", ha="center")
    fig.tight_layout()
    return fig


def shared_term_explorer(n_classes: int = 6) -> widgets.VBox:
    """Sliders for each modality's true-class margin; watch the shared gradient term shrink."""
    controls = [
        widgets.FloatSlider(value=4.0, min=0.0, max=8.0, step=0.5, description="audio margin"),
        widgets.FloatSlider(value=0.5, min=0.0, max=8.0, step=0.5, description="visual margin"),
    ]
    return _explorer(controls, lambda **v: render_shared_term(n_classes=n_classes, **v))


# -- chapter 1: a sweep over one modality's informativeness --------------------------------------

def render_sweep(curves: Mapping[float, Mapping[str, Sequence[float]]], noise: float,
                 ylabel: str = "gradient norm") -> Figure:
    """Per-modality curves recorded at one noise level of a sweep (``curves[noise][modality]``)."""
    if noise not in curves:
        raise KeyError(f"no run at noise {noise}; recorded levels: {sorted(curves)}")
    fig, ax = plt.subplots(figsize=(5, 3))
    for modality, values in curves[noise].items():
        ax.plot(np.arange(len(values)), values, label=modality)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.set_title(f"visual noise = {noise}")
    ax.legend()
    fig.tight_layout()
    return fig


def sweep_explorer(curves: Mapping[float, Mapping[str, Sequence[float]]], ylabel: str = "gradient norm"
                   ) -> widgets.VBox:
    """A slider over the recorded noise levels of a sweep, redrawing :func:`render_sweep`."""
    levels = sorted(curves)
    controls = [widgets.SelectionSlider(options=levels, value=levels[len(levels) // 2], description="noise")]
    return _explorer(controls, lambda noise: render_sweep(curves, noise, ylabel))


# -- chapter 10: weights and temperatures at the decision layer -----------------------------------

def explore_weights(logits: Mapping[str, Tensor], labels: Tensor, weights: Mapping[str, float],
                    temperatures: Mapping[str, float] | None = None) -> dict[str, Any]:
    """What the weight explorer shows, as a pure function: fused accuracy, decision shares, per-class accuracy.

    ``weights`` are clipped at 0 and normalised to sum to 1 (all zero -> uniform);
    ``temperatures`` default to 1. The fused decision is ``sum_m M * w_m * z_m / T_m``
    (:func:`mmlib.decision.weighted_logits` of :func:`mmlib.decision.calibrate`).
    """
    names = list(logits)
    if not names:
        raise ValueError("logits must hold at least one modality")
    raw = torch.tensor([max(float(weights[m]), 0.0) for m in names])
    norm = raw / raw.sum() if raw.sum() > 0 else torch.full_like(raw, 1 / len(names))
    w = dict(zip(names, norm.tolist()))
    z = weighted_logits(calibrate(logits, temperatures or {m: 1.0 for m in names}), w)
    fused = torch.stack(list(z.values())).sum(0)
    return {"weights": w, "accuracy": accuracy(fused, labels), "shares": decision_shares(z),
            "per_class": per_class_accuracy(fused, labels, fused.shape[1])}


def render_weights(logits: Mapping[str, Tensor], labels: Tensor, weights: Mapping[str, float],
                   temperatures: Mapping[str, float] | None = None, classes: Sequence[str] | None = None) -> Figure:
    """Each modality's decision share and the per-class accuracy of the weighted decision (:func:`explore_weights`)."""
    state = explore_weights(logits, labels, weights, temperatures)
    n_classes = len(state["per_class"])
    classes = list(classes) if classes is not None else [str(c) for c in range(n_classes)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [1, 2]})
    left.bar(list(state["shares"]), list(state["shares"].values()), color="tab:gray")
    left.set_ylim(0, 1)
    left.set_title(f"decision share (fused acc {state['accuracy']:.3f})")
    right.bar(classes, state["per_class"].tolist(), color="tab:blue")
    right.set_ylim(0, 1)
    right.set_title("per-class accuracy")
    right.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


def weight_explorer(logits: Mapping[str, Tensor], labels: Tensor, classes: Sequence[str] | None = None
                    ) -> widgets.VBox:
    """One weight and one temperature slider per modality, redrawing :func:`render_weights`.

    The sliders are described ``w <modality>`` and ``T <modality>``.
    """
    names = list(logits)
    controls: list[widgets.Widget] = [
        widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.05, description=f"w {m}") for m in names]
    controls += [widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05, description=f"T {m}")
                 for m in names]

    def render(**values: float) -> Figure:
        key = {m: m.replace(" ", "_") for m in names}  # as _explorer names the values
        return render_weights(logits, labels, {m: values[f"w_{key[m]}"] for m in names},
                              {m: values[f"T_{key[m]}"] for m in names}, classes)

    return _explorer(controls, render)
