"""The adaptive poll schedule shared by the trigger, the sensor and the in-worker wait.

One test per rule of ``airflow_provider_dmjy.utils.polling`` (numbered as in its docstring), on a
fake clock and without jitter unless the test is about jitter.
"""

from __future__ import annotations

import random

import pytest

from airflow_provider_dmjy.utils.polling import PollSchedule


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def schedule(clock: Clock, poll: float = 1.0, max_poll: float = 120.0, jitter: float = 0.0) -> PollSchedule:
    return PollSchedule(poll, max_poll, jitter=jitter, rng=random.Random(0), monotonic=clock)


def looks(plan: PollSchedule, clock: Clock, *seen: tuple[float, str, float]) -> list[float]:
    """Feed ``(when, status, progress)`` looks in order; the delays the schedule answered."""
    delays = []
    for when, status, progress in seen:
        clock.now = when
        delays.append(plan.next_delay(status, progress))
    return delays


def proven(clock: Clock, poll: float = 10.0, max_poll: float = 120.0, jitter: float = 0.0) -> PollSchedule:
    """A schedule that has watched a smooth render at 1 %/s: 10, 20, 30 % ten seconds apart."""
    plan = schedule(clock, poll, max_poll, jitter)
    looks(plan, clock, (0, "processing", 10), (10, "processing", 20))
    return plan


# Rule 1: queued.
def test_pending_backs_off_by_half_up_to_the_maximum() -> None:
    clock = Clock()
    plan = schedule(clock, poll=2, max_poll=5)
    assert [plan.next_delay("pending", 0) for _ in range(4)] == [2, 3, 4.5, 5]


def test_pending_backoff_stops_at_four_intervals() -> None:
    # A long queue may be followed by a short render: a queued video is looked at every 40 s at
    # most (at the defaults), not every max_poll_interval.
    plan = schedule(Clock(), poll=10, max_poll=120)
    assert [plan.next_delay("pending", 0) for _ in range(6)] == [10, 15, 22.5, 33.75, 40, 40]


def test_a_week_of_pending_looks_does_not_overflow() -> None:
    plan = schedule(Clock(), poll=10, max_poll=120)
    delays = [plan.next_delay("pending", 0) for _ in range(5000)]
    assert delays[-1] == 40


# Rule 2: the first processing look.
def test_first_processing_poll_does_not_extrapolate_from_one_point() -> None:
    # Regression: a render seen at 2 % one second after the wait began was estimated at 49 s to go,
    # although it had started processing a moment earlier (the demo's renders took 5 s).
    clock = Clock()
    plan = schedule(clock)
    plan.next_delay("pending", 0)
    clock.now = 1.0
    assert plan.next_delay("processing", 2) == 1.0


def test_first_processing_look_is_bounded_by_the_last_pending_look() -> None:
    # Pending at 0 s, 90 % at 10 s: even the slowest render consistent with that (started right
    # after the pending look) ends 1.1 s later, so the next look is the near-finish floor, P/4.
    clock = Clock()
    plan = schedule(clock, poll=10)
    assert looks(plan, clock, (0, "pending", 0), (10, "processing", 90))[-1] == 2.5


# Rule 3: proven and unproven estimates.
def test_aims_at_a_proven_estimate() -> None:
    clock = Clock()
    plan = proven(clock)
    # 10 -> 20 -> 30 % in 10 s steps: 1 %/s twice, 70 % to go -> the next look at the finish.
    assert looks(plan, clock, (20, "processing", 30)) == [pytest.approx(70.0)]


def test_an_unproven_estimate_goes_no_further_than_a_quarter_of_the_time_watched() -> None:
    clock = Clock()
    plan = schedule(clock, poll=5, max_poll=600)
    # 0.2 %/s from one pair of points: 350 s to go, but only 100 s watched -> at most 25 s.
    assert looks(plan, clock, (0, "processing", 10), (100, "processing", 30))[-1] == 25


def test_a_jump_in_progress_is_not_proof() -> None:
    clock = Clock()
    plan = schedule(clock, poll=2, max_poll=600)
    # Steps: 10 -> 20 at 1 %/s, then a jump to 60 at 4 %/s; the estimate (16 s at 2.5 %/s over the
    # window) is not aimed at blindly: capped at a quarter of the 20 s watched.
    delays = looks(plan, clock, (0, "processing", 10), (10, "processing", 20), (20, "processing", 60))
    assert delays[-1] == 5


