"""mmlib.studies.open_questions: the product-of-experts reference of chapter 11."""

import math

import pytest
import torch

from mmlib.decision import fit_temperature
from mmlib.metrics import imbalance
from mmlib.studies.open_questions import product_of_experts


def _logits(labels, n_classes, strength, generator):
    """Logits that point at the true class with ``strength`` plus unit noise."""
    z = torch.randn(len(labels), n_classes, generator=generator)
    z[torch.arange(len(labels)), labels] += strength
    return z


def _case(strengths, n=600, n_classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = {s: torch.randint(0, n_classes, (n,), generator=g) for s in ("val", "test")}
    logits = {s: {m: _logits(labels[s], n_classes, k, g) for m, k in strengths.items()} for s in labels}
    return logits, labels


def test_accuracy_is_the_argmax_of_the_temperature_scaled_sum():
    logits, labels = _case({"audio": 2.0, "visual": 1.0})
    poe = product_of_experts(logits["val"], labels["val"], logits["test"], labels["test"])
    t = {m: fit_temperature(z, labels["val"]) for m, z in logits["val"].items()}
    fused = sum(logits["test"][m] / t[m] for m in t)
    assert poe.temperatures == pytest.approx(t)
    assert poe.accuracy == pytest.approx((fused.argmax(1) == labels["test"]).float().mean().item())


def test_shapley_contributions_are_efficient_and_ordered_by_informativeness():
    logits, labels = _case({"audio": 3.0, "visual": 1.0})
    poe = product_of_experts(logits["val"], labels["val"], logits["test"], labels["test"])
    assert sum(poe.contributions.values()) == pytest.approx(poe.accuracy - 1 / 5)
    assert poe.contributions["audio"] > poe.contributions["visual"] > 0
    assert poe.imbalance == pytest.approx(imbalance(poe.contributions))
    # two modalities: phi_a = (v(a) - chance + v(av) - v(v)) / 2
    a, v = poe.unimodal_accuracy["audio"], poe.unimodal_accuracy["visual"]
    assert poe.contributions["audio"] == pytest.approx((a - 0.2 + poe.accuracy - v) / 2)


def test_combining_beats_either_expert_and_an_uninformative_one_adds_nothing_much():
    logits, labels = _case({"audio": 1.5, "visual": 1.5})
    poe = product_of_experts(logits["val"], labels["val"], logits["test"], labels["test"])
    assert poe.accuracy > max(poe.unimodal_accuracy.values()) + 0.05
    assert poe.imbalance < 0.1
    logits, labels = _case({"audio": 2.0, "visual": 0.0})
    poe = product_of_experts(logits["val"], labels["val"], logits["test"], labels["test"])
    assert abs(poe.contributions["visual"]) < 0.03 and poe.imbalance > 0.9


def test_temperature_matters_an_overconfident_weak_expert_is_tamed():
    logits, labels = _case({"audio": 2.5, "visual": 0.6}, seed=3)
    for split in logits:  # the weak expert speaks 20x louder than it should
        logits[split]["visual"] = 20 * logits[split]["visual"]
    poe = product_of_experts(logits["val"], labels["val"], logits["test"], labels["test"])
    raw = (sum(logits["test"].values()).argmax(1) == labels["test"]).float().mean().item()
    assert poe.temperatures["visual"] > 5 * poe.temperatures["audio"]
    assert poe.accuracy > raw + 0.05


def test_bad_input_is_refused_clearly():
    logits, labels = _case({"audio": 1.0, "visual": 1.0})
    with pytest.raises(ValueError, match="same non-empty modalities"):
        product_of_experts(logits["val"], labels["val"], {"audio": logits["test"]["audio"]}, labels["test"])
    with pytest.raises(ValueError, match="N x C"):
        product_of_experts(logits["val"], labels["val"], logits["test"], labels["test"][:10])
    assert not math.isnan(product_of_experts(logits["val"], labels["val"], logits["test"], labels["test"]).accuracy)


def test_chapter_11_knows_its_default_and_full_parameters_as_the_book_does():
    """Chapter 11's check cell picks its claims by comparing its parameters with these two sets;
    if they drifted from the parameters cell or book.yml, the default or full claims would go unchecked."""
    import ast

    from mmlib.course.book import parameter_specs, source_notebook
    from mmlib.course.bookfile import load_book

    book = load_book()
    chapter = book.chapter("11")
    tree = ast.parse(chapter.file.read_text())
    wanted = {"DEFAULT_PARAMETERS", "FULL_PARAMETERS"}
    assignments = [node for node in tree.body if isinstance(node, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id in wanted for t in node.targets)]
    namespace: dict = {}
    exec(compile(ast.Module(body=assignments, type_ignores=[]), "chapter 11", "exec"), namespace)
    defaults = {name: spec.default for name, spec in parameter_specs(source_notebook(chapter)).items()}
    assert namespace["DEFAULT_PARAMETERS"] == defaults
    assert namespace["FULL_PARAMETERS"] == {**defaults, **book.profile("full")["11"]}
