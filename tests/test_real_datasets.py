"""The CREMA-D and Kinetics-Sounds loaders, on tiny fixtures written in the authors' layouts."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mmlib.data as data
from mmlib.data import cremad, frames
from mmlib.data.frames import IMAGENET_MEAN, IMAGENET_STD
from mmlib.data.layout import holdout_split

EMOTIONS = ["NEU", "HAP", "SAD", "FEA", "DIS", "ANG"]


def write_wav(path: Path, freq: float, seconds: float = 1.3, rate: int = 16000) -> None:
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.5 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())


def write_frames(folder: Path, grey_levels: list[int], names: list[str] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"{k:05d}.jpg" for k in range(len(grey_levels))]
    for name, level in zip(names, grey_levels):
        Image.fromarray(np.full((24, 32, 3), level, dtype=np.uint8)).save(folder / name, quality=100)


def make_cremad(root: Path, n_train: int = 5, n_test: int = 2) -> dict[str, int]:
    """n_train + n_test clips per emotion; returns clip -> label index. Clip of class c: a (300+100c)-Hz tone."""
    (root / "AudioWAV").mkdir(parents=True)
    (root / "Image-01-FPS").mkdir()
    labels, lines = {}, {"train": [], "test": []}
    for c, emotion in enumerate(EMOTIONS):
        for i in range(n_train + n_test):
            clip = f"10{c}{i:02d}_IOM_{emotion}_XX"
            write_wav(root / "AudioWAV" / f"{clip}.wav", 300 + 100 * c)
            write_frames(root / "Image-01-FPS" / clip, [40 * c, 40 * c + 20, 40 * c + 10])
            lines["train" if i < n_train else "test"].append(f"{clip},{emotion}")
            labels[clip] = c
    for split, rows in lines.items():
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return labels


def make_ks(root: Path, n_classes: int = 3, n_train: int = 4, n_test: int = 2, sep: str = ",") -> dict[str, int]:
    """Kinetics-Sounds fixture: fbanks of shape 20 x 8 (frames x mel) filled with the label; 4 frames."""
    (root / "audio").mkdir(parents=True)
    (root / "visual").mkdir()
    labels, lines = {}, {"train": [], "test": []}
    for c in range(n_classes):
        for i in range(n_train + n_test):
            clip = f"yt{c}x{i:02d}_000010_000020"
            fbank = np.full((20, 8), float(c), dtype=np.float32)
            fbank[:, 0] = np.arange(20)  # marks the time axis
            np.save(root / "audio" / f"{clip}.npy", fbank)
            write_frames(root / "visual" / clip, [10, 60, 110, 160],
                         names=[f"frame_0000{t}.jpg" for t in range(1, 5)])
            row = f"{clip},10,{c}" if sep == "," else f"{clip} {c}"
            lines["train" if i < n_train else "test"].append(row)
            labels[clip] = c
    for split, rows in lines.items():
        (root / f"my_{split}.txt").write_text("\n".join(rows) + "\n")
    return labels


@pytest.fixture(scope="module")
def cremad_root(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("cremad")
    return root, make_cremad(root)


@pytest.fixture(scope="module")
def default_cremad(cremad_root) -> data.MultimodalDataset:
    return load_small_cremad(cremad_root[0])


def load_small_cremad(root: Path, **opts) -> data.MultimodalDataset:
    """Small frames, no progress bar, and a val share that leaves the 5-clip classes a val clip."""
    opts = {"image_size": 16, "val_fraction": 0.4, **opts}
    return data.load("cremad", root=root, progress=False, **opts)


def class_counts(labels: torch.Tensor, n: int) -> list[int]:
    return torch.bincount(labels, minlength=n).tolist()


# ---------------------------------------------------------------- CREMA-D: contents


def test_cremad_shapes_and_labels(cremad_root, default_cremad):
    labels, ds = cremad_root[1], default_cremad
    assert ds.classes == EMOTIONS
    assert ds.input_shapes == {"audio": (1, 257, 188), "visual": (3, 16, 16)}
    assert [labels[c] for c in ds.info["clips"]] == ds.labels.tolist()
    assert torch.isfinite(ds.modalities["audio"]).all() and torch.isfinite(ds.modalities["visual"]).all()
    assert ds.modalities["audio"].dtype == torch.float32 and ds.modalities["audio"].device.type == "cpu"


def test_cremad_splits_disjoint_stratified_and_test_is_test_csv(cremad_root):
    root, _ = cremad_root
    ds = load_small_cremad(root, val_fraction=0.4)
    train, val, test = (set(ds.splits[s].tolist()) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == set(range(len(ds.labels)))
    test_csv = [line.split(",")[0] for line in (root / "test.csv").read_text().split()]
    assert sorted(ds.info["clips"][i] for i in test) == sorted(test_csv)
    assert class_counts(ds.labels[ds.splits["val"]], 6) == [2] * 6  # round(0.4 * 5) of each class
    assert class_counts(ds.labels[ds.splits["train"]], 6) == [3] * 6


def test_cremad_val_cut_is_seeded(cremad_root):
    root, _ = cremad_root
    a, b = load_small_cremad(root, seed=1, val_fraction=0.4), load_small_cremad(root, seed=1, val_fraction=0.4)
    c = load_small_cremad(root, seed=2, val_fraction=0.4)
    assert torch.equal(a.splits["val"], b.splits["val"]) and torch.equal(a.modalities["audio"], b.modalities["audio"])
    assert not torch.equal(a.splits["val"], c.splits["val"])


def test_cremad_spectrogram_peaks_at_the_tone_and_fills_three_seconds(default_cremad):
    ds = default_cremad
    for index in (0, len(ds.labels) - 1):
        spectrogram = ds.modalities["audio"][index, 0]
        freq = 300 + 100 * int(ds.labels[index])
        expected_bin = round(freq * cremad.N_FFT / cremad.SAMPLE_RATE)
        assert abs(int(spectrogram.mean(1).argmax()) - expected_bin) <= 1
        # the 1.3-s clip is tiled: the tone is present in the last column too, far above silence
        assert spectrogram[:, -1].max() > math.log(1e-7) + 10


def test_audio_of_silence_short_clips_and_loud_input():
    def spectrogram(samples, rate):
        return cremad.log_spectrogram(cremad.three_seconds(samples, rate).unsqueeze(0))[0]

    silent = spectrogram(np.zeros(1000), 16000)
    assert silent.shape == (1, 257, 188) and torch.allclose(silent, torch.full_like(silent, math.log(1e-7)))
    short = cremad.three_seconds(np.arange(1, 101) / 100, 22050)  # 100 samples tiled 662 times and cut
    assert short.shape == (66150,) and torch.equal(short[100:200], short[:100])
    loud = spectrogram(np.full(22050, 5.0), 22050)  # clipped to 1 before the STFT
    ones = spectrogram(np.full(22050, 1.0), 22050)
    assert torch.allclose(loud, ones)
    with pytest.raises(ValueError, match="no samples"):
        cremad.three_seconds(np.zeros(0), 16000)


def test_cremad_frames_normalised_and_combined(cremad_root):
    root, _ = cremad_root
    one = load_small_cremad(root, n_frames=1, image_size=8)
    stacked = load_small_cremad(root, n_frames=2, image_size=8)
    mean = load_small_cremad(root, n_frames=2, frame_mode="mean", image_size=8)
    assert stacked.input_shapes["visual"] == (6, 8, 8) and mean.input_shapes["visual"] == (3, 8, 8)
    assert torch.allclose(mean.modalities["visual"],
                          (stacked.modalities["visual"][:, :3] + stacked.modalities["visual"][:, 3:]) / 2, atol=1e-6)
    # class c's frames have grey levels 40c, 40c+20, 40c+10: one frame -> the middle one (index 1)
    c = int(one.labels[0])
    expected = (torch.tensor([40 * c + 20] * 3) / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(one.modalities["visual"][0].mean((1, 2)), expected, atol=0.05)


def test_cremad_max_samples_is_a_seeded_subset(cremad_root):
    root, labels = cremad_root
    ds = load_small_cremad(root, max_samples=7)
    assert len(ds.splits["test"]) == 7 and len(ds.splits["train"]) + len(ds.splits["val"]) == 7
    again = load_small_cremad(root, max_samples=7)
    assert ds.info["clips"] == again.info["clips"]
    assert all(labels[c] == int(y) for c, y in zip(ds.info["clips"], ds.labels))


def test_cremad_feeds_a_model(default_cremad):
    from mmlib.models import build_model

    ds = default_cremad
    model = build_model(ds, feature_dim=8)
    out = model(ds.batch(torch.arange(4)))
    assert out.fused.shape == (4, 6) and set(out.logits) == {"audio", "visual"}


# ---------------------------------------------------------------- CREMA-D: errors


def test_cremad_missing_root_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="needs root="):
        data.load("cremad")
    with pytest.raises(FileNotFoundError, match=r"not a folder(.|\n)*AudioWAV/<clip>\.wav"):
        data.load("cremad", root=tmp_path / "nowhere")


def test_cremad_missing_csv_or_folder_is_named(tmp_path):
    make_cremad(tmp_path, n_train=1, n_test=1)
    (tmp_path / "test.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks test\.csv \(file\)(.|\n)*1088_IOM_NEU_XX,NEU"):
        load_small_cremad(tmp_path)
    (tmp_path / "test.csv").write_text("")
    (tmp_path / "Image-01-FPS").rename(tmp_path / "frames")
    with pytest.raises(FileNotFoundError, match=r"lacks Image-01-FPS \(folder\)"):
        load_small_cremad(tmp_path)


def test_cremad_missing_clip_named_or_skipped(tmp_path):
    make_cremad(tmp_path, n_train=2, n_test=1)
    (tmp_path / "AudioWAV" / "10000_IOM_NEU_XX.wav").unlink()
    for frame in (tmp_path / "Image-01-FPS" / "10100_IOM_HAP_XX").iterdir():
        frame.unlink()
    with pytest.raises(FileNotFoundError, match=r"clip '10000_IOM_NEU_XX' \(train\.csv line 1\)(.|\n)*skip_missing"):
        load_small_cremad(tmp_path)
    with pytest.warns(UserWarning, match="skipped 2 listed clip"):
        ds = load_small_cremad(tmp_path, skip_missing=True)
    assert sorted(ds.info["skipped"]) == ["10000_IOM_NEU_XX", "10100_IOM_HAP_XX"]
    assert len(ds.labels) == 6 * 3 - 2 and "10000_IOM_NEU_XX" not in ds.info["clips"]


def test_cremad_bad_rows_name_the_line_and_the_valid_labels(tmp_path):
    make_cremad(tmp_path, n_train=1, n_test=1)
    (tmp_path / "train.csv").write_text("10000_IOM_NEU_XX,NEU\n10100_IOM_HAP_XX,JOY\n")
    with pytest.raises(ValueError, match=r"train\.csv line 2(.|\n)*'JOY'(.|\n)*NEU"):
        load_small_cremad(tmp_path)
    (tmp_path / "train.csv").write_text("10000_IOM_NEU_XX;NEU\n")
    with pytest.raises(ValueError, match=r"train\.csv line 1(.|\n)*need 2"):
        load_small_cremad(tmp_path)
    (tmp_path / "train.csv").write_text("\n")
    with pytest.raises(ValueError, match="lists no clips"):
        load_small_cremad(tmp_path)


def test_cremad_clip_in_both_lists_is_an_error(tmp_path):
    make_cremad(tmp_path, n_train=1, n_test=1)
    (tmp_path / "test.csv").write_text("10000_IOM_NEU_XX,NEU\n")
    with pytest.raises(ValueError, match="both the train and the test list"):
        load_small_cremad(tmp_path)


def test_unknown_option_and_bad_values_list_the_valid_ones(cremad_root):
    root, _ = cremad_root
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['fps'\](.|\n)*'n_frames'"):
        data.load("cremad", root=root, fps=2)
    with pytest.raises(ValueError, match=r"valid modes: \['stack', 'mean'\]"):
        load_small_cremad(root, frame_mode="max")
    with pytest.raises(ValueError, match=r"val_fraction must be a finite number in \(0, 1\)"):
        load_small_cremad(root, val_fraction=1.0)
    assert "kinetics_sounds" in data.names() and "max_samples" in data.options("kinetics_sounds")


# ---------------------------------------------------------------- Kinetics-Sounds


@pytest.mark.parametrize("sep", [",", " "])
def test_ks_both_list_formats(tmp_path, sep):
    labels = make_ks(tmp_path, sep=sep)
    ds = data.load("kinetics_sounds", root=tmp_path, image_size=8, val_fraction=0.25, progress=False)
    assert ds.n_classes == 31 and ds.classes[30] == "30"
    assert ds.input_shapes == {"audio": (1, 8, 20), "visual": (9, 8, 8)}  # fbank transposed; 3 stacked frames
    assert [labels[c] for c in ds.info["clips"]] == ds.labels.tolist()
    # the fbank was filled with the label, its first mel bin with the frame index
    assert torch.equal(ds.modalities["audio"][:, 0, 1, 0], ds.labels.float())
    assert torch.equal(ds.modalities["audio"][0, 0, 0], torch.arange(20.0))
    assert class_counts(ds.labels[ds.splits["val"]], 3) == [1, 1, 1]
    assert class_counts(ds.labels[ds.splits["test"]], 3) == [2, 2, 2]


def test_ks_frames_are_segment_middles_in_numeric_order(tmp_path):
    make_ks(tmp_path, n_classes=1, n_train=2, n_test=1)
    clip = tmp_path / "visual" / "yt0x00_000010_000020"
    for frame in clip.iterdir():
        frame.unlink()
    write_frames(clip, [0, 40, 80, 120, 160, 200, 240, 250, 250, 255, 30],
                 names=[f"frame_0000{t}.jpg" for t in range(1, 12)])  # frame_000010.jpg must follow frame_00009.jpg
    ds = data.load("kinetics_sounds", root=tmp_path, image_size=8, n_frames=2, val_fraction=0.5, progress=False)
    visual = ds.modalities["visual"][ds.info["clips"].index(clip.name)]
    levels = (visual.view(2, 3, 8, 8).mean((2, 3)) * torch.tensor(IMAGENET_STD) + torch.tensor(IMAGENET_MEAN)) * 255
    assert torch.allclose(levels[:, 0], torch.tensor([80.0, 250.0]), atol=3)  # indices 2 and 8 of 11


def test_ks_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"not a folder(.|\n)*audio/<clip>\.npy"):
        data.load("kinetics_sounds", root=tmp_path / "absent")
    make_ks(tmp_path, n_classes=2, n_train=2, n_test=1)
    with pytest.raises(FileNotFoundError, match=r"lacks train\.txt \(file\)"):
        data.load("kinetics_sounds", root=tmp_path, train_list="train.txt", progress=False)
    (tmp_path / "audio" / "yt1x01_000010_000020.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"clip 'yt1x01_000010_000020' \(my_train\.txt line 4\)"):
        data.load("kinetics_sounds", root=tmp_path, image_size=8, val_fraction=0.5, progress=False)
    (tmp_path / "my_train.txt").write_text("yt0x00_000010_000020,10,31\n")
    with pytest.raises(ValueError, match=r"my_train\.txt line 1(.|\n)*out of range; valid labels: 0\.\.30"):
        data.load("kinetics_sounds", root=tmp_path, val_fraction=0.5, progress=False)
    (tmp_path / "my_train.txt").write_text("yt0x00_000010_000020 guitar\n")
    with pytest.raises(ValueError, match="not an integer"):
        data.load("kinetics_sounds", root=tmp_path, val_fraction=0.5, progress=False)
    (tmp_path / "my_train.txt").write_text("yt0x00_000010_000020,10,0\nyt0x01_000010_000020,10,0\n")
    np.save(tmp_path / "audio" / "yt0x00_000010_000020.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"expected 2-D"):
        data.load("kinetics_sounds", root=tmp_path, val_fraction=0.5, progress=False)


# ---------------------------------------------------------------- shared helpers


def test_segment_middles_and_natural_sort():
    assert frames.segment_middles(10, 2) == [2, 7]
    assert frames.segment_middles(1, 3) == [0, 0, 0]
    assert frames.segment_middles(5, 1) == [2]
    with pytest.raises(ValueError):
        frames.segment_middles(0, 1)
    assert sorted(["frame_000010", "frame_00009", "frame_00001"], key=frames.natural_key) == \
        ["frame_00001", "frame_00009", "frame_000010"]


def test_holdout_split_keeps_every_class_in_train():
    labels = torch.tensor([0, 0, 1, 1, 1, 1, 2])
    train, val = holdout_split(labels, 0.5, seed=0)
    assert class_counts(labels[train], 3) == [1, 2, 1] and class_counts(labels[val], 3) == [1, 2, 0]
    train, val = holdout_split(labels, 0.0, seed=0)
    assert len(val) == 0 and torch.equal(train, torch.arange(7))


def test_read_wav_scales_integer_pcm_to_unit_range(tmp_path):
    write_wav(tmp_path / "tone.wav", 440.0, seconds=0.1)
    samples, rate = cremad.read_wav(tmp_path / "tone.wav")
    assert rate == 16000 and abs(float(np.abs(samples).max()) - 0.5) < 0.01
