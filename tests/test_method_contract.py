"""The contract every registered method keeps (mmlib.methods.base), checked for all of them at once.

Each method, on data and a model it applies to: one short epoch runs; the same seed gives
the identical history; its outputs keep ``fused == sum(logits)``; an unknown and an
ill-typed hyperparameter are clear errors naming the method; ``hyperparameters()``
round-trips through ``get``; ``configure_model`` runs before any optimizer exists and
every parameter it leaves in the model is trained. Also: the shared gradient helpers of
:mod:`mmlib.methods.gradients` on hand-made inputs.

The family tests (``test_*_methods.py``) keep what is particular to each method.
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from mmlib import methods
from mmlib.methods import Method, get, names
from mmlib.methods.gradients import (flatten_gradients, gradient_vector, loss_gradient, loss_gradients,
                                     modify_gradients, unflatten_gradient, write_gradients)
from mmlib.metrics import predict
from mmlib.models import build_model
from mmlib.train import fit, run
from mmlib.transformer import build_transformer

# The model a method needs when the default (concatenation fusion) is not one it applies to.
BUILD = {"rollingq": build_transformer}
RUN = dict(epochs=1, progress=False)

# The survey's four stages (DESIGN.md, section 1), plus the controls and the decision layer.
FAMILY = {
    "baseline": "baseline", "multitask": "control",
    "sample_valuation": "data input", "modality_valuation": "data input",
    "mla": "feed-forward", "opm": "feed-forward", "amco": "feed-forward", "greedy": "feed-forward",
    "rollingq": "feed-forward",
    "mmpareto": "learning objective", "mmcosine": "learning objective", "umt": "learning objective",
    "gblending": "learning objective", "cml": "learning objective", "mbsd": "learning objective",
    "lfm": "learning objective",
    "ogm_ge": "optimization", "agm": "optimization", "pmr": "optimization", "inforeg": "optimization",
    "reconboost": "optimization", "relearning": "optimization",
    "calibrated_weighting": "decision level", "confidence_weighting": "decision level",
    "class_weighting": "decision level",
}


def hyperparameter_names(name: str) -> list[str]:
    cls = methods.REGISTRY[name]
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]


@pytest.fixture(scope="module")
def first_run(synthetic_small):
    """One seeded one-epoch run per method, made on first use and shared by the tests below."""
    cache = {}

    def get_run(name: str):
        if name not in cache:
            cache[name] = run(synthetic_small, name, seed=0, build=BUILD.get(name), **RUN)
        return cache[name]

    return get_run


def test_every_method_is_in_its_family():
    assert sorted(FAMILY) == names(), "a method was added or removed: list it in FAMILY"
    for name, family in FAMILY.items():
        method = get(name)
        assert method.family == family and method.paper and method.name == name
    assert set(methods.by_family()) == set(FAMILY.values())


@pytest.mark.parametrize("name", names())
def test_one_short_epoch_runs(name, first_run):
    history = first_run(name).history
    assert len(history.records) == 1 and history.status == "ok"
    assert math.isfinite(history["loss"][0]) and 0.0 <= history.final["test_acc"] <= 1.0
    assert all(torch.isfinite(p).all() for p in first_run(name).model.parameters())


@pytest.mark.parametrize("name", names())
def test_same_seed_gives_the_identical_history(name, first_run, synthetic_small):
    again, first = run(synthetic_small, name, seed=0, build=BUILD.get(name), **RUN).history, first_run(name).history
    # repr: exact floats, and a logged NaN (e.g. relearning's purity between diagnoses) equals itself
    assert repr(again.records) == repr(first.records) and repr(again.final) == repr(first.final)


@pytest.mark.parametrize("name", names())
def test_fused_is_the_sum_of_the_modality_logits(name, first_run, synthetic_small):
    """On the evaluation outputs (``predict``) and on the training forward pass, for every method.

    No exception today: every model of the course (concatenation, sum, gated, MMTM, shared,
    cosine heads, the fusion transformer) and every method's forward keeps the identity.
    """
    trained = first_run(name)
    model, method = trained.model, trained.method
    output, _ = predict(model, synthetic_small, "val", method)
    assert torch.allclose(output.fused, sum(output.logits.values()), atol=1e-4)
    batch = synthetic_small.batch(synthetic_small.splits["train"][:16])
    model.train()
    with torch.no_grad():
        output = method.forward(model, batch)
    assert torch.allclose(output.fused, sum(output.logits.values()), atol=1e-4)


@pytest.mark.parametrize("name", names())
def test_an_unknown_hyperparameter_is_a_clear_error(name):
    with pytest.raises(TypeError, match=f"not_a_hyperparameter.*{name}"):
        get(name, not_a_hyperparameter=1)


@pytest.mark.parametrize("name", names())
def test_every_hyperparameter_has_a_range_and_an_ill_typed_value_is_a_clear_error(name):
    ranges = methods.REGISTRY[name].all_hyperparameter_ranges()
    for hyperparameter in hyperparameter_names(name):
        assert hyperparameter in ranges, f"{name}: no range declared for {hyperparameter}"
        with pytest.raises((TypeError, ValueError), match=f"^{name}: {hyperparameter} must be"):
            get(name, **{hyperparameter: object()})


@pytest.mark.parametrize("name", names())
def test_hyperparameters_round_trip(name):
    method = get(name)
    values = method.hyperparameters()
    assert sorted(values) == sorted(hyperparameter_names(name))
    assert get(name, **values).hyperparameters() == values
    assert repr(get(name, **values)) == repr(method)


@pytest.mark.parametrize("name", names())
def test_configure_model_runs_before_any_optimizer_and_its_parameters_are_trained(name, synthetic_small):
    method = get(name)
    seen = []
    configure_model, configure_optimizers = method.configure_model, method.configure_optimizers

    def spy_model(model, data):
        assert getattr(method, "state", None) is None  # no TrainState, hence no optimizer, yet
        seen.append("configure_model")
        configure_model(model, data)

    def spy_optimizers(model, make_optimizer):
        seen.append("configure_optimizers")
        return configure_optimizers(model, make_optimizer)

    method.configure_model, method.configure_optimizers = spy_model, spy_optimizers
    trained = run(synthetic_small, method, seed=0, build=BUILD.get(name), **RUN)
    assert seen == ["configure_model", "configure_optimizers"]
    optimized = {id(p) for o in method.state.optimizers for group in o.param_groups for p in group["params"]}
    untrained = [n for n, p in trained.model.named_parameters() if p.requires_grad and id(p) not in optimized]
    assert not untrained, f"{name}: parameters no optimizer updates: {untrained}"


# Methods that need one feature vector per sample, or a concat/sum head, and so cannot train a
# fusion transformer (its encoders emit tokens, its head is a query): they refuse it clearly.
NOT_ON_A_TRANSFORMER = {"greedy", "mla", "mmcosine", "modality_valuation", "pmr", "sample_valuation", "umt"}


@pytest.mark.parametrize("name", names())
def test_on_a_fusion_transformer_a_method_configures_or_refuses_clearly(name, synthetic_small):
    model = build_transformer(synthetic_small)
    method = get(name)
    if name in NOT_ON_A_TRANSFORMER:
        with pytest.raises(methods.NotApplicable, match=name):
            method.configure_model(model, synthetic_small)
    else:
        method.configure_model(model, synthetic_small)


def test_feature_widths_reads_out_dim_and_names_the_encoders_without_one(synthetic_small):
    assert methods.feature_widths(build_model(synthetic_small, feature_dim=16), "x") == {"audio": 16, "visual": 16}
    with pytest.raises(methods.NotApplicable, match=r"demo needs .* the audio, visual encoder\(s\) \(TokenEncoder\)"):
        methods.feature_widths(build_transformer(synthetic_small), "demo")


def test_parameters_added_in_configure_model_are_in_the_optimizer(synthetic_small):
    class AddsAGate(Method):
        name = "adds_a_gate"

        def configure_model(self, model, data):
            model.gate = nn.Parameter(torch.ones(()))

        def forward(self, model, batch):
            output = model(batch)
            return type(output)(model.gate * output.fused, {m: model.gate * z for m, z in output.logits.items()},
                                output.features)

    model = build_model(synthetic_small)
    method = AddsAGate()
    fit(model, synthetic_small, method, epochs=1, eval_splits=(), select="last", progress=False)
    assert any(p is model.gate for p in method.state.optimizer.param_groups[0]["params"])
    assert model.gate.item() != 1.0  # it was trained


# -- the shared gradient helpers (mmlib.methods.gradients) -----------------------------------------

def two_parameters():
    return [nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]])), nn.Parameter(torch.tensor([5.0]))]


def test_flatten_gradients_orders_by_parameter_and_reads_none_as_zeros():
    a, b = two_parameters()
    assert torch.equal(flatten_gradients([torch.tensor([[1.0, 2.0], [3.0, 4.0]]), None], [a, b]),
                       torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0]))
    assert torch.equal(flatten_gradients([None, None], [a, b]), torch.zeros(5))
    assert flatten_gradients([], []).shape == (0,)
    with pytest.raises(ValueError, match="2 gradients for 1 parameters"):
        flatten_gradients([None, None], [a])
    with pytest.raises(ValueError, match="shape"):
        flatten_gradients([torch.zeros(3), None], [a, b])


def test_gradient_vector_reads_grad_and_none_as_zeros():
    a, b = two_parameters()
    assert torch.equal(gradient_vector([a, b]), torch.zeros(5))  # no backward yet: grad is None
    (a.sum() * 2).backward()
    assert b.grad is None and torch.equal(gradient_vector([a, b]), torch.tensor([2.0, 2.0, 2.0, 2.0, 0.0]))


def test_loss_gradient_leaves_grad_alone_and_keeps_the_graph():
    a, b = two_parameters()
    loss = (a ** 2).sum()  # b takes no part: zeros
    g = loss_gradient(loss, [a, b])
    assert torch.equal(g, torch.tensor([2.0, 4.0, 6.0, 8.0, 0.0])) and a.grad is None and b.grad is None
    assert torch.equal(loss_gradient(loss, [b, a], retain_graph=False), torch.tensor([0.0, 2.0, 4.0, 6.0, 8.0]))


def test_loss_gradients_splits_one_pass_by_group():
    a, b = two_parameters()
    loss = (a ** 2).sum() + 3 * b.sum()
    got = loss_gradients(loss, {"first": [a], "second": [b], "none": []})
    assert torch.equal(got["first"], torch.tensor([2.0, 4.0, 6.0, 8.0]))
    assert torch.equal(got["second"], torch.tensor([3.0])) and got["none"].shape == (0,)
    assert loss_gradients(loss, {"none": []})["none"].shape == (0,)


def test_unflatten_and_write_round_trip():
    a, b = two_parameters()
    vector = torch.arange(5.0)
    pieces = unflatten_gradient(vector, [a, b])
    assert [p.shape for p in pieces] == [a.shape, b.shape]
    write_gradients([a, b], vector)  # creates the missing .grad
    assert torch.equal(gradient_vector([a, b]), vector)
    vector.zero_()  # the written gradients are copies
    assert torch.equal(b.grad, torch.tensor([4.0]))
    write_gradients([a, b], torch.zeros(5))  # zeros are written, not skipped
    assert torch.equal(gradient_vector([a, b]), torch.zeros(5)) and a.grad is not None
    with pytest.raises(ValueError, match="5 entries"):
        write_gradients([a, b], torch.zeros(4))
    with pytest.raises(ValueError, match="flat vector"):
        unflatten_gradient(torch.zeros(5, 1), [a, b])


def test_modify_gradients_skips_missing_gradients():
    a, b = two_parameters()
    a.grad = torch.ones_like(a)
    modify_gradients([a, b], lambda g: 3 * g)
    assert torch.equal(a.grad, 3 * torch.ones_like(a)) and b.grad is None


def test_multitask_is_mmpareto_without_its_combination(synthetic_small):
    """The control and MMPareto with the Pareto step off and gamma 1 compute the same update
    (one backward pass of the summed losses vs two passes added per encoder)."""
    control = run(synthetic_small, "multitask", seed=0, **RUN)
    ablated = run(synthetic_small, "mmpareto", seed=0, method_kw={"pareto": False, "gamma": 1.0}, **RUN)
    for a, b in zip(control.model.state_dict().values(), ablated.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_multitask_loss_by_hand():
    """CE(z) + sum_m CE(z_m) on one sample, two classes: z_a = [1, 0], z_v = [0, 0] (label 0) gives
    fused z = [1, 0]: CE = log(1 + e^-1) = 0.31326; CE(z_a) = 0.31326; CE(z_v) = log 2 = 0.69315."""
    from mmlib.methods.multitask import multitask_loss
    from mmlib.models import Output
    za, zv = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    output = Output(za + zv, {"audio": za, "visual": zv}, {})
    assert float(multitask_loss(output, torch.tensor([0]))) == pytest.approx(2 * 0.313262 + 0.693147, abs=1e-5)
