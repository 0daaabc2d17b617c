"""Bad input to training and divergence (issue 13, items 2 and 7).

Module-level tables, each fed to ``pytest.mark.parametrize``:

* ``SPEC_CASES`` — generated from every registered method's declared
  ``hyperparameter_ranges``: NaN, +-inf, a wrong type, a bool for an int, a value just
  out of range. Each must be refused before ``__init__`` runs (``TypeError`` for a wrong
  type, ``ValueError`` for a bad value) with ``<method>: <name> must be <range>, got ...``.
* ``RANGE_CASES`` — generated from ``EXPECTED``, a hand-written list of every
  hyperparameter's valid range (from the papers, the method docstrings and the code's
  use of the value), independent of the specs: the boundary values are accepted and the
  values just outside them refused, so a spec that is too loose (or too tight) fails.
* ``FIT_CASES`` / ``RUN_CASES`` — every argument of :func:`mmlib.train.fit` and
  :func:`mmlib.train.run` with 0, negative, NaN, inf, a wrong type, a bool for an int,
  an unknown split, a mismatched model...: the error names the argument and its range.
* ``DIVERGENCE_CASES`` — a loss that turns NaN or inf at a chosen step stops the run
  there, with :class:`~mmlib.train.DivergedError` naming method, epoch and step.

No case trains more than a few steps on 120 synthetic samples.
"""

from __future__ import annotations

import inspect
import math
import pickle
import re
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from mmlib import methods
from mmlib.data import load
from mmlib.methods import Method, get
from mmlib.methods.base import REGISTRY
from mmlib.methods.ogm import OGMGE
from mmlib.models import Output, build_model
from mmlib.train import DivergedError, fit, run
from mmlib.validation import AnyOf, Choice, Flag, Increasing, Integer, Number, OrNone


@pytest.fixture(scope="module")
def data():
    return load("synthetic", n_samples=120, seed=1)  # 72 train samples: 3 steps of 32 per epoch


@pytest.fixture()
def model(data):
    torch.manual_seed(0)
    return build_model(data, feature_dim=8)


def init_parameters(cls: type[Method]) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "args", "kwargs")]


# ================================================================ 1. hyperparameters, from the specs
def bad_values(rule) -> list[tuple[str, Any, type[Exception]]]:
    """(label, value, expected exception) that ``rule`` must refuse."""
    if isinstance(rule, Number):
        cases = [("nan", math.nan, ValueError), ("inf", math.inf, ValueError), ("-inf", -math.inf, ValueError),
                 ("str", "0.5", TypeError), ("bool", True, TypeError), ("None", None, TypeError)]
        if rule.ge is not None:
            cases.append(("below", rule.ge - 0.5, ValueError))
        if rule.gt is not None:
            cases.append(("at-open-low", rule.gt, ValueError))
        if rule.le is not None:
            cases.append(("above", rule.le + 0.5, ValueError))
        if rule.lt is not None:
            cases.append(("at-open-high", rule.lt, ValueError))
        return cases
    if isinstance(rule, Integer):
        cases = [("float", 2.0, TypeError), ("bool", True, TypeError), ("str", "3", TypeError),
                 ("nan", math.nan, TypeError), ("None", None, TypeError)]
        if rule.ge is not None:
            cases.append(("below", rule.ge - 1, ValueError))
        return cases
    if isinstance(rule, OrNone):
        return [(label, value, exc) for label, value, exc in bad_values(rule.inner) if value is not None]
    if isinstance(rule, Flag):
        return [("int", 1, TypeError), ("str", "yes", TypeError), ("None", None, TypeError)]
    if isinstance(rule, Choice):
        return [("unknown", "nope", ValueError), ("int", 3, ValueError), ("None", None, ValueError)]
    if isinstance(rule, AnyOf):
        return [("unknown", "test", ValueError), ("nan", math.nan, ValueError), ("zero", 0, ValueError),
                ("one", 1.0, ValueError)]
    if isinstance(rule, Increasing):
        return [("decreasing", (1.0, 0.4, -0.1), ValueError), ("tie", (0.4, 0.4, 1.0), ValueError),
                ("nan", (-0.1, math.nan, 1.0), ValueError), ("two", (0.0, 1.0), ValueError),
                ("str", "abc", TypeError), ("None", None, TypeError)]
    raise AssertionError(f"no bad values for {rule!r}")


