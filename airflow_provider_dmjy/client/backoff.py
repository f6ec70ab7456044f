"""How long to wait before trying again: exponential growth, a cap, full jitter, and ``Retry-After``.

One rule for every wait after a failure: the client's retries (:mod:`.retry`), the media download's
attempts (:mod:`.media`), the trigger's transient-error polls, the event trigger's failed polls and
the create operator's look for a video whose create answer was lost.

Step ``n`` (1 for the first wait) is drawn uniformly from ``[0, min(cap, base * 2 ** (n - 1))]``:
"full jitter" spreads the retries of many tasks that failed at the same moment (an outage, a
deploy) instead of sending them back together. A wait the server named (``Retry-After``) replaces
the draw, capped too: the server knows best when it can take the request again.
"""

from __future__ import annotations

import random

from airflow_provider_dmjy.exceptions import DmjyRateLimitError

__all__ = ["Backoff", "backoff_delay"]

_RANDOM = random.Random()
# 2 ** 64 times any base already exceeds every sensible cap; a larger exponent only risks overflow.
_MAX_EXPONENT = 64


def backoff_delay(
    step: int,
    base: float,
    cap: float,
    after: BaseException | None = None,
    rng: random.Random = _RANDOM,
) -> float:
    """Seconds to wait after failure number ``step`` (from 1) before trying again.

    :param after: the failure; a :class:`DmjyRateLimitError` whose ``Retry-After`` named a wait
        gets that wait (capped) instead of the draw.
    """
    if isinstance(after, DmjyRateLimitError) and after.retry_after is not None:
        return min(max(0.0, after.retry_after), cap)
    ceiling = min(cap, base * 2 ** min(max(step - 1, 0), _MAX_EXPONENT))
    return rng.uniform(0.0, ceiling)


class Backoff:
    """The waits of one run of failures: :meth:`next_delay` after each, :meth:`reset` on success.

    :param base: the ceiling of the first wait, in seconds; it doubles after every failure.
    :param cap: the longest wait, in seconds (a server's ``Retry-After`` included).
    :param rng: the random source (a seeded one makes the waits reproducible in tests).
    """

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or _RANDOM

    def next_delay(self, after: BaseException | None = None) -> float:
        """Count one more failure (``after``, if known) and return the seconds to wait."""
        self.failures += 1
        return backoff_delay(self.failures, self.base, self.cap, after, self._rng)

    def reset(self) -> None:
        """A success: the next failure starts again from ``base``."""
        self.failures = 0