# Rule 4: near the finish.
def test_near_the_finish_the_gap_drops_below_poll_interval() -> None:
    clock = Clock()
    plan = proven(clock)
    # 97 % at 1 %/s: 3 s to go, shorter than poll_interval (10 s).
    assert looks(plan, clock, (20, "processing", 30), (87, "processing", 97))[-1] == pytest.approx(3.0)


def test_never_below_a_quarter_of_poll_interval() -> None:
    clock = Clock()
    plan = proven(clock)
    assert looks(plan, clock, (20, "processing", 30), (89.9, "processing", 99.9))[-1] == 2.5


def test_estimate_is_bounded_by_max_poll_interval() -> None:
    clock = Clock()
    plan = schedule(clock, poll=5, max_poll=60)
    assert looks(plan, clock, (0, "processing", 1), (1000, "processing", 2))[-1] == 60


# Rule 5: flat progress.
def test_flat_at_99_backs_off_from_a_quarter_interval_to_the_interval() -> None:
    # The file being encoded: the finish may come at any moment, so the gaps start short and
    # grow by half to poll_interval, never hammering and never sleeping minutes past the finish.
    clock = Clock()
    plan = proven(clock)
    clock.now = 20.0
    plan.next_delay("processing", 99)
    delays = []
    for _ in range(10):
        clock.now += delays[-1] if delays else 2.5
        delays.append(plan.next_delay("processing", 99))
    assert delays[0] == 2.5
    assert delays == sorted(delays)
    assert delays[-1] == 10


def test_a_hung_render_backs_off_to_max_poll_interval() -> None:
    clock = Clock()
    plan = proven(clock)
    looks(plan, clock, (20, "processing", 99))
    assert looks(plan, clock, (20 + 600, "processing", 99)) == [20.0]  # 10 min flat: a 30th of it
    assert looks(plan, clock, (20 + 7200, "processing", 99)) == [120.0]


def test_overdue_render_is_looked_at_within_poll_interval() -> None:
    clock = Clock()
    plan = proven(clock)
    looks(plan, clock, (20, "processing", 30))  # finish expected at 90 s
    # Still 30 % at 100 s: the estimate was wrong; no extrapolation, poll_interval at most.
    assert looks(plan, clock, (100, "processing", 30)) == [10.0]


def test_flat_before_the_estimate_is_looked_at_after_half_the_time_flat() -> None:
    clock = Clock()
    plan = proven(clock)
    looks(plan, clock, (20, "processing", 30))  # finish expected at 90 s
    # A plateau (stepped progress): 12 s flat -> the next look after 6 s, not at the estimate.
    assert looks(plan, clock, (32, "processing", 30)) == [6.0]


def test_flat_from_the_first_processing_look_backs_off_from_poll_interval() -> None:
    clock = Clock()
    plan = schedule(clock)
    delays = looks(plan, clock, *((float(t), "processing", 40) for t in (0, 1, 2, 3, 5)))
    assert delays == [1.0, 1.0, 1.0, 1.5, 2.5]


# Rule 6: jitter.
def test_jitter_spreads_but_respects_the_bounds() -> None:
    plan = PollSchedule(10, 20, jitter=0.1, rng=random.Random(1), monotonic=Clock())
    delays = [plan.next_delay("pending", 0) for _ in range(8)]
    assert all(10 <= delay <= 20 for delay in delays)
    assert len(set(delays)) > 1


def test_an_aimed_gap_is_jittered_by_at_most_a_tenth_of_poll_interval() -> None:
    # A 70 s aim with +/-10 % would miss the finish by up to 7 s; it may move by 1 s at most.
    delays = set()
    for seed in range(20):
        clock = Clock()
        plan = PollSchedule(10, 120, jitter=0.1, rng=random.Random(seed), monotonic=clock)
        looks(plan, clock, (0, "processing", 10), (10, "processing", 20))
        delays.add(looks(plan, clock, (20, "processing", 30))[0])
    assert all(69 <= delay <= 71 for delay in delays)
    assert len(delays) > 1


def test_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        PollSchedule(0)
