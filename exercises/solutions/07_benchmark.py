"""Reference solutions of exercise 07 (the Pareto frontier, a method of one's own, who dominates it)."""

import math

import pandas as pd
import torch.nn.functional as F

from mmlib.methods import Method


def pareto_frontier(accuracy: list[float], imbalance: list[float]) -> list[bool]:
    """True for each point that no other point beats on both accuracy (higher) and imbalance (lower)."""
    points = list(zip(accuracy, imbalance))
    valid = [not (math.isnan(a) or math.isnan(b)) for a, b in points]
    result = []
    for i, (a_i, b_i) in enumerate(points):
        dominated = any(valid[j] and a_j >= a_i and b_j <= b_i and (a_j > a_i or b_j < b_i)
                        for j, (a_j, b_j) in enumerate(points))
        result.append(valid[i] and not dominated)
    return result


class MyMethod(Method):
    """My method: fused cross-entropy plus `weight` times each modality's own cross-entropy."""

    name = "my_method"
    family = "learning objective"
    paper = "exercise 07"

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def loss(self, output, batch):
        unimodal = sum(F.cross_entropy(z, batch.y) for z in output.logits.values())
        return F.cross_entropy(output.fused, batch.y) + self.weight * unimodal


def dominated_by(means: pd.DataFrame, method: str) -> dict[str, list[str]]:
    """Per data set, the methods that dominate `method` (empty: it is on the frontier)."""
    result = {}
    for dataset, sub in means.groupby("dataset", sort=False):
        me = sub[sub["method"] == method].iloc[0]
        acc, imb = me["test_acc_mean"], me["imbalance_mean"]
        better = sub[(sub["test_acc_mean"] >= acc) & (sub["imbalance_mean"] <= imb)
                     & ((sub["test_acc_mean"] > acc) | (sub["imbalance_mean"] < imb))]
        result[dataset] = sorted(better["method"])
    return result