SPEC_CASES = [pytest.param(name, param, value, exc, id=f"{name}.{param}={label}")
              for name in methods.names()
              for param, rule in REGISTRY[name].all_hyperparameter_ranges().items()
              for label, value, exc in bad_values(rule)]


@pytest.mark.parametrize("name, param, value, exc", SPEC_CASES)
def test_bad_hyperparameter_is_refused_with_its_range(name, param, value, exc):
    rule = REGISTRY[name].all_hyperparameter_ranges()[param]
    with pytest.raises(exc) as error:
        get(name, **{param: value})
    message = str(error.value)
    assert message.startswith(f"{name}: {param} must be {rule.describe()}, got ")
    assert repr(value) in message


# ================================================================ 2. hyperparameters, hand-written ranges
# The valid range of every hyperparameter of every registered method, written independently of
# the specs. Kinds: "num" (a finite number) with ">=a", ">a" or an interval; "int" with ">=a";
# "bool"; "choice:a|b"; "none|<kind>"; "val|num(0,1)" (gblending's holdout); "increasing3".
EXPECTED: dict[str, dict[str, str]] = {
    "agm": {"alpha": "num>=0"},  # gradient-scale exponent; 0 = no modulation
    "amco": {"sigma": "num[0,1]", "p_max": "num[0,1]", "ramp_epochs": "int>=1",  # a share, a fraction, a count
             "dependence": "choice:softmax_share|true_class", "unimodal_loss": "choice:masked|unmasked"},
    "baseline": {},
    "calibrated_weighting": {"head": "choice:unimodal|joint", "calibrate": "bool", "power": "num>=0"},
    "class_weighting": {"head": "choice:unimodal|joint", "calibrate": "bool", "balance": "num>=0",
                        "steps": "int>=1"},
    "cml": {"lam": "num>=0", "hinge": "choice:batch|sample"},  # weight of a hinge penalty
    "confidence_weighting": {"head": "choice:unimodal|joint", "calibrate": "bool", "sharpness": "num>=0"},
    "gblending": {"super_epoch": "int>=1", "holdout": "val|num(0,1)", "eps": "num>0"},  # eps floors a divisor
    "greedy": {"threshold": "num>=0", "window": "int>=1", "reduction": "int>=1", "rebalance": "bool",
               "start_epoch": "int>=0", "speed": "choice:ratio_of_sums|sum_of_ratios", "gate_scale": "num>0",
               "average": "choice:cumulative|ema"},
    "inforeg": {"beta0": "num>=0", "beta_weak": "none|num>=0", "window": "int>=1",
                "threshold": "num[0,1)"},  # growth <= 1
    "lfm": {"gap_start": "num[0,1]", "gap_end": "num[0,1]",  # trade-off weights alpha_2
            "gap": "choice:authors|js", "schedule": "choice:linear|fitted"},
    "mbsd": {"kl": "choice:distribution|true_class"},
    "mla": {"project": "bool", "entropy_over": "choice:sample|batch"},
    "mmcosine": {"scale": "num>0"},  # logit scale s
    "mmpareto": {"gamma": "num>0", "pareto": "bool"},  # boost of the update
    "multitask": {"log_conflict": "bool"},
    "modality_valuation": {"warmup_epochs": "int>=0", "level": "choice:feature|input", "full_value": "num>0",
                           "alpha": "num>=0", "part_ratio": "num(0,1]"},
    "ogm_ge": {"alpha": "num>=0", "modulation_start": "int>=0", "modulation_end": "none|int>=0", "ge": "bool"},
    "opm": {"q_base": "num[0,1]", "lam": "num>=0", "p_exe": "num[0,1]", "warmup_epochs": "int>=0"},
    "pmr": {"alpha": "num>=0", "momentum": "num[0,1]"},  # EMA momentum
    "reconboost": {"w1": "num>0", "w2": "num>=0", "alpha": "num>=0", "correction": "bool"},
    "relearning": {"move_lambda": "num>=0", "reinit_every": "int>=1", "reinit_num": "int>=0"},
    "rollingq": {"beta": "num>=0", "sigma": "num>=0", "max_rotations": "int>=0"},  # 0 rotations = baseline
    "sample_valuation": {"warmup_epochs": "int>=0", "level": "choice:feature|input", "full_value": "num>0",
                         "thresholds": "increasing3", "rule": "choice:each|weakest"},
    "umt": {"beta": "num>=0", "teacher_epochs": "none|int>=1", "teacher_optimizer": "none|choice:sgd|adam|adamw"},
}


