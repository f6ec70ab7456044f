"""When to look at a render again: at its estimated finish once the estimate is proven, bounded.

The algorithm (shared by the deferrable trigger, the sensor and the in-worker wait, so all poll
alike). ``poll_interval`` is the usual shortest gap between two checks and ``max_poll_interval``
the longest; the one exception is the last approach to a finish (rule 4).

1. Queued (``pending``, or a status the schedule does not know): wait ``poll_interval``, growing
   by half on each such poll, up to ``4 x poll_interval`` (and ``max_poll_interval``). A queue
   says nothing about the render that follows; a short render after a long queue must not be
   slept past.
2. Processing, the rate: percent per second over a window of the last eight observations, from
   the oldest to the moment the current progress value was first seen (not the last two points:
   coarse or stepped progress would swing it). The estimated time left is ``(100 - progress) /
   rate``, counted from that moment. The first processing look has no rate: it waits
   ``poll_interval``, or less when even the slowest render consistent with the last ``pending``
   look would finish sooner.
3. The estimate is *proven* when the progress has taken three or more values and the last step's
   rate agrees (within 25 %) with the rate before it, as a smooth render's does. A proven estimate
   is aimed at: the next look lands at the estimated finish. An unproven one (stepped progress,
   a first pair of points) is not trusted further than a quarter of the time the render has been
   watched (``max(poll_interval, watched / 4)``), so a wrong guess costs a look, not a finish
   slept past.
4. Near the finish (less than ``poll_interval`` left), overdue (the estimated finish has passed)
   or flat at 99: gaps may be as short as ``poll_interval / 4``, so a finish is seen within
   seconds of the estimate, not a whole interval later.
5. Flat progress (the same value as the look before) after the estimated finish, or at 99, backs
   off geometrically: half the time it has been flat, at least ``poll_interval / 4``, at most
   ``poll_interval`` during the first ``30 x poll_interval`` flat (5 min at the default), then a
   thirtieth of the time flat (a hung render ends at ``max_poll_interval``, not hammered). Flat
   below 99 before the estimated finish keeps aiming at it, but looks again after half the time
   flat at the latest (a plateau of stepped progress may end in a jump to the finish). Flat since
   the first processing look (no rate yet) backs off from ``poll_interval`` by half the time flat.
6. Jitter: a gap from rules 1 and 5 is spread by +/-``jitter`` (10 %), so that the thousand videos
   a daily run creates at once do not poll in lock-step; an aimed gap (rules 2-4) by at most
   +/-``jitter x poll_interval``, so a long aim does not miss its finish by the jitter. Then the
   gap is clamped to ``[floor, max_poll_interval]``, the floor being ``poll_interval / 4`` near a
   finish (rule 4) and ``poll_interval`` otherwise.
7. The caller also caps the wait at its deadline.

``benchmarks/schedule.py`` measures the schedule against fixed intervals on the simulator's render
profiles (requests per video, detection delay); ``benchmarks/schedule.md`` has the figures.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

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

# Decisions of the schedule (the rules in the module docstring), tuned with benchmarks/schedule.py.
#: Rule 1: a queued render's gap grows by this factor per look...
QUEUED_GROWTH = 1.5
#: ...up to this many ``poll_interval``: a long queue may be followed by a short render.
QUEUED_CAP = 4.0
#: Rule 2: observations the rate is measured over.
RATE_WINDOW = 8
#: Rule 3: an estimate is proven after this many distinct progress values...
PROVEN_LEVELS = 3
#: ...when the last step's rate is within this fraction of the rate before it.
PROVEN_TOLERANCE = 0.25
#: Rule 3: an unproven estimate is trusted no further than this fraction of the time watched.
UNPROVEN_FRACTION = 0.25
#: Rule 4: near a finish the shortest gap is this fraction of ``poll_interval``.
NEAR_FRACTION = 0.25
#: Rule 5: a flat progress is looked at again after this fraction of the time it has been flat...
FLAT_GROWTH = 0.5
#: ...at most ``poll_interval``, or the time flat divided by this once that is longer (5 min at 10 s).
FLAT_PATIENCE = 30.0
#: Rule 5: at or above this progress, a render that stops moving is in its last step (encoding).
FLAT_NEAR_PROGRESS = 99.0


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


class _Gap(NamedTuple):
    seconds: float
    floor: float  # the shortest this gap may become (rule 4)
    aimed: bool  # aimed at an estimated finish: jittered by a bounded amount (rule 6)


class PollSchedule:
    """Adaptive poll delays for one video; feed it every status seen, ask it how long to wait.

    A pure object: it performs no I/O and reads time only through ``monotonic``, so it can be
    driven by a fake clock. The rules are in this module's docstring.
    """

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
        self._window: deque[tuple[float, float]] = deque(maxlen=RATE_WINDOW)  # (when, progress)
        self._level: tuple[float, float] | None = None  # (progress, when first seen)
        self._levels = 0  # distinct progress values seen in a row of processing looks
        self._rate: float | None = None  # percent per second, as estimated at the previous look
        self._queued_polls = 0
        self._pending_at: float | None = None  # the last look that saw the render queued

    def next_delay(self, status: str | None, progress: float | int | None) -> float:
        """Seconds to wait before the next check, given what this check saw."""
        now = self._monotonic()
        if status == VideoStatus.PROCESSING and progress is not None:
            gap = self._processing(now, float(progress))
        else:
            gap = self._queued(now, status)
        if gap.aimed:
            delay = gap.seconds + self._rng.uniform(-self.jitter, self.jitter) * min(
                gap.seconds, self.poll_interval
            )
        else:
            delay = gap.seconds * (1 + self._rng.uniform(-self.jitter, self.jitter))
        return min(max(delay, gap.floor), self.max_poll_interval)

    def _queued(self, now: float, status: str | None) -> _Gap:
        # Rule 1. The exponent is bounded: a week of pending looks would overflow 1.5 ** n.
        if status == VideoStatus.PENDING:
            self._pending_at = now
        growth = QUEUED_GROWTH ** min(self._queued_polls, 32)
        self._queued_polls += 1
        return _Gap(self.poll_interval * min(growth, QUEUED_CAP), self.poll_interval, aimed=False)

    def _processing(self, now: float, progress: float) -> _Gap:
        interval = self.poll_interval
        near = interval * NEAR_FRACTION
        self._queued_polls = 0
        previous = self._window[-1] if self._window else None
        if self._level is None or progress != self._level[0]:
            self._level = (progress, now)
            self._levels += 1
        self._window.append((now, progress))
        changed_at = self._level[1]
        flat_for = now - changed_at
        oldest_at, oldest = self._window[0]
        earlier_rate = self._rate
        # Rule 2: the rate up to the moment this value was first seen; time spent flat since then
        # is judged by rules 4-5, not folded into a slower rate that would sleep past the finish.
        self._rate = (
            (progress - oldest) / (changed_at - oldest_at)
            if progress > oldest and changed_at > oldest_at
            else None
        )
        if previous is None:
            if self._pending_at is not None and progress > 0:
                # It started after the last pending look, so it is at least this fast.
                slowest = (100.0 - progress) * (now - self._pending_at) / progress
                return _Gap(min(interval, slowest), near, aimed=True)
            return _Gap(interval, interval, aimed=False)
        if self._rate is None:  # flat since the first processing look: nothing to extrapolate
            if progress >= FLAT_NEAR_PROGRESS:
                return self._flat(flat_for)
            return _Gap(max(interval, FLAT_GROWTH * flat_for), interval, aimed=False)
        remaining = changed_at + (100.0 - progress) / self._rate - now
        if remaining <= 0 or (flat_for > 0 and progress >= FLAT_NEAR_PROGRESS):
            return self._flat(flat_for)  # overdue, or waiting on the last percent
        step_rate = (progress - previous[1]) / (now - previous[0]) if now > previous[0] else 0.0
        proven = (
            earlier_rate is not None
            and flat_for == 0
            and self._levels >= PROVEN_LEVELS
            and abs(step_rate - earlier_rate) <= PROVEN_TOLERANCE * earlier_rate
        )
        if not proven:  # rule 3: no further than a quarter of the time watched
            remaining = min(remaining, max(interval, UNPROVEN_FRACTION * (now - oldest_at)))
        if flat_for > 0:  # rule 5: flat before the estimated finish
            remaining = min(remaining, max(near, FLAT_GROWTH * flat_for))
        return _Gap(remaining, near if remaining < interval else interval, aimed=True)

    def _flat(self, flat_for: float) -> _Gap:
        # Rule 5: a geometric back-off on the time flat, bounded by poll_interval for the first
        # minutes (the finish may come at any moment), then by a fraction of the time flat.
        near = self.poll_interval * NEAR_FRACTION
        longest = max(self.poll_interval, flat_for / FLAT_PATIENCE)
        return _Gap(min(max(near, FLAT_GROWTH * flat_for), longest), near, aimed=False)
