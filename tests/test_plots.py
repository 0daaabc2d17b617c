"""The course's figure style (mmlib.plots): words for column names, the palette, chance lines, legends."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mmlib import plots  # noqa: E402
from mmlib.data.mfeat import VIEWS  # noqa: E402
from mmlib.data.synthetic import modality_names  # noqa: E402
from mmlib.methods import FAMILIES  # noqa: E402
from mmlib.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------ words for column names
@pytest.mark.parametrize("name, expected", [
    ("test_acc", "fused test accuracy (fraction correct)"),
    ("val_fused_acc", "fused validation accuracy (fraction correct)"),
    ("acc_audio", "accuracy of the audio slice (fraction correct)"),
    ("val_acc_visual", "validation accuracy of the visual slice (fraction correct)"),
    ("test_acc_zer", "test accuracy of the zer slice (fraction correct)"),
    ("grad_audio", "gradient norm reaching the audio encoder (L2 norm)"),
    ("seconds", "training time (s)"),
])
def test_label_gives_words_and_unit(name, expected):
    assert plots.label(name) == expected


def test_every_column_of_a_benchmark_row_has_words_without_the_raw_name():
    columns = ["test_acc", "val_acc", "test_f1", "imbalance", "seconds", "test_acc_best_epoch", "test_acc_weak",
               "acc_corrupted", "shared_term"]
    for m in modality_names(4) + list(VIEWS):
        columns += [f"test_acc_{m}", f"val_acc_{m}", f"shapley_{m}", f"probe_{m}", f"grad_{m}"]
    for column in columns:
        text = plots.label(column)
        assert text != column and "_" not in text, (column, text)
        assert text.endswith(")"), f"{column!r}: no unit in {text!r}"


def test_accuracy_columns_are_marked_for_a_chance_line():
    assert plots.describe("val_acc_audio").accuracy and plots.describe("probe_fac").accuracy
    assert not plots.describe("shapley_audio").accuracy and not plots.describe("imbalance").accuracy


def test_an_unknown_column_or_modality_is_a_clear_error():
    with pytest.raises(KeyError, match="known names"):
        plots.label("acc_of_something")
    with pytest.raises(KeyError, match="known patterns"):
        plots.label("test_acc_lidar")
    assert plots.label("test_acc_lidar", modality_names=["lidar"]) == \
        "test accuracy of the lidar slice (fraction correct)"


# ------------------------------------------------------------------ the palette
def test_palette_covers_every_modality_and_family_with_distinct_colours():
    modalities = ["audio", "visual", "text", "image", *VIEWS]
    for name in modalities + list(FAMILIES) + ["fused", "chance"]:
        assert name in plots.PALETTE, name
    assert len({plots.PALETTE[m] for m in modalities + ["fused"]}) == len(modalities) + 1
    assert len({plots.FAMILY_COLOURS[f] for f in FAMILIES}) == len(FAMILIES)
    assert set(plots.FAMILY_COLOURS) == set(FAMILIES)


def test_numbered_synthetic_modalities_get_distinct_shades_and_unknown_names_fail():
    shades = [plots.colour(m) for m in modality_names(6)]
    assert len(set(shades)) == 6
    with pytest.raises(KeyError, match="named colours"):
        plots.colour("lidar")


def test_column_colours_follow_the_modality_in_every_figure():
    colours = plots.column_colours(["test_acc", "test_acc_audio", "shapley_audio", "test_acc_weak", "imbalance"])
    assert colours["test_acc"] == plots.PALETTE["fused"]
    assert colours["test_acc_audio"] == colours["shapley_audio"] == plots.PALETTE["audio"]
    assert colours["test_acc_weak"] != colours["imbalance"]
    assert not {colours["test_acc_weak"], colours["imbalance"]} & set(plots.MODALITY_COLOURS.values())


# ------------------------------------------------------------------ chance lines and legends
def _chance_lines(ax):
    return [line for line in ax.get_lines() if line.get_label() == "chance"]


def _history(seed: int, epochs: int = 4) -> History:
    rng = np.random.default_rng(seed)
    return History(records=[{"epoch": e, "val_acc": rng.random(), "loss": rng.random()} for e in range(epochs)])


def test_chance_line_sits_at_one_over_n_classes():
    fig, ax = plt.subplots()
    line = plots.chance_line(ax, 6)
    assert line.get_label() == "chance"
    assert np.allclose(line.get_ydata(), 1 / 6)
    for bad in (1, 0, True, 2.5, "6"):
        with pytest.raises(ValueError, match="n_classes"):
            plots.chance_line(ax, bad)


def test_curves_draw_chance_on_accuracy_panels_only():
    fig = plots.curves({"baseline": [_history(0), _history(1)]}, ["val_acc", "loss"], n_classes=4)
    accuracy_panel, loss_panel = fig.axes
    assert len(_chance_lines(accuracy_panel)) == 1 and np.allclose(_chance_lines(accuracy_panel)[0].get_ydata(), 0.25)
    assert not _chance_lines(loss_panel)
    assert accuracy_panel.get_title() == "fused validation accuracy"
    assert accuracy_panel.get_ylabel() == "fraction correct"


def test_accuracy_without_n_classes_warns():
    with pytest.warns(UserWarning, match="chance line"):
        plots.curves({"baseline": _history(0)}, ["val_acc"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.curves({"baseline": _history(0)}, ["loss"])


def _table() -> pd.DataFrame:
    rows = []
    for dataset, n in (("synthetic", 6), ("mfeat", 10)):
        for method, family in (("baseline", "baseline"), ("multitask", "control"), ("ogm", "optimization")):
            for seed in range(3):
                rows.append({"dataset": dataset, "method": method, "family": family, "seed": seed, "status": "ok",
                             "test_acc": 0.5 + 0.1 * seed + 0.05 * len(method) / 10,
                             "imbalance": 0.3 + 0.05 * seed + 0.01 * len(family)})
    return pd.DataFrame(rows)


def test_bars_and_the_benchmark_figure_draw_chance_per_panel():
    classes = {"synthetic": 6, "mfeat": 10}
    for fig in (plots.bars(_table(), ["test_acc", "imbalance"], n_classes=classes),
                plots.plot_relative_balance(_table(), n_classes=classes)):
        synthetic, mfeat = fig.axes
        assert np.allclose(_chance_lines(synthetic)[0].get_ydata(), 1 / 6)
        assert np.allclose(_chance_lines(mfeat)[0].get_ydata(), 1 / 10)
        assert "_" not in synthetic.get_ylabel()
    with pytest.raises(KeyError, match="synthetic"):
        plots.bars(_table(), ["test_acc"], n_classes={"mfeat": 10})


def test_bars_colour_each_family_and_column_by_the_palette():
    fig = plots.plot_relative_balance(_table(), n_classes=6)
    legend = fig.legends[0]
    colours = {text.get_text(): handle for text, handle in zip(legend.get_texts(), legend.legend_handles)}
    assert {"baseline", "control", "optimization", "chance", "Pareto frontier"} <= set(colours)
    fig = plots.bars(_table(), ["test_acc"], n_classes=6)
    patch = fig.axes[0].patches[0]
    assert matplotlib.colors.to_hex(patch.get_facecolor()) == plots.PALETTE["fused"]


def test_legends_are_placed_outside_the_data():
    fig = plots.curves({"a": _history(0), "b": _history(1)}, ["val_acc", "loss"], n_classes=3)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    made = plots.legend(ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not made.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    fig, ax = plt.subplots()
    assert plots.legend(ax) is None
