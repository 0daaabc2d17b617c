"""ipywidgets explorers. Each one is a thin layer over a pure function of mmlib.

The widgets build their controls and an ``Output`` area; the drawing happens in a
``render`` function that tests call directly (headless), so every explorer is
tested without a browser.

A saved notebook outlives its kernel: opened again in JupyterLab (untrusted, so the widget
renderer is off) or rendered into the HTML book, the live widget has nothing to draw from.
So every explorer is an :class:`Explorer`, whose display bundle carries, beside the live
widget, a static PNG of its default state with a line saying it is interactive when run in
JupyterLab, and that line as its ``text/plain`` (never a ``VBox(children=...)`` repr).
Frontends pick what they can show: a live kernel the widget, everything else the figure.
"""

from __future__ import annotations

import base64
import io
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
from .plots import OTHER_COLOURS, chance_line, colour, legend
from .theory import shared_term_size

INTERACTIVE_NOTE = "Static figure at the default settings ({settings}); run this cell in JupyterLab to move the sliders."


def _format_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def figure_png(fig: Figure, note: str | None = None, dpi: int = 100) -> bytes:
    """``fig`` as PNG bytes, with ``note`` written in small italics under the axes."""
    if note:
        fig.text(0.5, 0.0, note, ha="center", va="top", fontsize=8, style="italic", wrap=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


class Explorer(widgets.VBox):
    """Controls above an output area, with a static fallback for frontends without a live kernel.

    ``static_png`` is the figure of the default state (with :data:`INTERACTIVE_NOTE` drawn under
    it) and ``note`` the same line as text; both join the live widget's view in the display
    bundle (:meth:`_repr_mimebundle_`), so a frontend that cannot run the widget shows the
    figure and the line instead of an empty box or a repr.
    """

    def __init__(self, children: Sequence[widgets.Widget], static_png: bytes, note: str, **kwargs: Any) -> None:
        super().__init__(list(children), **kwargs)
        self.static_png = static_png
        self.note = note

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = self.note
        bundle["image/png"] = base64.b64encode(self.static_png).decode("ascii")
        return bundle

    def __repr__(self) -> str:
        return self.note


def explorer(render: Callable[..., Figure], **controls: widgets.ValueWidget) -> Explorer:
    """An :class:`Explorer` that redraws ``render(**{name: control.value})`` whenever a control moves.

    Like ``ipywidgets.interact``, but ``render`` returns the figure instead of showing it, so the
    default state is also kept as a static PNG. Slider labels get their full width
    (``description_width = 'initial'``), so descriptions are never cut off.
    """
    if not controls:
        raise ValueError("explorer needs at least one control, e.g. alpha=FloatSlider(...)")
    for control in controls.values():
        control.style.description_width = "initial"
        if control.layout.width is None:
            control.layout.width = "min(100%, 32em)"
    out = widgets.Output()

    def draw() -> Figure:
        return render(**{name: control.value for name, control in controls.items()})

    def redraw(_: object = None) -> None:
        with out:
            out.clear_output(wait=True)
            fig = draw()
            display(fig)
            plt.close(fig)

    settings = ", ".join(f"{c.description or name} = {_format_value(c.value)}" for name, c in controls.items())
    note = INTERACTIVE_NOTE.format(settings=settings)
    fig = draw()
    static = figure_png(fig, note)
    plt.close(fig)
    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return Explorer([*controls.values(), out], static, note)


def _colour_of(name: str, index: int = 0) -> str:
    """The course's colour of a modality; a name it has none for gets ``OTHER_COLOURS[index]`` (cycled)."""
    try:
        return colour(name)
    except KeyError:
        return OTHER_COLOURS[index % len(OTHER_COLOURS)]


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
    ax.bar(list(cases), sizes, color=[colour("audio"), colour("visual"), colour("fused")])
    ax.set_ylim(0, 1)
    ax.set_ylabel("shared factor 1 − p(true class)")
    ax.set_title("gradient every encoder receives is scaled by this")
    for i, s in enumerate(sizes):
        ax.text(i, s + 0.02, f"{s:.2f}", ha="center")
    fig.tight_layout()
    return fig


def shared_term_explorer(n_classes: int = 6) -> Explorer:
    """Sliders for each modality's true-class margin; watch the shared gradient term shrink."""
    return explorer(
        lambda **v: render_shared_term(n_classes=n_classes, **v),
        audio_margin=widgets.FloatSlider(value=4.0, min=0.0, max=8.0, step=0.5, description="audio margin"),
        visual_margin=widgets.FloatSlider(value=0.5, min=0.0, max=8.0, step=0.5, description="visual margin"))


# -- chapter 1: a sweep over one modality's informativeness --------------------------------------

def render_sweep(curves: Mapping[float, Mapping[str, Sequence[float]]], noise: float,
                 ylabel: str = "gradient norm (L2, log scale)") -> Figure:
    """Per-modality curves recorded at one noise level of a sweep (``curves[noise][modality]``)."""
    if noise not in curves:
        raise KeyError(f"no run at noise {noise}; recorded levels: {sorted(curves)}")
    fig, ax = plt.subplots(figsize=(5, 3))
    for i, (modality, values) in enumerate(curves[noise].items()):
        ax.plot(np.arange(len(values)), values, label=modality, color=_colour_of(modality, i))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.set_title(f"visual noise = {noise}")
    legend(ax)
    fig.tight_layout()
    return fig


def sweep_explorer(curves: Mapping[float, Mapping[str, Sequence[float]]], ylabel: str = "gradient norm (L2, log scale)"
                   ) -> Explorer:
    """A slider over the recorded noise levels of a sweep, redrawing :func:`render_sweep`."""
    levels = sorted(curves)
    return explorer(lambda noise: render_sweep(curves, noise, ylabel),
                    noise=widgets.SelectionSlider(options=levels, value=levels[len(levels) // 2],
                                                  description="noise"))


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
    left.bar(list(state["shares"]), list(state["shares"].values()),
             color=[_colour_of(m, i) for i, m in enumerate(state["shares"])])
    left.set_ylim(0, 1)
    left.set_ylabel("decision share (fraction)")
    left.set_title(f"decision share (fused acc {state['accuracy']:.3f})")
    right.bar(classes, state["per_class"].tolist(), color=colour("fused"))
    chance_line(right, n_classes)
    right.set_ylim(0, 1)
    right.set_ylabel("accuracy (fraction correct)")
    right.set_title("per-class accuracy of the weighted decision")
    legend(right)
    right.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


def weight_explorer(logits: Mapping[str, Tensor], labels: Tensor, classes: Sequence[str] | None = None
                    ) -> Explorer:
    """One weight and one temperature slider per modality, redrawing :func:`render_weights`.

    The sliders are described ``w <modality>`` and ``T <modality>``.
    """
    names = list(logits)
    weights = {f"w{i}": widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.05, description=f"w {m}")
               for i, m in enumerate(names)}
    temperatures = {f"T{i}": widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.05,
                                                    description=f"T {m}") for i, m in enumerate(names)}

    def render(**values: float) -> Figure:
        return render_weights(logits, labels, {m: values[f"w{i}"] for i, m in enumerate(names)},
                              {m: values[f"T{i}"] for i, m in enumerate(names)}, classes)

    return explorer(render, **weights, **temperatures)
