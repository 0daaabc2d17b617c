"""Sample- and modality-level valuation and resampling (data-input stage).

Paper: Y. Wei, R. Feng, Z. Wang, D. Hu, "Enhancing Multimodal Cooperation via
Sample-level Modality Valuation", CVPR 2024.

**Valuation.** The contribution of modality ``m`` to sample ``i`` is its Shapley
value in the game "is the prediction right?" played by the modalities. With two
modalities ``m`` and ``o`` and a modality removed by zeroing its encoder features:

    phi_m(i) = 1/2 [v({m}) - v({})] + 1/2 [v({m, o}) - v({o})],
    v({}) = 0,  v({m}) = 1[pred_m(i) = y_i],  v({m, o}) = V_full * 1[pred_all(i) = y_i].

``V_full = 2`` (the authors' code) weighs the joint prediction by the number of
modalities in it, so a modality that does its full share scores ``phi = 1`` and the
possible values are -0.5, 0, 0.5, 1, 1.5. ``V_full = 1`` is the textbook Shapley
value that BalanceBenchmark uses (values -0.5 .. 1). The resampling thresholds
below are on the authors' scale, so ``full_value=2`` is the default.

**Sample-level resampling** (``sample_valuation``, :func:`sample_copies`). After a
warm-up, at the start of each epoch every training sample is valued, and *every*
modality of it gets its own extra copies from its own contribution; a copy for
modality ``m`` keeps ``m`` only (the other modalities removed), so ``m`` must predict
alone. With the authors' strict comparisons:

    copies(phi) = 1 if 0.4 < phi < 1;  2 if -0.1 < phi < 0.4;  3 if phi < -0.1;  else 0

(so a value exactly on -0.1, 0.4 or 1, or above 1, gets none). ``rule="weakest"``
is the course's earlier variant: only the sample's lowest-contribution modality gets
copies (ties to the first modality named).

**Modality-level resampling** (``modality_valuation``). The mean contribution of
each modality on ``int(part_ratio * N)`` training samples drawn with replacement gives
a gap ``g_m = 1 - mean phi_m``; ``int(|g_weak - g_strong| * (2/3) * alpha * N)``
training samples, drawn with replacement (no cap at ``N``), get one extra copy in
which only the modality with the larger gap is kept.

Every difference from the authors' code (GeWu-Lab/Valuate-and-Enhance-Multimodal-
Cooperation) and from BalanceBenchmark is listed in ``SampleValuation.differences``
and ``ModalityValuation.differences`` (and in :func:`mmlib.methods.ledger`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

import torch
from torch import Tensor

from ..data import Batch, MultimodalDataset
from ..metrics import shapley_values
from ..models import MultimodalModel, Output, evaluating
from ..validation import Choice, Increasing, Integer, Number
from .base import Method, feature_widths, register
from .provenance import Difference, Paper, Source

if TYPE_CHECKING:
    from ..train import TrainState

LEVELS = ("feature", "input")
THRESHOLDS = (-0.1, 0.4, 1.0)
RULES = ("each", "weakest")


# -- the pure math -----------------------------------------------------------------------------

def sample_contribution(correct_all: Tensor, correct_m: Tensor, correct_other: Tensor,
                        full_value: float = 2.0) -> Tensor:
    """Per-sample Shapley contribution of modality ``m`` in a two-modality model.

    ``phi_m = (v_m + V_full * c_all - v_other) / 2`` with ``v_m = 1[m alone is right]``,
    ``v_other = 1[the other alone is right]``, ``c_all = 1[both together are right]``
    and ``v({}) = 0``. Inputs are boolean or 0/1 tensors of the same shape.
    """
    if full_value <= 0:
        raise ValueError(f"full_value must be positive, got {full_value}")
    c_all, c_m, c_o = (torch.as_tensor(t).float() for t in (correct_all, correct_m, correct_other))
    if not (c_all.shape == c_m.shape == c_o.shape):
        raise ValueError(f"shapes differ: {tuple(c_all.shape)}, {tuple(c_m.shape)}, {tuple(c_o.shape)}")
    return (c_m + full_value * c_all - c_o) / 2


def subset_correct(model: MultimodalModel, features: Mapping[str, Tensor], labels: Tensor,
                   keep: Iterable[str]) -> Tensor:
    """``1[prediction is right]`` per sample when only the modalities in ``keep`` are present."""
    keep = set(keep)
    output = model.fuse({m: f if m in keep else torch.zeros_like(f) for m, f in features.items()})
    return (output.fused.argmax(1) == labels).float()


@torch.no_grad()
def sample_contributions(model: MultimodalModel, batch: Batch, full_value: float = 2.0) -> dict[str, Tensor]:
    """Per-sample contribution of every modality on ``batch`` (features of removed modalities zeroed).

    The value of a subset ``S`` is ``1[S's prediction is right]``, multiplied by
    ``full_value`` for the full set (``M = 2``, ``full_value = 2`` is the authors'
    ``v_all`` in {0, 2}); ``v({}) = 0``.
    """
    with evaluating(model):
        features = model.encode(batch.x)
    names = list(features)
    n = len(batch)

    def value(subset: frozenset[str]) -> Tensor:
        if not subset:
            return torch.zeros(n, device=batch.y.device)
        correct = subset_correct(model, features, batch.y, subset)
        return correct * (full_value if len(subset) == len(names) else 1.0)

    return shapley_values(value, names)


def resample_copies(contribution: Tensor, thresholds: Sequence[float] = THRESHOLDS) -> Tensor:
    """Extra copies per sample from one modality's contribution, with the authors' strict comparisons.

    ``thresholds = (t0, t1, t2)`` strictly increasing (the authors' values are (-0.1, 0.4, 1.0)):
    3 copies if ``phi < t0``, 2 if ``t0 < phi < t1``, 1 if ``t1 < phi < t2``, else 0 — so a value
    exactly on a threshold, or at or above ``t2``, gets none (as does NaN).
    """
    t0, t1, t2 = thresholds
    if not t0 < t1 < t2:
        raise ValueError(f"thresholds must increase, got {tuple(thresholds)}")
    c = torch.as_tensor(contribution).float()
    copies = torch.zeros_like(c, dtype=torch.long)
    copies[(c > t1) & (c < t2)] = 1
    copies[(c > t0) & (c < t1)] = 2
    copies[c < t0] = 3
    return copies


def weakest_modality(contributions: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Per sample: the index (into ``contributions``' order) of the lowest contribution, and its value.

    Ties go to the first modality in order.
    """
    stacked = torch.stack([torch.as_tensor(v).float() for v in contributions.values()])
    value, index = stacked.min(dim=0)
    return index, value


def sample_copies(contributions: Mapping[str, Tensor], thresholds: Sequence[float] = THRESHOLDS,
                  rule: str = "each") -> dict[str, Tensor]:
    """Per modality, the extra copies of each sample that keep that modality only.

    ``rule="each"`` (the authors' rule): every modality's copies come from its own
    contribution, ``resample_copies(contributions[m])``, so one sample can get copies for
    several modalities. ``rule="weakest"``: only the modality with the lowest contribution
    on the sample gets ``resample_copies`` of that lowest value (ties to the first modality
    in order), the others none. Any number of modalities.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not contributions:
        raise ValueError("contributions is empty")
    if rule == "each":
        return {m: resample_copies(c, thresholds) for m, c in contributions.items()}
    index, value = weakest_modality(contributions)
    copies = resample_copies(value, thresholds)
    return {m: torch.where(index == i, copies, torch.zeros_like(copies)) for i, m in enumerate(contributions)}


def modality_gaps(mean_contributions: Mapping[str, float]) -> dict[str, float]:
    """``g_m = 1 - mean phi_m``: how far each modality is from doing its full share."""
    return {m: 1.0 - float(v) for m, v in mean_contributions.items()}


def modality_resample_count(gaps: Mapping[str, float], n_samples: int, alpha: float = 1.0) -> tuple[str, int]:
    """The modality to enhance (largest gap) and how many samples to resample for it.

    ``n = int(|g_max - g_min| / 3 * 2 * alpha * N)`` as the authors compute it (truncated, in
    their order of operations, and not capped at ``N``: the copies are drawn with
    replacement). With two modalities ``g_max - g_min`` is their gap difference.
    """
    if not gaps:
        raise ValueError("gaps is empty")
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha}")
    weak = max(gaps, key=lambda m: gaps[m])
    spread = max(gaps.values()) - min(gaps.values())
    return weak, int(spread / 3 * 2 * alpha * n_samples)


# -- the batches the resampling yields -------------------------------------------------------------

@dataclass
class MaskedBatch(Batch):
    """A batch in which some samples lose some modalities: ``keep[m]`` is a per-sample 0/1 mask."""

    keep: dict[str, Tensor] = field(default_factory=dict)


def masked_batches(data: MultimodalDataset, index: Tensor, keep_only: Tensor, modalities: Sequence[str], batch_size: int,
                   generator: torch.Generator, level: str) -> Iterator[MaskedBatch]:
    """Shuffled batches of ``index``; sample ``j`` keeps all modalities if ``keep_only[j] < 0``,
    else only modality ``modalities[keep_only[j]]`` (input-level: the others' inputs are zeroed)."""
    order = torch.randperm(len(index), generator=generator)
    index, keep_only = index[order], keep_only[order]
    for start in range(0, len(index), batch_size):
        idx, only = index[start:start + batch_size], keep_only[start:start + batch_size]
        batch = data.batch(idx)
        keep = {m: ((only < 0) | (only == i)).float().to(batch.y.device) for i, m in enumerate(modalities)}
        x = batch.x
        if level == "input":
            x = {m: t * keep[m].view(-1, *([1] * (t.dim() - 1))) for m, t in x.items()}
        yield MaskedBatch(x, batch.y, batch.index, keep)


class _Resampling(Method):
    """Shared machinery: masked extra copies, feature-level removal in the forward pass."""

    family = "data input"
    paper = Paper("Wei, Feng, Wang, Hu", "Enhancing Multimodal Cooperation via Sample-level Modality Valuation",
                  "CVPR", 2024, "https://arxiv.org/abs/2309.06255")
    hyperparameter_ranges = {"warmup_epochs": Integer(ge=0), "level": Choice(LEVELS), "full_value": Number(gt=0)}

    def __init__(self, warmup_epochs: int = 2, level: str = "feature", full_value: float = 2.0) -> None:
        self.warmup_epochs = warmup_epochs
        self.level = level
        self.full_value = full_value

    def configure_model(self, model: MultimodalModel, data: MultimodalDataset) -> None:
        feature_widths(model, self.name)  # NotApplicable on token features: the valuation probes (N, d) features

    def extra_copies(self, state: "TrainState", train_index: Tensor) -> tuple[Tensor, Tensor]:
        """(sample indices, index of the one modality each copy keeps) for this epoch."""
        raise NotImplementedError

    def sample(self, state: "TrainState") -> Iterable[Batch]:
        train_index = state.data.splits["train"]
        names = state.data.modality_names
        if state.epoch < self.warmup_epochs:
            extra_index, extra_only = train_index[:0], torch.zeros(0, dtype=torch.long)
        else:
            extra_index, extra_only = self.extra_copies(state, train_index)
        self.log(resampled=float(len(extra_index)) / len(train_index))
        for i, m in enumerate(names):
            self.log(**{f"resampled_{m}": float((extra_only == i).sum()) / len(train_index)})
        index = torch.cat([train_index, extra_index])
        keep_only = torch.cat([torch.full((len(train_index),), -1, dtype=torch.long), extra_only])
        return masked_batches(state.data, index, keep_only, names, state.batch_size, state.generator, self.level)

    def forward(self, model: MultimodalModel, batch: Batch) -> Output:
        if not isinstance(batch, MaskedBatch) or self.level == "input":
            return model(batch)
        features = model.encode(batch.x)
        return model.fuse({m: f * batch.keep[m][:, None] for m, f in features.items()})


_AUTHORS = "GeWu-Lab/Valuate-and-Enhance-Multimodal-Cooperation"
_BB = "GeWu-Lab/BalanceBenchmark"
_BB_COMMIT = "39ed569712e48ed97d9999a032ba6918a2d360b1"
_BB_NOTE = "BalanceBenchmark's implementation, for the input-level removal"
_COPIES_IN_INDEX = Difference(
    "The extra copies are appended to the epoch's list of training indices and shuffled with it; the authors "
    "build a new data set object (the originals plus the copies) each epoch and shuffle that.",
    "The same epoch without rebuilding a data set from files; the sample order is the course's generator's.")
_LEVEL = Difference(
    "A copy's removed modalities are zeroed at their encoder features by default, as the authors' model does "
    "(``AVClassifier.forward`` with ``drop``); BalanceBenchmark zeroes their inputs instead.",
    "Both are offered because they are not the same (chapter 03 explains it): with ReLU encoders a zero "
    "input does not give zero features, so the input-level removal lets the removed modality speak a little.",
    "level='input'")
_WARMUP = Difference(
    "Resampling starts after ``warmup_epochs=2`` plain epochs; the authors warm up for 5 of 60 epochs.",
    "The course trains 15-20 epochs. The timing is theirs: the contributions come from the model at the end "
    "of the previous epoch.", "warmup_epochs=5")


@register
class SampleValuation(_Resampling):
    """Sample-level valuation: every modality of a sample gets extra copies, keeping it alone, from its contribution.

    Hyperparameters (default; valid range): ``warmup_epochs`` (2; an int >= 0), ``level``
    ('feature'; or 'input'), ``full_value`` (2, the authors' scale; a number > 0),
    ``thresholds`` ((-0.1, 0.4, 1.0); three strictly increasing numbers), ``rule`` ('each',
    the authors' rule: every modality from its own contribution; or 'weakest': only the
    sample's lowest-contribution modality gets copies).
    """

    name = "sample_valuation"
    hyperparameter_ranges = {"thresholds": Increasing(3), "rule": Choice(RULES)}
    sources = (
        Source(_AUTHORS, "01f7e5680fe47074c501164b51abe159c1496a36", "code/sample_level.py", "execute_modulation"),
        Source(_AUTHORS, "077648ec91f7aaf62c5a0368f8a5f074f9ff12da", "code/datasets/dataloader.py",
               "AV_KS_Dataset_sample_level"),
        Source(_AUTHORS, "077648ec91f7aaf62c5a0368f8a5f074f9ff12da", "code/models/models.py", "AVClassifier.forward"),
        Source(_BB, _BB_COMMIT, "balancemm/datasets/__init__.py", "create_dataset_sample_level", note=_BB_NOTE),
    )
    differences = (
        Difference(
            "The band of one copy is 0.4 < phi < 1.0, as in BalanceBenchmark; the authors' data set class writes "
            "0.4 < phi < 0.9.",
            "No contribution falls in [0.9, 1.0): with full_value 1 or 2 the values are multiples of 1/2 (two "
            "modalities) or 1/6 (three), so the two bands give the same copies; 1.0 reads as 'below a fair "
            "share'.", "thresholds=(-0.1, 0.4, 0.9)"),
        Difference(
            "``rule='weakest'`` (an option; the default is the authors' rule) gives copies only to each sample's "
            "lowest-contribution modality, ties to the first modality named.",
            "The course's earlier rule, kept so chapter 03 can show what the authors' per-modality rule changes "
            "(ties at phi = 0 are common on corrupted samples).", "rule='weakest'"),
        _LEVEL,
        _COPIES_IN_INDEX,
        _WARMUP,
        Difference(
            "With more than two modalities the contributions are exact Shapley values (all subsets, "
            ":func:`mmlib.metrics.shapley_values`) and each modality's copies keep that modality alone, as "
            "BalanceBenchmark does; the authors' code has two modalities.",
            "An extension; with two modalities it is their rule."),
    )

    def __init__(self, warmup_epochs: int = 2, level: str = "feature", full_value: float = 2.0,
                 thresholds: tuple[float, float, float] = THRESHOLDS, rule: str = "each") -> None:
        super().__init__(warmup_epochs, level, full_value)
        self.thresholds = tuple(thresholds)
        self.rule = rule

    def extra_copies(self, state: "TrainState", train_index: Tensor) -> tuple[Tensor, Tensor]:
        contributions = sample_contributions(state.model, state.data.batch(train_index), self.full_value)
        copies = sample_copies(contributions, self.thresholds, self.rule)
        for m, c in contributions.items():
            self.log(**{f"contribution_{m}": c.mean()})
        names = state.data.modality_names
        index = torch.cat([train_index.repeat_interleave(copies[m].to(train_index.device)) for m in names])
        only = torch.cat([torch.full((int(copies[m].sum()),), i, dtype=torch.long) for i, m in enumerate(names)])
        return index, only


@register
class ModalityValuation(_Resampling):
    """Modality-level valuation: extra copies, in proportion to the contribution gap, for the weak modality.

    Hyperparameters (default; valid range): ``warmup_epochs`` (2; an int >= 0), ``level``
    ('feature' or 'input'), ``full_value`` (2; a number > 0), ``alpha`` (1.0, scales the
    number of copies; a number >= 0), ``part_ratio`` (0.2 of the training set is valued; in (0, 1]).
    """

    name = "modality_valuation"
    hyperparameter_ranges = {"alpha": Number(ge=0), "part_ratio": Number(gt=0, le=1)}
    sources = (
        Source(_AUTHORS, "077648ec91f7aaf62c5a0368f8a5f074f9ff12da", "code/modality_level.py", "execute_modulation"),
        Source(_AUTHORS, "077648ec91f7aaf62c5a0368f8a5f074f9ff12da", "code/datasets/dataloader.py",
               "AV_KS_Dataset_modality_level"),
        Source(_BB, _BB_COMMIT, "balancemm/datasets/__init__.py", "create_dataset_modality_level", note=_BB_NOTE),
    )
    differences = (
        Difference(
            "Only the ``int(part_ratio * N)`` sampled training samples (drawn with replacement) are valued; the "
            "authors value the whole training set and then average over the sampled ones. At least one sample "
            "is valued.",
            "The same mean for less work. The floor of one avoids the authors' division by zero when "
            "part_ratio * N < 1."),
        _LEVEL,
        _COPIES_IN_INDEX,
        _WARMUP,
        Difference(
            "With more than two modalities the modality with the largest gap is enhanced and the copy count uses "
            "the largest minus the smallest gap; the authors' code has two modalities. BalanceBenchmark's version "
            "differs also for two: it sums |g_m - g_o| over both orders (twice the authors' count) and adds each "
            "drawn sample once per modality.",
            "An extension that is exactly the authors' rule with two modalities; the course follows the "
            "authors' code, not BalanceBenchmark's, where they disagree."),
    )

    def __init__(self, warmup_epochs: int = 2, level: str = "feature", full_value: float = 2.0,
                 alpha: float = 1.0, part_ratio: float = 0.2) -> None:
        super().__init__(warmup_epochs, level, full_value)
        self.alpha = alpha
        self.part_ratio = part_ratio

    def extra_copies(self, state: "TrainState", train_index: Tensor) -> tuple[Tensor, Tensor]:
        n = len(train_index)
        part = train_index[torch.randint(n, (max(1, int(self.part_ratio * n)),), generator=state.generator)]
        contributions = sample_contributions(state.model, state.data.batch(part), self.full_value)
        means = {m: float(c.mean()) for m, c in contributions.items()}
        for m, v in means.items():
            self.log(**{f"contribution_{m}": v})
        weak, count = modality_resample_count(modality_gaps(means), n, self.alpha)
        chosen = train_index[torch.randint(n, (count,), generator=state.generator)]  # with replacement
        only = torch.full((count,), state.data.modality_names.index(weak), dtype=torch.long)
        return chosen, only
