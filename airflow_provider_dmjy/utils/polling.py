"""When to look at a render again: near its estimated finish, bounded, with jitter.

The algorithm (shared by the deferrable trigger and the in-worker wait, so both poll alike):

1. While ``pending`` there is no progress to extrapolate: wait ``poll_interval``, growing by half
   on each pending poll up to ``max_poll_interval`` (a long queue is not polled every few seconds).
2. While ``processing``, estimate the progress rate from the last two observations (percent per
   second). The estimated time left is ``(100 - progress) / rate``; wait that long, so the next
   poll lands near the finish. A single observation says nothing about the rate (the render may
   have started long before or just now), so the first processing poll waits ``poll_interval`` to
   get a second point; a render whose progress stalls is polled like a pending one.
3. Spread by +/-``jitter`` (10 %), so that the thousand videos a daily run creates at once do
   not poll in lock-step, then clamp to ``[poll_interval, max_poll_interval]``: ``poll_interval``
   is the shortest gap between two checks, ``max_poll_interval`` the longest.
4. The caller also caps the wait at its deadline.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_dmjy.client.models import VideoStatus
from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = [
    "DEFAULT_MAX_POLL_INTERVAL",
    "DEFAULT_POLL_INTERVAL",
    "MAX_POLL_INTERVAL_LIMIT",
    "MAX_WAIT_SECONDS",
    "PollSchedule",
    "check_poll_intervals",
    "check_seconds",
]

DEFAULT_POLL_INTERVAL = 10.0
DEFAULT_MAX_POLL_INTERVAL = 120.0
#: Decision: the longest wait for a render (s): a week, also the default timeout of Airflow sensors.
MAX_WAIT_SECONDS = 7 * 24 * 3600.0
#: Decision: the longest gap between two checks (s); longer is a typo (ms for s), not a schedule.
MAX_POLL_INTERVAL_LIMIT = 24 * 3600.0


def check_seconds(field: str, value: Any, maximum: float) -> float:
    """A duration in seconds: a finite number, more than 0 and at most ``maximum``.

    NaN, infinity and negative values are refused here, at construction, instead of failing
    (or waiting forever) after the video was already paid for.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DmjyValidationError(field, value, f"must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or not 0 < value <= maximum:
        raise DmjyValidationError(field, value, f"must be more than 0 and at most {maximum:g} seconds")
    return float(value)


def check_poll_intervals(poll_interval: Any, max_poll_interval: Any) -> tuple[float, float]:
    """``(poll_interval, max_poll_interval)`` checked; raises ``DmjyValidationError`` naming the field.

    ``max_poll_interval=None`` means :data:`DEFAULT_MAX_POLL_INTERVAL`, or ``poll_interval`` when
    that is longer; an explicit ``max_poll_interval`` shorter than ``poll_interval`` is refused.
    """
    poll = check_seconds("poll_interval", poll_interval, MAX_POLL_INTERVAL_LIMIT)
    if max_poll_interval is None:
        return poll, max(DEFAULT_MAX_POLL_INTERVAL, poll)
    longest = check_seconds("max_poll_interval", max_poll_interval, MAX_POLL_INTERVAL_LIMIT)
    if longest < poll:
        raise DmjyValidationError(
            "max_poll_interval", max_poll_interval, f"must not be less than poll_interval ({poll:g})"
        )
    return poll, longest


class PollSchedule:
    """Adaptive poll delays for one video; feed it every status seen, ask it how long to wait."""

    def __init__(
        self,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive (got {poll_interval!r})")
        self.poll_interval = poll_interval
        self.max_poll_interval = max(max_poll_interval, poll_interval)
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._last: tuple[float, float] | None = None  # (when, progress) of the previous observation
        self._pending_polls = 0

    def next_delay(self, status: str | None, progress: float | int | None) -> float:
        """Seconds to wait before the next check, given what this check saw."""
        now = self._monotonic()
        if status == VideoStatus.PROCESSING and progress is not None:
            delay = self._estimate_remaining(now, float(progress))
        else:
            delay = self.poll_interval * 1.5**self._pending_polls
            self._pending_polls += 1
        delay *= 1 + self._rng.uniform(-self.jitter, self.jitter)
        return min(max(delay, self.poll_interval), self.max_poll_interval)

    def _estimate_remaining(self, now: float, progress: float) -> float:
        previous, self._last = self._last, (now, progress)
        if previous is None:
            return self.poll_interval
        if progress > previous[1] and now > previous[0]:
            self._pending_polls = 0
            rate = (progress - previous[1]) / (now - previous[0])
            return (100.0 - progress) / rate
        # Stalled: back off as while pending, instead of hammering a render that is not moving.
        delay = self.poll_interval * 1.5**self._pending_polls
        self._pending_polls += 1
        return delay
