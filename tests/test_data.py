"""The data sets: shapes, splits, knobs, and the errors a learner sees."""

import shutil

import pytest
import torch

from mmlib.data import load, names, stratified_split
from mmlib.data.mfeat import DEFAULT_ROOT


def test_synthetic_shapes_splits_and_determinism():
    data = load("synthetic", n_samples=120, n_classes=4, seed=3)
    assert data.modality_names == ["audio", "visual"]
    assert data.input_shapes == {"audio": (1, 33, 33), "visual": (1, 16, 16)}
    assert sum(len(i) for i in data.splits.values()) == 120
    every = torch.cat(list(data.splits.values()))
    assert len(torch.unique(every)) == 120  # disjoint and complete
    again = load("synthetic", n_samples=120, n_classes=4, seed=3)
    assert torch.equal(data.modalities["audio"], again.modalities["audio"])
    assert torch.equal(data.splits["test"], again.splits["test"])
    assert not torch.equal(load("synthetic", n_samples=120, n_classes=4, seed=4).labels, data.labels)


def test_synthetic_corruption_knob_marks_the_samples():
    data = load("synthetic", n_samples=600, corruption={"audio": 0.5, "visual": 0.0})
    rate = data.info["corrupted"]["audio"].float().mean().item()
    assert 0.4 < rate < 0.6
    assert not data.info["corrupted"]["visual"].any()


def test_synthetic_more_modalities():
    data = load("synthetic", n_samples=60, n_modalities=4)
    assert data.modality_names == ["audio", "visual", "audio2", "visual2"]


@pytest.mark.parametrize("bad, message", [
    (dict(noise={"smell": 1.0}), "valid: \\['audio', 'visual'\\]"),
    (dict(n_modalities=1), "n_modalities must be an integer in \\[2, 16\\]"),
    (dict(corruption=1.5), "corruption must be a finite number in \\[0, 1\\]"),
])
def test_synthetic_bad_knobs(bad, message):
    with pytest.raises((KeyError, ValueError), match=message):
        load("synthetic", n_samples=60, **bad)


def test_stratified_split_keeps_class_proportions():
    labels = torch.arange(100) % 4
    splits = stratified_split(labels, (0.6, 0.2, 0.2), seed=0)
    for c in range(4):
        assert (labels[splits["train"]] == c).sum() == 15
        assert (labels[splits["test"]] == c).sum() == 5
    with pytest.raises(ValueError, match="sum"):
        stratified_split(labels, (0.5, 0.2, 0.2), seed=0)


def test_mfeat_views_standardised_on_train():
    data = load("mfeat", views=("kar", "mor"))
    assert data.input_shapes == {"kar": (64,), "mor": (6,)}
    assert data.n_classes == 10 and len(data.labels) == 2000
    train_mean = data.modalities["kar"][data.splits["train"]].mean(0)
    assert train_mean.abs().max() < 1e-4


def test_mfeat_unknown_view_lists_valid_ones():
    with pytest.raises(KeyError, match="valid views: \\['fac', 'fou', 'kar', 'mor', 'pix', 'zer'\\]"):
        load("mfeat", views=("fac", "colour"))


def test_mfeat_missing_and_altered_files_are_named(tmp_path):
    root = tmp_path / "mfeat"
    shutil.copytree(DEFAULT_ROOT, root)
    (root / "mfeat-zer.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match="mfeat-zer.csv.gz"):
        load("mfeat", views=("zer",), root=root)
    shutil.copy(root / "mfeat-mor.csv.gz", root / "mfeat-zer.csv.gz")
    with pytest.raises(ValueError, match="altered"):
        load("mfeat", views=("zer",), root=root)
    (root / "PROVENANCE.md").unlink()
    with pytest.raises(FileNotFoundError, match="PROVENANCE.md"):
        load("mfeat", views=("fac",), root=root)


def test_unknown_data_set_and_option_list_valid_ones():
    with pytest.raises(KeyError, match="valid names"):
        load("imagenet")
    with pytest.raises(TypeError, match="valid options: .*n_classes"):
        load("synthetic", n_clases=3)
    assert {"synthetic", "mfeat"} <= set(names())


def test_batches_cover_the_split_once():
    data = load("synthetic", n_samples=100)
    seen = torch.cat([b.index for b in data.batches("train", 16, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(torch.sort(seen).values, data.splits["train"])
    with pytest.raises(KeyError, match="valid splits"):
        next(data.batches("dev"))
