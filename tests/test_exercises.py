"""Every reference solution passes every check; every untouched stub is 'not done yet'."""

import inspect
import subprocess
import sys

import pytest

from mmlib.course.bookfile import load_book
from mmlib.course.exercises import (FAIL, NOT_DONE, PASS, exercise_paths, grade, grade_file, grade_namespace,
                             load_checks, namespace_from_module, namespace_from_notebook)

BOOK = load_book()
IDS = [c.id for c in BOOK.chapters if c.exercise is not None and c.exercise.is_file()]


@pytest.mark.parametrize("eid", IDS)
def test_reference_solution_passes_every_check(eid):
    # graded the way a learner's kernel is (forked child, time limit, tamper guard): a
    # correct answer must never be flagged by the guards
    paths = exercise_paths(eid)
    results = grade_namespace(eid, namespace_from_module(paths.solution))
    assert results, f"exercise {eid} has no checks"
    assert all(r.status == PASS for r in results), [r for r in results if r.status != PASS]


@pytest.mark.parametrize("eid", IDS)
@pytest.mark.parametrize("suffix", [".py", ".ipynb"])
def test_untouched_stub_is_not_done_yet(eid, suffix):
    path, results = grade_file(eid, exercise_paths(eid).stub.with_suffix(suffix))
    assert results and all(r.status == NOT_DONE for r in results), results


@pytest.mark.parametrize("eid", IDS)
def test_stub_defines_every_checked_function_with_the_solution_signature(eid):
    paths = exercise_paths(eid)
    stub, errors = namespace_from_notebook(paths.stub)
    assert not errors, errors
    solution = namespace_from_module(paths.solution)
    for name in load_checks(eid):
        assert name in stub, f"exercise {eid}: the stub notebook does not define {name}"
        assert inspect.signature(stub[name]) == inspect.signature(solution[name]), name
    source = paths.stub.read_text()
    assert "# --- your code below ---" in source and "# --- your code above ---" in source
    assert f'check("{eid}")' in source, f"exercise {eid} must end with a check(\"{eid}\") cell"


def test_wrong_answer_fails_with_a_hint_and_a_crash_is_a_hint_too():
    checks = load_checks("00")
    namespace = {"accuracy": lambda logits, labels: 0.25, "softmax_minus_onehot": lambda z, y: 1 / 0}
    results = {r.task: r for r in grade(checks, namespace)}
    assert results["accuracy"].status == FAIL and "expected 0.5" in results["accuracy"].message
    assert results["softmax_minus_onehot"].status == FAIL
    assert "ZeroDivisionError" in results["softmax_minus_onehot"].message
    assert results["per_modality_accuracy"].status == NOT_DONE


def test_cli_reports_per_task_without_traceback(tmp_path):
    # task 2 calls sys.exit(0) and task 3 os._exit(0): before issue 13 the first ended
    # grading with status 0 and no output
    stub = exercise_paths("00").stub
    done = tmp_path / "mine.py"
    done.write_text(stub.read_text().replace(
        'raise NotImplementedError("Task 1: accuracy")',
        "return (logits.argmax(dim=1) == labels).float().mean().item()").replace(
        'raise NotImplementedError("Task 2: softmax minus one-hot")', "import sys; sys.exit(0)").replace(
        'raise NotImplementedError("Task 3: per-modality accuracy")', "import os; os._exit(0)"))
    run = subprocess.run([sys.executable, "-m", "mmlib.course.exercises", "check", "00", str(done), "--timeout", "20"],
                         capture_output=True, text=True, cwd=BOOK.root)
    assert run.returncode == 1, run.stderr
    assert "[pass] Task 1" in run.stdout
    assert "[fail] Task 2" in run.stdout and "your code called sys.exit(0)" in run.stdout
    assert "[fail] Task 3" in run.stdout and "os._exit(0)" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert "1 of 3 tasks pass." in run.stdout


def test_cli_unknown_exercise_lists_valid_ones():
    run = subprocess.run([sys.executable, "-m", "mmlib.course.exercises", "check", "99"],
                         capture_output=True, text=True, cwd=BOOK.root)
    assert run.returncode == 2 and "valid exercises: 00" in run.stderr


def test_check_in_a_notebook_prints_the_grades(capsys):
    from mmlib.course.exercises import check

    check("00", namespace_from_module(exercise_paths("00").solution))
    assert "3 of 3 tasks pass." in capsys.readouterr().out
