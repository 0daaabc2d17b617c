"""The chapter-1 explorers, headless: their render functions and the widgets' wiring."""

import matplotlib

matplotlib.use("Agg")

import pytest

from mmlib.theory import shared_term_size
from mmlib.widgets import render_shared_term, render_sweep, shared_term_explorer, sweep_explorer


def test_shared_term_bars_are_the_closed_form():
    fig = render_shared_term(audio_margin=4.0, visual_margin=0.5, n_classes=6)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == pytest.approx([shared_term_size({"a": 4.0}, 6), shared_term_size({"v": 0.5}, 6),
                                     shared_term_size({"a": 4.0, "v": 0.5}, 6)])
    assert heights[2] < heights[1]  # the confident modality shrinks what the weak one gets


def test_shared_term_explorer_redraws_on_slider_change():
    box = shared_term_explorer(n_classes=4)
    audio, visual, out = box.children
    assert (audio.description, visual.description) == ("audio margin", "visual margin")
    audio.value = 7.5  # triggers a redraw without a display; must not raise
    assert out is box.children[-1]


def test_sweep_render_and_unknown_level():
    curves = {0.5: {"audio": [1.0, 0.5], "visual": [0.8, 0.7]}, 1.0: {"audio": [1.0, 0.4], "visual": [0.3, 0.1]}}
    fig = render_sweep(curves, 1.0)
    assert [line.get_label() for line in fig.axes[0].lines] == ["audio", "visual"]
    assert list(fig.axes[0].lines[1].get_ydata()) == [0.3, 0.1]
    with pytest.raises(KeyError, match="recorded levels"):
        render_sweep(curves, 2.0)
    slider = sweep_explorer(curves).children[0]
    assert list(slider.options) == [0.5, 1.0]
    slider.value = 0.5


# -- chapter 10: the weight explorer ---------------------------------------------------------------


def test_explore_weights_normalises_and_reports(two_modalities):
    from mmlib.widgets import explore_weights
    logits, labels = two_modalities
    state = explore_weights(logits, labels, {"a": 0.0, "b": 0.0})
    assert state["weights"] == pytest.approx({"a": 0.5, "b": 0.5})
    only_b = explore_weights(logits, labels, {"a": 0.0, "b": 2.0})
    assert only_b["shares"]["a"] == 0.0 and only_b["accuracy"] == pytest.approx(0.75)
    assert only_b["per_class"].shape == (3,)


def test_render_weights_draws_the_pure_state(two_modalities):
    from mmlib.widgets import explore_weights, render_weights
    logits, labels = two_modalities
    fig = render_weights(logits, labels, {"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 10.0}, ["x", "y", "z"])
    shares, per_class = fig.axes
    state = explore_weights(logits, labels, {"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 10.0})
    assert [b.get_height() for b in shares.patches] == pytest.approx(list(state["shares"].values()))
    assert [b.get_height() for b in per_class.patches] == pytest.approx(state["per_class"].tolist())
    assert f"{state['accuracy']:.3f}" in shares.get_title()
    chance = [line for line in per_class.get_lines() if line.get_label() == "chance"]
    assert len(chance) == 1 and chance[0].get_ydata()[0] == pytest.approx(1 / 3)


def test_widgets_draw_in_the_course_colours():
    """Modalities in their palette colours (an unnamed one in the course's other colours), fused in its own."""
    from matplotlib.colors import to_hex

    from mmlib.plots import OTHER_COLOURS, colour
    from mmlib.widgets import render_shared_term, render_sweep
    bars = render_shared_term(4.0, 0.5).axes[0].patches
    assert [to_hex(b.get_facecolor()) for b in bars] == [colour("audio").lower(), colour("visual").lower(),
                                                          colour("fused").lower()]
    lines = render_sweep({1.0: {"audio": [1.0, 0.5], "odd": [2.0, 1.0]}}, 1.0).axes[0].get_lines()
    assert [to_hex(line.get_color()) for line in lines] == [colour("audio").lower(), OTHER_COLOURS[1].lower()]


def test_weight_explorer_widget_headless(two_modalities):
    from mmlib.widgets import weight_explorer
    logits, labels = two_modalities
    box = weight_explorer(logits, labels, ["x", "y", "z"])
    *sliders, out = box.children
    assert [s.description for s in sliders] == ["w a", "w b", "T a", "T b"]
    sliders[0].value = 0.0  # redraws through render_weights; must not raise
    sliders[3].value = 10.0
    assert out is box.children[-1]


# -- the static fallback: what a saved notebook and the HTML book show -------------------------------


def test_explorer_bundle_carries_a_static_figure_and_a_line_not_a_repr():
    import base64
    import io

    from PIL import Image

    from mmlib.widgets import shared_term_explorer
    box = shared_term_explorer(n_classes=4)
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # a live kernel still gets the widget
    assert bundle["text/plain"] == box.note == repr(box)
    assert "JupyterLab" in box.note and "audio margin = 4" in box.note and "visual margin = 0.5" in box.note
    assert "VBox(" not in bundle["text/plain"]
    image = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
    assert image.format == "PNG" and image.width > 200 and image.height > 100
    box.children[0].value = 8.0  # the static figure keeps the default state
    assert box._repr_mimebundle_()["image/png"] == bundle["image/png"]


def test_explorer_wraps_any_render_function_with_readable_labels():
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from mmlib.widgets import Explorer, explorer
    calls = []

    def render(alpha, rho_max):
        calls.append((alpha, rho_max))
        fig, ax = plt.subplots()
        ax.plot([0, rho_max], [0, alpha])
        return fig

    box = explorer(render, alpha=widgets.FloatSlider(value=0.3, description="alpha"),
                   rho_max=widgets.FloatSlider(value=6.0, max=20.0, description="largest ratio"))
    assert isinstance(box, Explorer)
    assert calls == [(0.3, 6.0), (0.3, 6.0)]  # the static figure, then the live output
    alpha, rho_max, _ = box.children
    assert alpha.style.description_width == rho_max.style.description_width == "initial"
    rho_max.value = 10.0
    assert calls[-1] == (0.3, 10.0)
    assert "largest ratio = 6" in box.note
    with pytest.raises(ValueError, match="at least one control"):
        explorer(render)
