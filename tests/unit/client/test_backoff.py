"""The one backoff rule: exponential ceilings, a cap, full jitter, and a server's Retry-After."""

from __future__ import annotations

import random

import pytest

from airflow_provider_dmjy.client.backoff import Backoff, backoff_delay
from airflow_provider_dmjy.exceptions import DmjyRateLimitError, DmjyServerError


def test_each_wait_is_drawn_below_a_doubling_ceiling_up_to_the_cap() -> None:
    rng = random.Random(7)
    for step, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0), (30, 5.0)):
        waits = [backoff_delay(step, 0.5, 5.0, rng=rng) for _ in range(300)]
        assert all(0.0 <= wait <= ceiling for wait in waits), step
        assert max(waits) > 0.8 * ceiling and min(waits) < 0.2 * ceiling  # full jitter: the whole range


def test_a_huge_step_stays_at_the_cap() -> None:
    assert 0.0 <= backoff_delay(10**6, 1.0, 60.0) <= 60.0


def test_retry_after_replaces_the_draw_and_is_capped() -> None:
    assert backoff_delay(1, 0.5, 60.0, DmjyRateLimitError("slow down", retry_after=7.0)) == 7.0
    assert backoff_delay(1, 0.5, 60.0, DmjyRateLimitError("slow down", retry_after=600.0)) == 60.0
    # No Retry-After, or another error: the draw.
    assert backoff_delay(1, 0.5, 60.0, DmjyRateLimitError("slow down")) <= 0.5
    assert backoff_delay(1, 0.5, 60.0, DmjyServerError("busy", status=503)) <= 0.5


def test_next_delay_counts_failures_and_reset_starts_over() -> None:
    backoff = Backoff(1.0, 100.0, rng=random.Random(1))
    for _ in range(6):
        backoff.next_delay()
    assert backoff.failures == 6
    backoff.reset()
    assert backoff.failures == 0 and backoff.next_delay() <= 1.0


def test_a_seeded_backoff_is_reproducible() -> None:
    def waits() -> list[float]:
        backoff = Backoff(0.5, 30.0, rng=random.Random(42))
        return [backoff.next_delay() for _ in range(8)]

    assert waits() == waits()


@pytest.mark.parametrize("base", [0.0])
def test_a_zero_base_never_waits(base: float) -> None:
    backoff = Backoff(base, 60.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.0] * 5