def boundary_values(kind: str) -> tuple[list[Any], list[Any]]:
    """(values to accept, values to refuse) for a kind of ``EXPECTED``."""
    if kind.startswith("none|"):
        accept, refuse = boundary_values(kind[5:])
        return [None, *accept], refuse
    if kind == "bool":
        return [True, False], [0, 1, "True"]
    if kind.startswith("choice:"):
        options = kind[7:].split("|")
        return options, ["", options[0].upper(), 0]
    if kind == "increasing3":
        return [(-0.1, 0.4, 1.0), [0, 1, 2], (-5.0, -4.0, 3.5)], [(0.0, 0.0, 1.0), (2.0, 1.0, 3.0), (0.0, 1.0)]
    if kind == "val|num(0,1)":
        return ["val", 0.2, 1e-6, 1 - 1e-6], ["train", "test", 0.0, 1.0, 0, -0.2, math.nan, True]
    match = re.fullmatch(r"(num|int)(?:>=(-?\d+)|>(-?\d+)|([\[(])(-?\d+),(-?\d+)([\])]))", kind)
    assert match, kind
    number, ge, gt, low_bracket, low, high, high_bracket = match.groups()
    tiny = 1e-9
    if number == "int":
        low = int(ge)
        return [low, low + 1, low + 1000], [low - 1, float(low), True, math.nan]
    refuse = [math.nan, math.inf, -math.inf, True, "1"]
    if ge is not None:
        return [float(ge), int(ge), float(ge) + 1e3], refuse + [float(ge) - tiny, float(ge) - 1]
    if gt is not None:
        return [float(gt) + tiny, float(gt) + 1e3], refuse + [float(gt), float(gt) - 1]
    low, high = float(low), float(high)
    accept = [(low + high) / 2, low if low_bracket == "[" else low + tiny, high if high_bracket == "]" else high - tiny]
    refuse = refuse + [low - tiny, high + tiny]
    if low_bracket == "(":
        refuse.append(low)
    if high_bracket == ")":
        refuse.append(high)
    return accept, refuse


RANGE_CASES = [pytest.param(name, param, value, ok, id=f"{name}.{param}={value!r}-{'ok' if ok else 'refused'}")
               for name, params in EXPECTED.items() for param, kind in params.items()
               for ok, values in zip((True, False), boundary_values(kind)) for value in values]


def test_expected_ranges_cover_every_hyperparameter():
    assert sorted(EXPECTED) == methods.names()
    for name in methods.names():
        cls = REGISTRY[name]
        assert sorted(EXPECTED[name]) == sorted(init_parameters(cls)), name
        assert sorted(cls.all_hyperparameter_ranges()) == sorted(init_parameters(cls)), (
            f"{name}: every __init__ argument needs an entry in hyperparameter_ranges")


@pytest.mark.parametrize("name, param, value, ok", RANGE_CASES)
def test_hyperparameter_boundaries(name, param, value, ok):
    cls = REGISTRY[name]  # the class called directly: checked like mmlib.methods.get
    if ok:
        method = cls(**{param: value})
        expected = tuple(value) if param == "thresholds" else value
        assert method.hyperparameters()[param] == expected
    else:
        with pytest.raises((TypeError, ValueError), match=rf"^{name}: {param} must be .*, got "):
            cls(**{param: value})


def test_every_default_passes_its_own_range():
    for name in methods.names():
        cls = REGISTRY[name]
        defaults = {p: v.default for p, v in inspect.signature(cls.__init__).parameters.items()
                    if p in init_parameters(cls)}
        for param, rule in cls.all_hyperparameter_ranges().items():
            rule(defaults[param], param, name)  # raises if the declared range refuses the default
        built = {k: v for k, v in get(name).hyperparameters().items() if k in defaults}
        assert built == {k: tuple(v) if isinstance(v, list) else v for k, v in defaults.items()}, name


