"""The reference workload's sampler and the per-chapter reference (mmlib.course.reference)."""

import time

import pytest

from mmlib.course.reference import STEPS, ReferenceSampler, Sample, reference_for_window, reference_workload


def samples(*triples):
    return [Sample(*t) for t in triples]


def test_window_takes_the_median_of_the_timings_made_while_the_chapter_ran():
    timed = samples((0, 1, 9.0), (10, 11, 1.0), (20, 21, 2.0), (30, 31, 3.0), (40, 41, 100.0))
    # the chapter ran from 5 to 35: the probes at 10.5, 20.5, 30.5, not the outliers outside
    assert reference_for_window(timed, 5, 35) == 2.0


def test_a_short_chapter_uses_the_nearest_timings():
    timed = samples((0, 1, 1.0), (10, 11, 2.0), (20, 21, 3.0), (30, 31, 50.0), (40, 41, 60.0))
    # nothing inside [12, 13]: the three nearest are the ones at 10.5, 20.5 and 0.5
    assert reference_for_window(timed, 12, 13) == 2.0


def test_fewer_timings_than_the_minimum_use_them_all():
    assert reference_for_window(samples((0, 1, 4.0)), 50, 60) == 4.0
    assert reference_for_window(samples((0, 1, 4.0), (2, 3, 6.0)), 0, 10) == 5.0


def test_ties_in_distance_are_broken_by_time():
    timed = samples((0, 2, 1.0), (8, 10, 7.0), (18, 20, 5.0))
    # window [5, 5]: distances 4 (middle 1) and 4 (middle 9), then 14; all three are kept
    assert reference_for_window(timed, 5, 5) == 5.0
    assert reference_for_window(timed, 5, 5, minimum=1) == 1.0


def test_no_samples_is_a_clear_error():
    with pytest.raises(ValueError, match="no reference samples"):
        reference_for_window([], 0, 1)


def test_an_unknown_clock_is_a_clear_error():
    with pytest.raises(ValueError, match="clock must be 'wall' or 'cpu'"):
        reference_for_window(samples((0, 1, 1.0)), 0, 1, clock="gpu")


def test_the_cpu_clock_reads_the_cpu_seconds():
    timed = [Sample(0, 1, 9.0, 1.0), Sample(2, 3, 9.0, 2.0), Sample(4, 5, 9.0, 3.0)]
    assert reference_for_window(timed, 0, 5, clock="cpu") == 2.0


def test_a_reversed_window_is_a_clear_error():
    with pytest.raises(ValueError, match="must end after it starts"):
        reference_for_window(samples((0, 1, 1.0)), 5, 1)


def test_sampler_probes_in_the_background_and_scales_to_a_whole_workload():
    start = time.perf_counter()
    sampler = ReferenceSampler(lambda: time.perf_counter() - start, interval=0.05, steps=2).start()
    deadline = time.perf_counter() + 20
    while len(sampler.samples) < 2 and time.perf_counter() < deadline:
        time.sleep(0.05)
    sampler.stop()
    assert len(sampler.samples) >= 2
    first = sampler.samples[0]
    assert first.end > first.start >= 0.05
    # a probe of 2 steps is reported in units of a whole workload of STEPS steps
    whole = reference_workload(STEPS)
    assert all(whole / 5 < s.seconds < whole * 5 for s in sampler.samples), (whole, sampler.samples)
    count = len(sampler.samples)
    time.sleep(0.2)
    assert len(sampler.samples) == count, "stop() must end the probing"


def test_sampler_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval must be > 0"):
        ReferenceSampler(time.perf_counter, interval=0)
