"""The adaptive poll schedule shared by the trigger, the sensor and the in-worker wait."""

from __future__ import annotations

import random

import pytest

from airflow_provider_dmjy.utils.polling import PollSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def schedule(clock: Clock, poll: float = 1.0, max_poll: float = 120.0) -> PollSchedule:
    return PollSchedule(poll, max_poll, jitter=0.0, rng=random.Random(0), monotonic=clock)


def test_pending_backs_off_by_half_up_to_the_maximum() -> None:
    clock = Clock()
    plan = schedule(clock, poll=2, max_poll=5)
    assert [plan.next_delay("pending", 0) for _ in range(4)] == [2, 3, 4.5, 5]


def test_first_processing_poll_does_not_extrapolate_from_one_point() -> None:
    # Regression: a render seen at 2 % one second after the wait began was estimated at 49 s to go,
    # although it had started processing a moment earlier (the demo's renders took 5 s).
    clock = Clock()
    plan = schedule(clock)
    plan.next_delay("pending", 0)
    clock.now = 1.0
    assert plan.next_delay("processing", 2) == 1.0


def test_polls_near_the_estimated_finish() -> None:
    clock = Clock()
    plan = schedule(clock)
    plan.next_delay("processing", 10)
    clock.now = 2.0
    # 10 % -> 30 % in 2 s: 10 %/s, 70 % to go -> 7 s.
    assert plan.next_delay("processing", 30) == pytest.approx(7.0)


def test_estimate_is_bounded() -> None:
    clock = Clock()
    plan = schedule(clock, poll=5, max_poll=60)
    plan.next_delay("processing", 1)
    clock.now = 100.0
    assert plan.next_delay("processing", 2) == 60  # 1 %/100 s would be hours
    clock.now = 101.0
    assert plan.next_delay("processing", 99.9) == 5  # almost done: never below poll_interval


def test_stalled_progress_backs_off() -> None:
    clock = Clock()
    plan = schedule(clock)
    plan.next_delay("processing", 40)
    delays = []
    for step in range(1, 4):
        clock.now = float(step)
        delays.append(plan.next_delay("processing", 40))
    assert delays == [1.0, 1.5, 2.25]


def test_jitter_spreads_but_respects_the_bounds() -> None:
    plan = PollSchedule(10, 20, jitter=0.1, rng=random.Random(1), monotonic=Clock())
    delays = [plan.next_delay("pending", 0) for _ in range(8)]
    assert all(10 <= delay <= 20 for delay in delays)
    assert len(set(delays)) > 1


def test_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        PollSchedule(0)