def test_subclasses_inherit_the_checks_and_unknown_names_still_list_valid_ones():
    class Stronger(OGMGE):  # a learner's subclass: no name, no __init__ of its own
        pass

    with pytest.raises(ValueError, match=r"^Stronger: alpha must be a finite number >= 0, got nan"):
        Stronger(alpha=math.nan)
    with pytest.raises(TypeError, match=r"unknown hyperparameter.*valid: \['alpha'"):
        get("ogm_ge", beta=1.0)
    with pytest.raises(ValueError, match="modulation_end must be None or >= modulation_start"):
        get("ogm_ge", modulation_start=5, modulation_end=2)


# ================================================================ 3. fit's arguments
FIT_CASES = [
    # (id, fit keyword arguments, exception, fragment of the message)
    ("epochs=0", {"epochs": 0}, ValueError, "epochs must be an int >= 1, got 0"),
    ("epochs=-3", {"epochs": -3}, ValueError, "epochs must be an int >= 1"),
    ("epochs=2.0", {"epochs": 2.0}, TypeError, "epochs must be an int >= 1, got 2.0 (float)"),
    ("epochs=True", {"epochs": True}, TypeError, "epochs must be an int >= 1, got True (bool)"),
    ("epochs=nan", {"epochs": math.nan}, TypeError, "epochs must be an int"),
    ("epochs=str", {"epochs": "3"}, TypeError, "epochs must be an int"),
    ("epochs=None", {"epochs": None}, TypeError, "epochs must be an int"),
    ("lr=0", {"lr": 0}, ValueError, "lr must be a finite number > 0, got 0"),
    ("lr=-0.1", {"lr": -0.1}, ValueError, "lr must be a finite number > 0"),
    ("lr=nan", {"lr": math.nan}, ValueError, "lr must be a finite number > 0, got nan"),
    ("lr=inf", {"lr": math.inf}, ValueError, "lr must be a finite number > 0, got inf"),
    ("lr=str", {"lr": "0.1"}, TypeError, "lr must be a finite number"),
    ("lr=True", {"lr": True}, TypeError, "lr must be a finite number"),
    ("lr=None", {"lr": None}, TypeError, "lr must be a finite number"),
    ("batch_size=0", {"batch_size": 0}, ValueError, "batch_size must be an int >= 1, got 0"),
    ("batch_size=-8", {"batch_size": -8}, ValueError, "batch_size must be an int >= 1"),
    ("batch_size=32.0", {"batch_size": 32.0}, TypeError, "batch_size must be an int"),
    ("batch_size=True", {"batch_size": True}, TypeError, "batch_size must be an int"),
    ("batch_size=nan", {"batch_size": math.nan}, TypeError, "batch_size must be an int"),
    ("weight_decay=-1e-4", {"weight_decay": -1e-4}, ValueError, "weight_decay must be a finite number >= 0"),
    ("weight_decay=nan", {"weight_decay": math.nan}, ValueError, "weight_decay must be a finite number >= 0"),
    ("weight_decay=inf", {"weight_decay": math.inf}, ValueError, "weight_decay must be a finite number >= 0"),
    ("weight_decay=str", {"weight_decay": "0"}, TypeError, "weight_decay must be a finite number"),
    ("seed=-1", {"seed": -1}, ValueError, "seed must be an int in [0, 2**63 - 1], got -1"),
    ("seed=1.5", {"seed": 1.5}, TypeError, "seed must be an int"),
    ("seed=True", {"seed": True}, TypeError, "seed must be an int"),
    ("seed=str", {"seed": "0"}, TypeError, "seed must be an int"),
    ("seed=2**64", {"seed": 2**64}, ValueError, "seed must be an int in [0, 2**63 - 1]"),
    ("optimizer=lion", {"optimizer": "lion"}, KeyError, "unknown optimizer 'lion'; valid: ['adam', 'adamw', 'sgd']"),
    ("optimizer=None", {"optimizer": None}, TypeError, "optimizer must be the name of one of"),
    ("optimizer=class", {"optimizer": torch.optim.SGD}, TypeError, "optimizer must be the name of one of"),
    ("eval_splits=str", {"eval_splits": "val"}, TypeError, "eval_splits must be a list or tuple of split names"),
    ("eval_splits=None", {"eval_splits": None}, TypeError, "eval_splits must be a list or tuple"),
    ("eval_splits=unknown", {"eval_splits": ("val", "valid")}, KeyError,
     "unknown split(s) ['valid'] in eval_splits; valid splits: ['test', 'train', 'val']"),
    ("eval_splits=int", {"eval_splits": ("val", 3)}, KeyError, "unknown split(s) [3]"),
    ("eval_splits=no-val", {"eval_splits": ("test",)}, ValueError, "select='val' needs 'val' in eval_splits"),
    ("eval_splits=empty", {"eval_splits": ()}, ValueError, "select='val' needs 'val' in eval_splits"),
    ("select=best", {"select": "best"}, ValueError, "select must be one of 'val', 'last', got 'best'"),
    ("select=None", {"select": None}, ValueError, "select must be one of 'val', 'last'"),
    ("progress=str", {"progress": "yes"}, TypeError, "progress must be None or True or False"),
    ("progress=1", {"progress": 1}, TypeError, "progress must be None or True or False"),
    ("callback=3", {"callback": 3}, TypeError, "callback must be None or a function"),
    ("callback=str", {"callback": "print"}, TypeError, "callback must be None or a function"),
    ("on_nonfinite=ignore", {"on_nonfinite": "ignore"}, ValueError,
     "on_nonfinite must be one of 'raise', 'record', got 'ignore'"),
    ("on_nonfinite=None", {"on_nonfinite": None}, ValueError, "on_nonfinite must be one of 'raise', 'record'"),
    ("method=unknown", {"method": "ogm"}, KeyError, "unknown method 'ogm'; valid names:"),
    ("method=class", {"method": OGMGE}, TypeError, "got the class OGMGE itself (build it first: OGMGE(...))"),
    ("method=int", {"method": 3}, TypeError, "method must be a Method instance, a registered name"),
    ("method=function", {"method": F.cross_entropy}, TypeError, "method must be a Method instance"),
    ("model=None", {"model": None}, TypeError, "model must be a MultimodalModel"),
    ("model=Linear", {"model": torch.nn.Linear(2, 2)}, TypeError,
     "model must be a MultimodalModel (e.g. mmlib.models.build_model(data)), got Linear"),
    ("model=mismatched", {"model": "audio-only"}, ValueError,
     "the model's modalities ['audio'] do not match the data's ['audio', 'visual']"),
    ("data=None", {"data": None}, TypeError, "data must be a MultimodalDataset"),
    ("data=dict", {"data": "splits"}, TypeError, "data must be a MultimodalDataset (e.g. mmlib.data.load('synthetic')), got dict"),
]


