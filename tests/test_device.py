"""Devices (mmlib.devices): fit, run and the benchmark take device=; on the CPU nothing changes.

CI has no GPU: the CUDA path is checked for its errors (a clear one where CUDA is missing)
and, where a GPU is visible, for training there at all.
"""

import pytest
import torch

import mmlib.benchmark as B
from mmlib import devices
from mmlib.data import load
from mmlib.train import run

FIT = {"epochs": 2, "batch_size": 32, "progress": False}


@pytest.fixture(scope="module")
def tiny():
    return load("synthetic", n_samples=120)


def test_default_device_is_cuda_when_visible_else_cpu(monkeypatch):
    monkeypatch.delenv(devices.ENV, raising=False)
    assert devices.default_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(devices.ENV, "cpu")
    assert devices.default_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is missing")
def test_cuda_without_a_gpu_is_a_clear_error(tiny, monkeypatch):
    with pytest.raises(ValueError, match=r"device 'cuda': CUDA is not available; available here: cpu"):
        run(tiny, "baseline", device="cuda", **FIT)
    monkeypatch.setenv(devices.ENV, "cuda:1")
    with pytest.raises(ValueError, match=r"MMLIB_DEVICE='cuda:1': device 'cuda:1': CUDA is not available"):
        devices.default_device()


@pytest.mark.parametrize("bad, exc, fragment", [
    ("gpu", ValueError, "unknown device 'gpu'; valid: 'cpu', 'cuda', 'cuda:N'"),
    ("meta", ValueError, "the course trains on 'cpu' or 'cuda[:N]' only"),
    (0, TypeError, "device must be None, a string such as 'cpu' or 'cuda:0', or a torch.device; got 0"),
])
def test_bad_device_lists_the_valid_ones(bad, exc, fragment):
    with pytest.raises(exc) as error:
        devices.resolve_device(bad)
    assert fragment in str(error.value)


@pytest.mark.parametrize("method", ["baseline", "ogm_ge", "opm", "pmr", "mla", "sample_valuation", "amco"])
def test_explicit_cpu_is_bit_identical_to_the_default(tiny, method, monkeypatch):
    """device='cpu' and the CPU default train the same numbers, for methods that draw or make tensors."""
    monkeypatch.setenv(devices.ENV, "cpu")
    default = run(tiny, method, seed=3, **FIT)
    explicit = run(tiny, method, seed=3, device=torch.device("cpu"), **FIT)
    assert default.history.records == explicit.history.records
    for (name, a), (_, b) in zip(default.model.state_dict().items(), explicit.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_dataset_to_keeps_splits_on_the_cpu_and_returns_itself_when_there(tiny):
    assert tiny.to("cpu") is tiny
    assert all(i.device.type == "cpu" for i in tiny.splits.values())


def test_benchmark_rows_say_where_and_how_long_and_device_is_not_in_the_key(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv(devices.ENV, "cpu")
    default = B.benchmark({"tiny": tiny}, ["baseline"], [0], out=tmp_path / "a.csv", epochs=1)
    explicit = B.benchmark({"tiny": tiny}, ["baseline"], [0], out=tmp_path / "b.csv", epochs=1, device="cpu")
    assert default["settings"].tolist() == explicit["settings"].tolist()  # where it ran is not what it is
    row = B.load_log(tmp_path / "b.csv")[0]
    assert row["device"] == "cpu" and row["host"] and row["seconds"] > 0
    assert default.drop(columns="seconds").equals(explicit.drop(columns="seconds"))
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        B.benchmark({"tiny": tiny}, ["baseline"], [0], epochs=1, device="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible: the CUDA path is tested where one is")
def test_training_on_cuda_agrees_with_the_cpu_to_float_precision(tiny):
    for method in ["baseline", "ogm_ge", "opm", "pmr", "mla", "sample_valuation", "amco", "umt"]:
        result = run(tiny, method, seed=0, device="cuda", **FIT)
        assert next(result.model.parameters()).device.type == "cuda"
        assert result.history.final["test_acc"] >= 0
