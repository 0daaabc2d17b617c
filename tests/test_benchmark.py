"""Tests of the benchmark runner (mmlib.benchmark) and its tables (mmlib.results): resuming, n/a and diverged
runs, the log, tables, the frontier.

Bad input, killed runs, two writers and the lock live in tests/robustness/test_benchmark_faults.py.
"""

import inspect
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import mmlib
import mmlib.benchmark as B
import mmlib.benchmark.log as L
import mmlib.benchmark.pool as P
import mmlib.results as R
from mmlib import data as D
from mmlib import train as T
from mmlib.methods import REGISTRY, Method
from mmlib.train import DivergedError

FIT = {"epochs": 2, "batch_size": 32}
METHODS = ["baseline", "ogm_ge", "rollingq"]
RESULT_COLUMNS = ["status", "best_epoch", "val_acc", "test_acc", "test_f1", "test_acc_audio", "test_acc_visual",
                  "shapley_audio", "shapley_visual", "imbalance"]


@pytest.fixture(scope="module")
def tiny():
    return D.load("synthetic", n_samples=150)


class Interrupted(Exception):
    pass


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal tables, except wall time."""
    cols = [c for c in a.columns if c != "seconds"]
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), b[cols].reset_index(drop=True))


# --------------------------------------------------------------------------- the frontier
def test_pareto_frontier_on_hand_made_points():
    acc = [0.9, 0.8, 0.95, 0.7, 0.85]
    imb = [0.5, 0.2, 0.9, 0.1, 0.6]
    # 0.85/0.6 is dominated by 0.9/0.5; every other point trades accuracy for balance
    assert R.pareto_frontier(acc, imb).tolist() == [True, True, True, True, False]


def test_pareto_frontier_ties_nan_and_edge_cases():
    assert R.pareto_frontier([0.8, 0.8], [0.3, 0.3]).tolist() == [True, True]  # identical: neither dominates
    assert R.pareto_frontier([0.8, 0.8], [0.3, 0.4]).tolist() == [True, False]  # same accuracy, less balanced
    assert R.pareto_frontier([0.8, 0.9], [0.3, 0.3]).tolist() == [False, True]  # same balance, less accurate
    nan = R.pareto_frontier([0.99, math.nan, 0.5], [0.0, 0.0, math.nan])
    assert nan.tolist() == [True, False, False]
    assert R.pareto_frontier([math.nan, 0.1], [0.0, 0.9]).tolist() == [False, True]  # NaN dominates nothing
    assert R.pareto_frontier([math.inf, 0.1], [0.0, 0.9]).tolist() == [False, True]  # nor does inf
    assert R.pareto_frontier([0.9, 0.1], [-math.inf, 0.9]).tolist() == [False, True]
    assert R.pareto_frontier([0.5], [0.5]).tolist() == [True]
    assert R.pareto_frontier([], []).tolist() == []
    with pytest.raises(ValueError, match="same length"):
        R.pareto_frontier([0.1, 0.2], [0.1])


def test_pareto_frontier_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        acc, imb = rng.integers(0, 5, 12) / 4, rng.integers(0, 5, 12) / 4  # many ties
        want = [not any(acc[j] >= acc[i] and imb[j] <= imb[i] and (acc[j] > acc[i] or imb[j] < imb[i])
                        for j in range(12)) for i in range(12)]
        assert R.pareto_frontier(acc, imb).tolist() == want


# --------------------------------------------------------------------------- running and resuming
def test_interrupted_benchmark_resumes_without_recomputing(tiny, tmp_path, monkeypatch):
    seeds = (0, 1)
    reference = B.benchmark({"toy": tiny}, METHODS, seeds, out=tmp_path / "full.csv", **FIT)
    assert len(reference) == len(METHODS) * len(seeds)

    out = tmp_path / "interrupted.csv"
    finished = []

    def stop_after_two(row):
        finished.append((row["method"], row["seed"]))
        if len(finished) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        B.benchmark({"toy": tiny}, METHODS, seeds, out=out, on_row=stop_after_two, **FIT)
    assert len(B.load_log(out)) == 2  # both finished runs were saved before the interruption

    executed = []
    real = P._run_one

    def counting(data, job, key, fit_kw):
        executed.append((job.label, job.seed))
        return real(data, job, key, fit_kw)

    monkeypatch.setattr(P, "_run_one", counting)
    resumed = B.benchmark({"toy": tiny}, METHODS, seeds, out=out, **FIT)
    everything = [(m, s) for m in METHODS for s in seeds]
    assert sorted(executed) == sorted(set(everything) - set(finished))  # only the missing runs
    _same(resumed, reference)
    _same(pd.read_csv(out), pd.read_csv(tmp_path / "full.csv"))

    executed.clear()
    again = B.benchmark({"toy": tiny}, METHODS, seeds, out=out, **FIT)
    assert executed == []  # nothing is recomputed once finished
    _same(again, reference)
    assert len(B.load_log(out)) == len(everything)


def test_changed_settings_are_new_runs(tiny, tmp_path, monkeypatch):
    out = tmp_path / "b.csv"
    first = B.benchmark({"toy": tiny}, ["baseline"], [0], out=out, **FIT)
    executed = []
    real = P._run_one
    monkeypatch.setattr(P, "_run_one", lambda *a: executed.append(a[1].label) or real(*a))
    second = B.benchmark({"toy": tiny}, ["baseline"], [0], out=out, epochs=3, batch_size=32)
    assert executed == ["baseline"]
    assert first["settings"].iloc[0] != second["settings"].iloc[0]
    third = B.benchmark({"toy": tiny}, {"baseline": ("ogm_ge", {"alpha": 0.1})}, [0], out=out, **FIT)
    assert third["settings"].iloc[0] not in (first["settings"].iloc[0], second["settings"].iloc[0])


def test_torn_last_line_is_dropped_and_rerun(tiny, tmp_path):
    out = tmp_path / "t.csv"
    full = B.benchmark({"toy": tiny}, ["baseline"], [0, 1], out=out, **FIT)
    log = out.with_suffix(".jsonl")
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + lines[1][: len(lines[1]) // 2])  # a crash in the middle of the second write
    with pytest.warns(B.CorruptLogWarning, match=f"{log}, line 2 is incomplete"):
        assert len(B.load_log(out)) == 1
    with pytest.warns(B.CorruptLogWarning, match="line 2 is incomplete .* removed"):
        again = B.benchmark({"toy": tiny}, ["baseline"], [0, 1], out=out, **FIT)
    _same(again, full)
    assert [json.loads(line)["seed"] for line in log.read_text().splitlines()] == [0, 1]  # no glued lines


def test_a_corrupt_line_in_the_middle_is_skipped_and_every_valid_row_kept(tiny, tmp_path, monkeypatch):
    out = tmp_path / "c.csv"
    full = B.benchmark({"toy": tiny}, ["baseline"], [0, 1, 2], out=out, **FIT)
    log = out.with_suffix(".jsonl")
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + b'{"dataset": "toy", "meth\xff\x00 garbage\n' + lines[1] + b"[1, 2]\n" + lines[2])
    with pytest.warns(B.CorruptLogWarning) as caught:
        rows = B.load_log(out)
    assert [r["seed"] for r in rows] == [0, 1, 2]  # the rows before and after the bad lines
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and all(str(log) in m for m in messages)
    assert "line 2 is not valid JSON" in messages[0] and "line 4 is not a run" in messages[1]

    executed = []
    real = P._run_one
    monkeypatch.setattr(P, "_run_one", lambda *a: executed.append(a[1].seed) or real(*a))
    with pytest.warns(B.CorruptLogWarning):
        again = B.benchmark({"toy": tiny}, ["baseline"], [0, 1, 2], out=out, **FIT)
    assert executed == []  # all three valid rows reused
    _same(again, full)
    assert len(log.read_bytes().splitlines()) == 5  # the bad lines are left for a person to look at


def test_appends_are_one_whole_line_per_run_flushed_to_disk(tiny, tmp_path, monkeypatch):
    writes, syncs = [], []
    real_write, real_fsync = L.os.write, L.os.fsync
    monkeypatch.setattr(L.os, "write", lambda fd, data: writes.append(bytes(data)) or real_write(fd, data))
    monkeypatch.setattr(L.os, "fsync", lambda fd: syncs.append(fd) or real_fsync(fd))
    out = tmp_path / "w.csv"
    B.benchmark({"toy": tiny}, ["baseline"], [0, 1], out=out, **FIT)
    rows = [w for w in writes if w.startswith(b'{"dataset"')]
    assert len(rows) == 2 and all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in rows)
    assert b"".join(rows) == out.with_suffix(".jsonl").read_bytes()
    assert len(syncs) >= 2


def test_rows_have_every_measure_and_not_applicable_methods_are_na(tiny):
    table = B.benchmark({"toy": tiny}, METHODS, [0], **FIT)
    assert list(table["method"]) == METHODS
    ok = table[table["status"] == "ok"]
    assert set(RESULT_COLUMNS) <= set(table.columns)
    assert ok[RESULT_COLUMNS[1:]].notna().all().all()
    assert ((ok["test_f1"] >= 0) & (ok["test_f1"] <= 1)).all()
    assert (ok["seconds"] > 0).all()
    na = table[table["method"] == "rollingq"].iloc[0]
    assert na["status"] == "n/a" and "transformer" in na["note"] and math.isnan(na["test_acc"])
    assert list(table["family"]) == ["baseline", "optimization", "feed-forward"]


def test_a_learners_method_subclass_runs(tiny):
    class HalfLoss(Method):
        name = "half_loss"
        family = "learning objective"

        def __init__(self, factor: float = 0.5) -> None:
            self.factor = factor

        def loss(self, output, batch):
            return self.factor * super().loss(output, batch)

    specs = {"mine": HalfLoss, "mine_2": (HalfLoss, {"factor": 2.0})}
    table = B.benchmark({"toy": tiny}, specs, [0], **FIT)
    assert list(table["status"]) == ["ok", "ok"] and list(table["family"]) == ["learning objective"] * 2
    assert table["settings"].nunique() == 2
    _same(B.benchmark({"toy": tiny}, specs, [0], workers=2, **FIT), table)  # a local class reaches the workers


def test_an_error_in_a_worker_is_raised_not_hidden(tiny):
    class Broken(Method):
        name = "broken"

        def loss(self, output, batch):
            raise RuntimeError("a bug in a method")

    with pytest.raises(RuntimeError, match="a bug in a method"):
        B.benchmark({"toy": tiny}, {"b": Broken, "b2": Broken}, [0, 1], workers=2, **FIT)
    with pytest.raises(RuntimeError, match="a bug in a method"):
        B.benchmark({"toy": tiny}, {"b": Broken}, [0], **FIT)


def test_bad_methods_list_the_valid_ones(tiny):
    with pytest.raises(KeyError, match="valid names"):
        B.benchmark({"toy": tiny}, ["not_a_method"], [0], **FIT)
    with pytest.raises(TypeError, match="valid"):
        B.benchmark({"toy": tiny}, {"x": ("baseline", {"nope": 1})}, [0], **FIT)
    with pytest.raises(TypeError, match="Method subclass"):
        B.benchmark({"toy": tiny}, {"x": 42}, [0], **FIT)


def test_parallel_workers_give_the_same_rows(tiny, tmp_path):
    one = B.benchmark({"toy": tiny}, ["baseline", "ogm_ge"], [0, 1], **FIT)
    two = B.benchmark({"toy": tiny}, ["baseline", "ogm_ge"], [0, 1], workers=2, out=tmp_path / "p.csv", **FIT)
    _same(one, two)


# --------------------------------------------------------------------------- tables
def _fake_table() -> pd.DataFrame:
    rows = []
    spec = {"baseline": ("baseline", 0.80, 0.9), "zeta": ("data input", 0.85, 0.4), "alpha": ("optimization", 0.70, 0.2),
            "beta": ("optimization", 0.90, 0.5), "gone": ("feed-forward", math.nan, math.nan),
            "ctrl": ("control", 0.86, 0.6)}
    for d in ("d1", "d2"):
        for m, (fam, acc, imb) in spec.items():
            for s in range(3):
                status = "n/a" if m == "gone" else "ok"
                rows.append({"dataset": d, "method": m, "family": fam, "seed": s, "status": status,
                             "test_acc": acc + 0.01 * s, "imbalance": imb, "test_f1": acc, "seconds": 1.0})
    return pd.DataFrame(rows)


def test_summary_orders_baseline_first_then_families_and_marks_na():
    summary = R.summary_table(_fake_table())
    assert list(summary.loc["d1"].index.get_level_values("method")) == ["baseline", "ctrl", "zeta", "gone", "alpha", "beta"]
    assert summary.loc[("d1", "feed-forward", "gone"), "test_acc"] == "n/a"
    assert summary.loc[("d1", "baseline", "baseline"), "test_acc"] == "0.810 ± 0.010"


def test_family_averages_and_frontier_table():
    table = _fake_table()
    fam = R.family_averages(table)
    assert fam.loc[("d1", "optimization"), "test_acc_mean"] == pytest.approx(0.81)
    assert fam.loc[("d1", "optimization"), "methods"] == 2
    assert fam.loc[("d1", "baseline"), "delta_test_acc"] == pytest.approx(0.0)
    assert fam.loc[("d2", "data input"), "delta_imbalance"] == pytest.approx(-0.5)
    assert "feed-forward" not in fam.loc["d1"].index  # a family whose only method was n/a has no average
    assert "control" not in fam.loc["d1"].index  # a control is one ingredient, not a family of remedies
    front = R.frontier_table(table).set_index(["dataset", "method"])
    assert front.loc["d1", "on_frontier"].to_dict() == {"baseline": False, "zeta": True, "alpha": True, "beta": True,
                                                        "ctrl": False}


def test_command_line_writes_the_table(tmp_path, capsys):
    out = tmp_path / "cli.csv"
    assert B.main(["--methods", "baseline", "--datasets", "synthetic", "--seeds", "0", "--epochs", "1",
                   "--option", "synthetic:n_samples=90", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert list(table["method"]) == ["baseline"] and table["status"].iloc[0] == "ok"
    printed = capsys.readouterr().out
    assert "1 runs" in printed and "0 of 1 runs diverged" in printed
    assert B.main(["--datasets", "synthetic", "--option", "mfeat:x=1", "--out", str(out)]) == 2
    assert "DATASET:KEY=VALUE" in capsys.readouterr().err


def test_default_out_is_under_build_benchmark_which_make_clean_keeps():
    out = B.default_out("x")
    assert out.parent.name == "benchmark" and out.parent.parent.name == "_build" and out.name == "x.csv"


# --------------------------------------------------------------------------- diverged runs
class DivergesAtStep(Method):
    """Trains like the baseline, then its loss 'becomes NaN' at a given step (raised as fit would)."""

    name = "diverges_at_step"
    family = "learning objective"

    def __init__(self, at_step: int = 2) -> None:
        self.at_step = at_step
        self.seen = 0

    def loss(self, output, batch):
        self.seen += 1
        if self.seen > self.at_step:
            raise DivergedError(self.name, 0, self.seen - 1, math.nan)
        return super().loss(output, batch)


def test_a_diverged_run_is_kept_in_the_log_and_left_out_of_means_and_the_frontier(tiny, tmp_path, monkeypatch):
    out = tmp_path / "d.csv"
    specs = {"baseline": "baseline", "blows_up": DivergesAtStep}
    table = B.benchmark({"toy": tiny}, specs, [0, 1], out=out, **FIT)
    bad = table[table["method"] == "blows_up"]
    assert list(bad["status"]) == ["diverged", "diverged"]
    assert bad["note"].str.contains("'diverges_at_step' diverged: the training loss became nan at epoch 0, "
                                    "step 2").all()
    assert bad[["test_acc", "imbalance", "val_acc"]].isna().all().all()  # no scores, not 0
    assert len(B.load_log(out)) == 4  # recorded like any finished run
    assert R.diverged_runs(table)[["method", "seed"]].values.tolist() == [["blows_up", 0], ["blows_up", 1]]
    assert R.diverged_runs(table[table["method"] == "baseline"]).empty

    assert list(R.method_means(table)["method"]) == ["baseline"]
    assert list(R.frontier_table(table)["method"]) == ["baseline"]
    assert "learning objective" not in R.family_averages(table).loc["toy"].index
    summary = R.summary_table(table)
    assert summary.loc[("toy", "learning objective", "blows_up"), "test_acc"] == "diverged"
    assert summary.loc[("toy", "learning objective", "blows_up"), "n"] == 0

    executed = []
    real = P._run_one
    monkeypatch.setattr(P, "_run_one", lambda *a: executed.append(a[1].label) or real(*a))
    again = B.benchmark({"toy": tiny}, specs, [0, 1], out=out, **FIT)
    assert executed == []  # a resume does not train a diverged run again
    _same(again, table)
    assert list(B.benchmark({"toy": tiny}, specs, [0, 1], workers=2, **FIT)["status"]) == list(table["status"])


class BreaksTheWeightsAtTheEnd(Method):
    """Trains like the baseline, then writes NaN into the weights after the last step (no loss sees it)."""

    name = "breaks_the_weights"

    def on_epoch_end(self, *args):  # (state), or (model, state) before the hooks took the state alone
        state = args[-1]
        if state.epoch == state.epochs - 1:
            with torch.no_grad():
                next(state.model.parameters()).fill_(math.nan)


def test_a_run_whose_trained_weights_are_not_finite_counts_as_diverged(tiny):
    table = B.benchmark({"toy": tiny}, {"broken": BreaksTheWeightsAtTheEnd}, [0], select="last", **FIT)
    assert list(table["status"]) == ["diverged"] and "non-finite" in table["note"].iloc[0]
    assert R.frontier_table(table).empty and len(R.diverged_runs(table)) == 1


def test_diverged_runs_never_count_even_if_their_numbers_look_good():
    table = _fake_table()
    fake = table[table["method"] == "alpha"].assign(method="nan_run", status="diverged", test_acc=0.99, imbalance=0.0)
    both = pd.concat([table, fake], ignore_index=True)
    assert "nan_run" not in set(R.frontier_table(both)["method"])
    pd.testing.assert_frame_equal(R.family_averages(both), R.family_averages(table))
    assert len(R.diverged_runs(both)) == len(fake)


FIT_RAISES = "on_nonfinite" in inspect.signature(T.fit).parameters  # mmlib.train's finite-loss check


@pytest.mark.skipif(not FIT_RAISES, reason="fit does not check the loss yet")
def test_a_learning_rate_that_diverges_is_reported_by_the_command_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "lr.csv"
    monkeypatch.setitem(REGISTRY, DivergesAtStep.name, DivergesAtStep)  # a method registered for this test
    assert B.main(["--methods", "baseline", "diverges_at_step", "--datasets", "synthetic", "--seeds", "0",
                   "--epochs", "2", "--batch-size", "16", "--lr", "10000", "--option", "synthetic:n_samples=90",
                   "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("diverged: method") == 2  # one line per run, with the error
    assert "2 of 2 runs diverged" in printed
    table = pd.read_csv(out)
    assert list(table["status"]) == ["diverged", "diverged"] and "test_acc" not in table  # no scores at all
    assert R.frontier_table(table).empty


def test_run_row_records_a_diverged_run_without_scores(tiny):
    from mmlib.experiment import run_row
    from mmlib.results import mean_std, summarize

    if not FIT_RAISES:
        pytest.skip("fit does not record divergence yet")
    row, result = run_row(tiny, "toy", "fast", "baseline", {}, 0, epochs=2, batch_size=32, lr=1e4,
                          on_nonfinite="record")
    assert row["status"] == "diverged" and "diverged" in row["note"] and "test_acc" not in row
    ok, _ = run_row(tiny, "toy", "slow", "baseline", {}, 0, epochs=1, batch_size=32)
    table = pd.DataFrame([ok, row])
    assert list(summarize(table, ["test_acc"]).index.get_level_values("method")) == ["slow"]
    assert list(mean_std(table, "test_acc").index.get_level_values("method")) == ["slow"]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_clean_keeps_the_benchmark_logs_and_clean_results_removes_them(tmp_path):
    makefile = Path(__file__).resolve().parents[1] / "Makefile"
    for path in ["_build/benchmark/07_default.jsonl", "_build/benchmark/07_default.csv", "_build/report.json",
                 "_build/html/index.html", "_build/test/notebooks/x.ipynb"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
    make = ["make", "--no-print-directory", "-f", str(makefile)]
    subprocess.run([*make, "clean"], cwd=tmp_path, check=True, capture_output=True)
    left = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "_build").rglob("*"))
    assert left == ["_build/benchmark", "_build/benchmark/07_default.csv", "_build/benchmark/07_default.jsonl"]
    subprocess.run([*make, "clean-results"], cwd=tmp_path, check=True, capture_output=True)
    assert list((tmp_path / "_build").iterdir()) == []


def test_library_hash_reads_the_library_but_not_the_course_tooling():
    from mmlib.benchmark.keys import library_sources

    names = {path.relative_to(Path(mmlib.__file__).parent).as_posix() for path in library_sources()}
    assert {"train.py", "methods/base.py", "methods/ogm.py", "benchmark/keys.py", "data/dataset.py"} <= names
    assert not any(name.startswith("course/") for name in names)
    assert not {"plots.py", "widgets.py"} & names


def test_no_hashed_module_imports_the_presentation_modules():
    """Leaving plots/widgets out of the run key is sound only while nothing a run executes imports them."""
    import re
    from mmlib.benchmark.keys import library_sources

    pattern = re.compile(r"^\s*(from\s+(mmlib|\.+)\s*import\s+.*\b(plots|widgets)\b|from\s+(mmlib)?\.*(plots|widgets)\s+import"
                         r"|import\s+mmlib\.(plots|widgets))", re.M)
    offenders = [path.name for path in library_sources() if pattern.search(path.read_text())]
    assert offenders == []


def test_counted_work_counts_steps_and_backward_passes_and_restores_torch():
    """Two optimizer steps, three backward passes (two .backward(), one autograd.grad), counted by hand."""
    from mmlib.benchmark.work import counted_work
    backward, grad = torch.autograd.backward, torch.autograd.grad
    w = torch.nn.Parameter(torch.ones(2))
    optimizer = torch.optim.SGD([w], lr=0.1)
    with counted_work() as work:
        for _ in range(2):
            optimizer.zero_grad()
            (w ** 2).sum().backward()
            optimizer.step()
        torch.autograd.grad((w ** 2).sum(), w)
    assert work == {"optimizer_steps": 2, "backward_passes": 3}
    assert torch.autograd.backward is backward and torch.autograd.grad is grad
    optimizer.step()  # outside the block: not counted
    assert work["optimizer_steps"] == 2


def test_benchmark_rows_record_work_and_the_best_test_epoch(tmp_path):
    data = D.load("synthetic", n_samples=240)
    table = B.benchmark({"toy": data}, ["baseline", "mla"], [0], out=tmp_path / "w.csv", **FIT)
    rows = table.set_index("method")
    batches = math.ceil(len(data.splits["train"]) / FIT["batch_size"])
    epochs = FIT["epochs"]
    assert rows.loc["baseline", "optimizer_steps"] == epochs * batches == rows.loc["baseline", "backward_passes"]
    assert rows.loc["mla", "optimizer_steps"] == 2 * epochs * batches  # one step per modality per batch
    assert (rows["test_acc_best_epoch"] >= rows["test_acc"] - 1e-9).all()