@pytest.mark.parametrize("kwargs, exc, fragment", [pytest.param(kw, exc, frag, id=i) for i, kw, exc, frag in FIT_CASES])
def test_bad_fit_argument_is_refused_before_training(data, model, kwargs, exc, fragment):
    kwargs = dict(kwargs)
    if kwargs.get("model") == "audio-only":
        kwargs["model"] = build_model(data, feature_dim=8, modalities=["audio"])
    if kwargs.get("data") == "splits":
        kwargs["data"] = dict(data.splits)
    args = {"model": model, "data": data, "method": None, "epochs": 1, "progress": False} | kwargs
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(exc) as error:
        fit(args.pop("model"), args.pop("data"), args.pop("method"), **args)
    assert fragment in str(error.value)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "the model changed before the error"


# ================================================================ 4. run's arguments
RUN_CASES = [
    ("fusion=film", {"fusion": "film"}, KeyError, "unknown fusion 'film'; valid fusions: ['concat', 'gated', 'sum']"),
    ("fusion=int", {"fusion": 3}, TypeError, "fusion must be the name of one of"),
    ("feature_dim=0", {"feature_dim": 0}, ValueError, "feature_dim must be an int >= 1, got 0"),
    ("feature_dim=-4", {"feature_dim": -4}, ValueError, "feature_dim must be an int >= 1"),
    ("feature_dim=8.0", {"feature_dim": 8.0}, TypeError, "feature_dim must be an int >= 1, got 8.0 (float)"),
    ("feature_dim=True", {"feature_dim": True}, TypeError, "feature_dim must be an int"),
    ("feature_dim=nan", {"feature_dim": math.nan}, TypeError, "feature_dim must be an int"),
    ("modalities=str", {"modalities": "audio"}, TypeError, "modalities must be None or a list of names"),
    ("modalities=unknown", {"modalities": ["pix"]}, KeyError, "unknown modalities ['pix']; valid: ['audio', 'visual']"),
    ("modalities=empty", {"modalities": []}, ValueError, "modalities must name at least one modality"),
    ("modalities=twice", {"modalities": ["audio", "audio"]}, ValueError, "each once"),
    ("method_kw=list", {"method": "ogm_ge", "method_kw": [("alpha", 0.1)]}, TypeError,
     "method_kw must be None or a mapping"),
    ("method_kw+instance", {"method": "instance", "method_kw": {"alpha": 0.1}}, ValueError,
     "method_kw {'alpha': 0.1} only applies when method is a registered name"),
    ("method_kw=nan", {"method": "ogm_ge", "method_kw": {"alpha": math.nan}}, ValueError,
     "ogm_ge: alpha must be a finite number >= 0, got nan"),
    ("method_kw=unknown", {"method": "ogm_ge", "method_kw": {"beta": 1}}, TypeError, "valid: ['alpha'"),
    ("method=int", {"method": 7}, TypeError, "run: method must be a Method instance"),
    ("method=unknown", {"method": "nope"}, KeyError, "unknown method 'nope'"),
    ("seed=-1", {"seed": -1}, ValueError, "run: seed must be an int in [0, 2**63 - 1], got -1"),
    ("seed=float", {"seed": 0.5}, TypeError, "run: seed must be an int"),
    ("option=epoch", {"epoch": 3}, TypeError, "run: unknown option(s) ['epoch']; valid:"),
    ("option=model_kw", {"model_kw": None}, TypeError, "run: unknown option(s) ['model_kw']"),
    ("model=Linear", {"model": "linear"}, TypeError, "run: model must be None or a MultimodalModel, got Linear"),
    ("build=int", {"build": 3}, TypeError, "run: build must be None or a function data -> MultimodalModel"),
    ("model+build", {"model": "built", "build": build_model}, ValueError, "pass either model="),
    ("build+feature_dim", {"build": build_model, "feature_dim": 8}, ValueError,
     "fusion and feature_dim describe the default model"),
    ("data=None", {"data": None}, TypeError, "run: data must be a MultimodalDataset"),
    ("epochs=0", {"epochs": 0}, ValueError, "fit: epochs must be an int >= 1, got 0"),
    ("lr=nan", {"lr": math.nan}, ValueError, "fit: lr must be a finite number > 0, got nan"),
    ("on_nonfinite=bad", {"on_nonfinite": "warn"}, ValueError, "on_nonfinite must be one of 'raise', 'record'"),
]


