"""The training loop: determinism, model selection on validation, hooks, the registry."""

import pytest
import torch

from mmlib import methods
from mmlib.methods import Method
from mmlib.models import build_model
from mmlib.train import fit, run, train_unimodal


def test_same_seed_gives_identical_history(synthetic_small):
    a = run(synthetic_small, "baseline", seed=5, epochs=3, progress=False).history
    b = run(synthetic_small, "baseline", seed=5, epochs=3, progress=False).history
    assert a.records == b.records and a.final == b.final
    c = run(synthetic_small, "baseline", seed=6, epochs=3, progress=False).history
    assert c.records != a.records


def test_history_records_every_split_and_modality(synthetic_small):
    history = run(synthetic_small, "baseline", epochs=2, progress=False).history
    for key in ["loss", "train_acc", "train_acc_audio", "val_acc", "val_acc_visual", "test_acc_audio"]:
        assert len(history[key]) == 2
    with pytest.raises(KeyError, match="available"):
        history["nope"]
    assert list(history.frame().index) == [0, 1]


def test_selection_uses_validation_not_test(synthetic_small):
    history = run(synthetic_small, "baseline", epochs=4, progress=False).history
    val = history["val_acc"]
    assert history.best_epoch == val.index(max(val))
    assert history.final["val_acc"] == pytest.approx(max(val))


def test_hooks_are_called_in_order(synthetic_small):
    calls = []

    class Spy(Method):
        name = "spy"

        def configure_model(self, model, synthetic_small):
            calls.append("configure_model")

        def configure_optimizers(self, model, make_optimizer):
            calls.append("configure_optimizers")
            return super().configure_optimizers(model, make_optimizer)

        def setup(self, state):
            super().setup(state)
            calls.append("setup")

        def optimizer_for(self, state, batch):
            calls.append("optimizer_for")
            return super().optimizer_for(state, batch)

        def predict(self, model, batch):
            assert not model.training and not torch.is_grad_enabled()  # inside models.evaluating
            calls.append("predict")
            return model(batch)

        def on_epoch_start(self, state):
            calls.append("start")

        def forward(self, model, batch):
            calls.append("forward")
            return model(batch)

        def after_backward(self, model, output, batch):
            assert all(p.grad is not None for p in model.head.parameters())
            calls.append("after_backward")
            self.log(marker=1.0)

        def on_epoch_end(self, state):
            calls.append("end")

    model = build_model(synthetic_small)
    history = fit(model, synthetic_small, Spy(), epochs=1, progress=False)
    assert calls[:5] == ["configure_model", "configure_optimizers", "setup", "start", "optimizer_for"]
    n_steps = len(synthetic_small.splits["train"]) // 64 + 1
    assert calls.count("optimizer_for") == calls.count("forward") == calls.count("after_backward") == n_steps
    first_predict = calls.index("predict")
    assert calls[first_predict - 1] == "end" and set(calls[first_predict:]) == {"predict"}  # val, test, final
    assert history["marker"] == [1.0]
    assert model.training  # evaluation restored the training mode


def test_optimizers_and_optimizer_for_choose_each_update(synthetic_small):
    """Two optimizers, one per encoder; every step updates only the encoder optimizer_for names."""

    class EncoderByTurns(Method):
        name = "encoder_by_turns"

        def configure_optimizers(self, model, make_optimizer):
            return [make_optimizer(list(model.encoders[m].parameters())) for m in model.modalities]

        def optimizer_for(self, state, batch):
            return state.optimizers[state.step % 2]

    model = build_model(synthetic_small)
    before = {m: [p.detach().clone() for p in model.encoders[m].parameters()] for m in model.modalities}
    head = [p.detach().clone() for p in model.head.parameters()]
    n_train = len(synthetic_small.splits["train"])
    fit(model, synthetic_small, EncoderByTurns(), epochs=1, batch_size=n_train, eval_splits=(), select="last",
        progress=False)  # one step: optimizer 0 (audio) only
    assert all(torch.equal(a, b) for a, b in zip(head, model.head.parameters()))
    changed = {m: any(not torch.equal(a, b) for a, b in zip(before[m], model.encoders[m].parameters()))
               for m in model.modalities}
    assert changed == {model.modalities[0]: True, model.modalities[1]: False}


