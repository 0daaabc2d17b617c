"""The training loop: determinism, model selection on validation, hooks, the registry."""

import pytest
import torch

from mmlib import methods
from mmlib.data import load
from mmlib.methods import Method
from mmlib.models import build_model
from mmlib.train import fit, run, train_unimodal


@pytest.fixture(scope="module")
def data():
    return load("synthetic", n_samples=240, seed=1)


def test_same_seed_gives_identical_history(data):
    a = run(data, "baseline", seed=5, epochs=3, progress=False).history
    b = run(data, "baseline", seed=5, epochs=3, progress=False).history
    assert a.records == b.records and a.final == b.final
    c = run(data, "baseline", seed=6, epochs=3, progress=False).history
    assert c.records != a.records


def test_history_records_every_split_and_modality(data):
    history = run(data, "baseline", epochs=2, progress=False).history
    for key in ["loss", "train_acc", "train_acc_audio", "val_acc", "val_acc_visual", "test_acc_audio"]:
        assert len(history[key]) == 2
    with pytest.raises(KeyError, match="available"):
        history["nope"]
    assert list(history.frame().index) == [0, 1]


def test_selection_uses_validation_not_test(data):
    history = run(data, "baseline", epochs=4, progress=False).history
    val = history["val_acc"]
    assert history.best_epoch == val.index(max(val))
    assert history.final["val_acc"] == pytest.approx(max(val))


def test_hooks_are_called_in_order(data):
    calls = []

    class Spy(Method):
        name = "spy"

        def setup(self, state):
            super().setup(state)
            calls.append("setup")

        def on_epoch_start(self, state):
            calls.append("start")

        def forward(self, model, batch):
            calls.append("forward")
            return model(batch)

        def after_backward(self, model, output, batch):
            assert all(p.grad is not None for p in model.head.parameters())
            calls.append("after_backward")
            self.log(marker=1.0)

        def on_epoch_end(self, model, state):
            calls.append("end")

    history = fit(build_model(data), data, Spy(), epochs=1, progress=False)
    assert calls[0] == "setup" and calls[1] == "start" and calls[-1] == "end"
    assert calls.count("forward") == calls.count("after_backward") == len(data.splits["train"]) // 64 + 1
    assert history["marker"] == [1.0]


def test_registry_errors_list_valid_names():
    assert "baseline" in methods.names()
    with pytest.raises(KeyError, match="valid names: .*baseline"):
        methods.get("ogm")
    with pytest.raises(TypeError, match="valid"):
        methods.get("baseline", alpha=0.3)


def test_fit_rejects_bad_options(data):
    model = build_model(data)
    with pytest.raises(KeyError, match="valid"):
        fit(model, data, epochs=1, optimizer="lion")
    with pytest.raises(ValueError, match="val"):
        fit(model, data, epochs=1, eval_splits=("test",))


def test_unimodal_run_uses_one_modality(data):
    result = train_unimodal(data, "visual", epochs=1, progress=False)
    assert result.model.modalities == ["visual"]
    assert "test_acc_visual" in result.history.final and "test_acc_audio" not in result.history.final


def test_run_builds_the_default_model_or_takes_one(data):
    default = run(data, seed=3, epochs=1, progress=False)
    built = run(data, seed=3, build=lambda d: build_model(d), epochs=1, progress=False)
    assert default.history.records == built.history.records  # same seed -> same weights, same batches
    model = build_model(data, fusion="sum")
    given = run(data, seed=3, model=model, epochs=1, progress=False)
    assert given.model is model


def test_run_builds_a_method_class_fresh_with_its_hyperparameters(data):
    class Scaled(Method):
        name = "scaled_loss"

        def __init__(self, scale: float = 1.0):
            self.scale = scale

        def loss(self, output, batch):
            return self.scale * super().loss(output, batch)

    first = run(data, Scaled, method_kw={"scale": 2.0}, epochs=1, progress=False)
    second = run(data, Scaled, method_kw={"scale": 2.0}, epochs=1, progress=False)
    assert first.method is not second.method and first.method.scale == 2.0


@pytest.mark.parametrize("kw, error", [
    ({"model": "not a model"}, TypeError),
    ({"build": 3}, TypeError),
    ({"model": None, "build": None, "fusion": "nope"}, KeyError),
    ({"build": build_model, "feature_dim": 8}, ValueError),
])
def test_run_rejects_bad_model_arguments(data, kw, error):
    with pytest.raises(error):
        run(data, epochs=1, progress=False, **kw)


def test_run_refuses_model_and_build_together(data):
    with pytest.raises(ValueError, match="either model= .* or build="):
        run(data, model=build_model(data), build=build_model, epochs=1)


def test_compare_keeps_the_runs_it_tabulates(data):
    from mmlib.experiment import compare
    table, runs = compare({"toy": data}, ["baseline", "ogm_ge"], seeds=[0, 1], keep_runs=True, epochs=1,
                          progress=False)
    assert sorted(runs) == [("toy", "baseline", 0), ("toy", "baseline", 1), ("toy", "ogm_ge", 0), ("toy", "ogm_ge", 1)]
    for row in table.itertuples():
        assert runs[row.dataset, row.method, row.seed].history.final["test_acc"] == row.test_acc
    plain = compare({"toy": data}, ["baseline"], seeds=[0], epochs=1, progress=False)
    assert list(plain["test_acc"]) == [table["test_acc"][0]]  # without keep_runs: the table alone, same numbers