@pytest.mark.parametrize("kwargs, exc, fragment", [pytest.param(kw, exc, frag, id=i) for i, kw, exc, frag in RUN_CASES])
def test_bad_run_argument_is_refused(data, kwargs, exc, fragment):
    kwargs = {"progress": False, "epochs": 1} | dict(kwargs)
    if kwargs.get("method") == "instance":
        kwargs["method"] = get("ogm_ge")
    if kwargs.get("model") == "linear":
        kwargs["model"] = torch.nn.Linear(2, 2)
    if kwargs.get("model") == "built":
        kwargs["model"] = build_model(data, feature_dim=8)
    with pytest.raises(exc) as error:
        run(kwargs.pop("data", data), kwargs.pop("method", "baseline"), **kwargs)
    assert fragment in str(error.value)


# ================================================================ 5. divergence
class BreaksAt(Method):
    """Plain training whose loss becomes ``value`` (NaN or inf) at global step ``at``."""

    name = "breaks_at"

    def __init__(self, at: int, value: float = math.nan) -> None:
        self.at, self.value = at, value

    def loss(self, output: Output, batch) -> torch.Tensor:
        loss = super().loss(output, batch)
        return loss * self.value if self.state.step == self.at else loss


STEPS_PER_EPOCH = 3  # 72 training samples, batch 32

DIVERGENCE_CASES = [
    # (id, global step at which the loss breaks, value, expected epoch, expected step in the epoch)
    ("nan-first-step", 0, math.nan, 0, 0),
    ("nan-epoch1-step1", STEPS_PER_EPOCH + 1, math.nan, 1, 1),
    ("inf-epoch2-step0", 2 * STEPS_PER_EPOCH, math.inf, 2, 0),
    ("-inf-epoch1-step2", 2 * STEPS_PER_EPOCH - 1, -math.inf, 1, 2),
]