def test_configure_optimizers_must_return_optimizers(synthetic_small):
    class Broken(Method):
        name = "broken_optimizers"

        def configure_optimizers(self, model, make_optimizer):
            return []

    with pytest.raises(TypeError, match="broken_optimizers.*configure_optimizers"):
        fit(build_model(synthetic_small), synthetic_small, Broken(), epochs=1, progress=False)


def test_registry_errors_list_valid_names():
    assert "baseline" in methods.names()
    with pytest.raises(KeyError, match="valid names: .*baseline"):
        methods.get("ogm")
    with pytest.raises(TypeError, match="valid"):
        methods.get("baseline", alpha=0.3)


def test_fit_rejects_bad_options(synthetic_small):
    model = build_model(synthetic_small)
    with pytest.raises(KeyError, match="valid"):
        fit(model, synthetic_small, epochs=1, optimizer="lion")
    with pytest.raises(ValueError, match="val"):
        fit(model, synthetic_small, epochs=1, eval_splits=("test",))


def test_unimodal_run_uses_one_modality(synthetic_small):
    result = train_unimodal(synthetic_small, "visual", epochs=1, progress=False)
    assert result.model.modalities == ["visual"]
    assert "test_acc_visual" in result.history.final and "test_acc_audio" not in result.history.final


def test_run_builds_the_default_model_or_takes_one(synthetic_small):
    default = run(synthetic_small, seed=3, epochs=1, progress=False)
    built = run(synthetic_small, seed=3, build=lambda d: build_model(d), epochs=1, progress=False)
    assert default.history.records == built.history.records  # same seed -> same weights, same batches
    model = build_model(synthetic_small, fusion="sum")
    given = run(synthetic_small, seed=3, model=model, epochs=1, progress=False)
    assert given.model is model


def test_run_builds_a_method_class_fresh_with_its_hyperparameters(synthetic_small):
    class Scaled(Method):
        name = "scaled_loss"

        def __init__(self, scale: float = 1.0):
            self.scale = scale

        def loss(self, output, batch):
            return self.scale * super().loss(output, batch)

    first = run(synthetic_small, Scaled, method_kw={"scale": 2.0}, epochs=1, progress=False)
    second = run(synthetic_small, Scaled, method_kw={"scale": 2.0}, epochs=1, progress=False)
    assert first.method is not second.method and first.method.scale == 2.0


@pytest.mark.parametrize("kw, error", [
    ({"model": "not a model"}, TypeError),
    ({"build": 3}, TypeError),
    ({"model": None, "build": None, "fusion": "nope"}, KeyError),
    ({"build": build_model, "feature_dim": 8}, ValueError),
])
def test_run_rejects_bad_model_arguments(synthetic_small, kw, error):
    with pytest.raises(error):
        run(synthetic_small, epochs=1, progress=False, **kw)


def test_run_refuses_model_and_build_together(synthetic_small):
    with pytest.raises(ValueError, match="either model= .* or build="):
        run(synthetic_small, model=build_model(synthetic_small), build=build_model, epochs=1)


def test_compare_keeps_the_runs_it_tabulates(synthetic_small):
    from mmlib.experiment import compare
    table, runs = compare({"toy": synthetic_small}, ["baseline", "ogm_ge"], seeds=[0, 1], keep_runs=True, epochs=1,
                          progress=False)
    assert sorted(runs) == [("toy", "baseline", 0), ("toy", "baseline", 1), ("toy", "ogm_ge", 0), ("toy", "ogm_ge", 1)]
    for row in table.itertuples():
        assert runs[row.dataset, row.method, row.seed].history.final["test_acc"] == row.test_acc
    plain = compare({"toy": synthetic_small}, ["baseline"], seeds=[0], epochs=1, progress=False)
    assert list(plain["test_acc"]) == [table["test_acc"][0]]  # without keep_runs: the table alone, same numbers


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_switches_to_eval_without_grad_and_restores_the_mode(synthetic_small, training):
    from mmlib.models import evaluating

    model = build_model(synthetic_small).train(training)
    with evaluating(model) as same:
        assert same is model and not model.training and not torch.is_grad_enabled()
        assert not any(m.training for m in model.modules())
    assert model.training is training and torch.is_grad_enabled()
    with pytest.raises(RuntimeError, match="inside"):
        with evaluating(model):
            raise RuntimeError("inside")
    assert model.training is training and torch.is_grad_enabled()