@pytest.mark.parametrize("at, value, epoch, step", [pytest.param(*c[1:], id=c[0]) for c in DIVERGENCE_CASES])
def test_nonfinite_loss_raises_naming_method_epoch_and_step(data, model, at, value, epoch, step):
    with pytest.raises(DivergedError) as error:
        fit(model, data, BreaksAt(at, value), epochs=4, batch_size=32, progress=False)
    e = error.value
    assert (e.method, e.epoch, e.step) == ("breaks_at", epoch, step)
    assert math.isnan(e.loss) if math.isnan(value) else e.loss == value
    assert "method 'breaks_at' diverged" in str(e) and f"epoch {epoch}, step {step}" in str(e)
    assert isinstance(e, FloatingPointError)
    if epoch > 0:  # the best validated weights before the divergence are kept
        assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("at, value, epoch, step", [pytest.param(*c[1:], id=c[0]) for c in DIVERGENCE_CASES])
def test_nonfinite_loss_recorded_as_diverged(data, model, at, value, epoch, step):
    history = fit(model, data, BreaksAt(at, value), epochs=4, batch_size=32, progress=False, on_nonfinite="record")
    assert history.status == "diverged"
    assert (history.diverged["epoch"], history.diverged["step"]) == (epoch, step)
    assert len(history.records) == epoch  # only the epochs that finished
    if epoch == 0:  # nothing validated: no score to report
        assert history.best_epoch == -1 and history.final and all(math.isnan(v) for v in history.final.values())
    else:
        val = history["val_acc"]
        assert history.best_epoch == val.index(max(val))
        assert history.final["val_acc"] == pytest.approx(max(val))
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_huge_learning_rate_diverges_with_a_clear_error(data):
    with pytest.raises(DivergedError, match=r"method 'baseline' diverged: the training loss became nan at epoch \d+"):
        run(data, "baseline", epochs=3, lr=1e6, batch_size=32, feature_dim=8, progress=False)
    history = run(data, "baseline", epochs=3, lr=1e6, batch_size=32, feature_dim=8, progress=False,
                  on_nonfinite="record").history
    assert history.status == "diverged" and history.diverged["epoch"] >= 0


def test_finite_run_is_ok(data):
    history = run(data, "baseline", epochs=1, batch_size=32, feature_dim=8, progress=False).history
    assert history.status == "ok" and history.diverged is None


def test_no_evaluation_is_allowed_with_select_last(data, model):
    history = fit(model, data, epochs=1, batch_size=32, eval_splits=(), select="last", progress=False)
    assert history.final == {} and history.best_epoch == 0 and "val_acc" not in history.records[0]


def test_nonfinite_validation_loss_is_never_selected(data, model):
    class PoisonedValidation(Method):
        """Perfect but infinite validation logits after epoch 1: accuracy 1.0, loss NaN."""

        name = "poisoned"
        poison = False

        def on_epoch_end(self, state):
            self.poison = state.epoch == 1

        def predict(self, model, batch):
            output = model(batch)
            if not self.poison:
                return output
            fused = torch.where(F.one_hot(batch.y, output.fused.shape[1]) > 0, math.inf, 0.0)
            return Output(fused, output.logits, output.features)

    history = fit(model, data, PoisonedValidation(), epochs=3, batch_size=32, progress=False)
    assert history["val_acc"][1] == 1.0 and math.isnan(history["val_loss"][1])
    assert history.best_epoch != 1 and math.isfinite(history.final["val_loss"])


def test_diverged_error_survives_pickling():
    error = pickle.loads(pickle.dumps(DivergedError("ogm_ge", 3, 7, math.inf)))
    assert (error.method, error.epoch, error.step, error.loss) == ("ogm_ge", 3, 7, math.inf)
    assert "epoch 3, step 7" in str(error)


def test_checked_classes_keep_their_signature():
    for name in methods.names():  # the checking metaclass must not hide __init__'s signature from help()
        cls = REGISTRY[name]
        assert list(inspect.signature(cls).parameters) == init_parameters(cls), name
