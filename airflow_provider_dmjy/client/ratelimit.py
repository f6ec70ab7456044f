"""A request budget: at most ``rate`` requests start per second, spread out rather than refused.

The vendor limits requests per API key, and status polls count. A triggerer holding thousands of
waits of one key would otherwise send whatever its schedules ask for and collect 429s; the
:class:`RequestBudget` makes every request of the key wait for its turn instead.

How it works (decisions where the issue is silent):

- **Even spacing, no burst.** Two requests of one budget start at least ``1 / rate`` seconds apart,
  measured on the event loop's clock when the turn is given. A burst would let a triggerer that
  restarts with a thousand waits send them at once; spacing spreads them, and costs an idle
  connection nothing (its request starts at once). Spacing also keeps the server's own bucket full,
  which absorbs the jitter of the network and of a busy loop.
- **First come, first served.** Requests that must wait queue in order; one timer on the loop hands
  out the turns (no waiter wakes up only to find the turn taken, whatever the queue's length). A
  turn is measured from the moment it is given, so a loop that stalled does not hand out the turns
  it missed all at once afterwards.
- **A 429 slows everyone.** :meth:`RequestBudget.hold_off` (called by the async client on a plain 429)
  starts no request of the budget before the server's ``Retry-After`` has passed: the other waits
  would only collect 429s of their own meanwhile. The rate itself stays; a 429 despite the budget
  means the vendor's limit is lower than configured (or the key is shared elsewhere), which the
  warning says.
- **One budget per key per event loop** (:class:`RequestBudgets`): the vendor counts per key, so
  every client of the same base URL and key in the loop shares one, whichever connection it came
  from. It lives as long as the loop, so a wait that ends and one that starts a moment later still
  share the spacing. Only the loop's own callbacks touch it: no lock.
- **The lowest rate of the clients alive.** Each client :meth:`~RequestBudget.join` s the budget
  with its connection's rate and :meth:`~RequestBudget.leave` s it when it closes; the budget runs at
  the lowest rate of those still joined. One slow connection (a test connection at 0.1/s) slows
  its key while it is in use, and the key returns to its other connections' rate when it goes,
  spacing included (the next turn is measured from the last start at the new rate).
- **A cancelled turn is not lost.** A request cancelled as its turn comes (a timeout firing at the
  same moment, a trigger cancelled) gives the turn back: the next request in the queue takes it at
  once, or, with nobody queued, the budget is as if the turn had not been given.

Nothing here imports Airflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections import deque
from collections.abc import Hashable

__all__ = ["RequestBudget", "RequestBudgets", "request_budgets"]

log = logging.getLogger("airflow_provider_dmjy.client")


def _checked(rate: float) -> float:
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number of requests per second (got {rate!r})")
    return float(rate)


class RequestBudget:
    """At most ``rate`` request starts per second, evenly spaced, first come first served.

    Use it from one event loop: ``await budget.acquire()`` before each request.

    :param rate: requests per second (more than 0).
    """

    def __init__(self, rate: float) -> None:
        self.rate = self._unjoined_rate = _checked(rate)
        #: The rates of the clients that joined and have not left (a multiset: rate -> clients).
        self._joined: dict[float, int] = {}
        #: Loop time of the last request start (a hold-off's end is kept apart, in _held_until).
        self._last_start = -math.inf
        #: Each queued request's turn; its result is (the start before it, its own start), so that a
        #: request cancelled after its turn came can give it back.
        self._waiters: deque[asyncio.Future[tuple[float, float]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._held_until = -math.inf
        #: Requests that had to wait for their turn, the seconds they waited in all, and the 429s
        #: that held the budget (for metrics and benchmarks).
        self.waited = 0
        self.waited_seconds = 0.0
        self.hold_offs = 0

    @property
    def interval(self) -> float:
        """Seconds between two request starts."""
        return 1.0 / self.rate

    @property
    def next_start(self) -> float:
        """Loop time before which no request may start (the next turn, or the end of a hold-off)."""
        return max(self._last_start + 1.0 / self.rate, self._held_until)

    @property
    def queued(self) -> int:
        """Requests waiting for their turn."""
        return len(self._waiters)

    @property
    def unjoined_rate(self) -> float:
        """The rate while no client has joined: the one the budget was made (or last asked) with."""
        return self._unjoined_rate

    @unjoined_rate.setter
    def unjoined_rate(self, rate: float) -> None:
        self._unjoined_rate = _checked(rate)
        self._set_rate()

    @property
    def clients(self) -> int:
        """Clients that joined the budget and have not left."""
        return sum(self._joined.values())

    def join(self, rate: float) -> None:
        """Count one more client asking for ``rate``: the budget runs at the lowest joined rate.

        Pair with :meth:`leave` (``DmjyAsyncHook`` joins when it opens its client, leaves on close).
        """
        rate = _checked(rate)
        self._joined[rate] = self._joined.get(rate, 0) + 1
        self._set_rate()

    def leave(self, rate: float) -> None:
        """One client that joined with ``rate`` is gone; with none left, :attr:`unjoined_rate` applies."""
        count = self._joined.get(float(rate), 0)
        if count > 1:
            self._joined[float(rate)] = count - 1
        elif count == 1:
            del self._joined[float(rate)]
        self._set_rate()

    def _set_rate(self) -> None:
        rate = min(self._joined) if self._joined else self._unjoined_rate
        if rate == self.rate:
            return
        self.rate = rate
        if self._timer is not None:  # queued requests: the next turn moved with the spacing
            self._rearm(asyncio.get_running_loop())

    async def acquire(self) -> None:
        """Return when this request may start: at once when the budget is idle, else at its turn."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._waiters and now >= self.next_start:
            self._last_start = now
            return
        turn: asyncio.Future[tuple[float, float]] = loop.create_future()
        self._waiters.append(turn)
        self.waited += 1
        self._arm(loop)
        try:
            await turn
            self.waited_seconds += loop.time() - now
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._give_back(loop, *turn.result())
            else:
                self._leave_queue(turn)
            raise

    def _leave_queue(self, turn: asyncio.Future[tuple[float, float]]) -> None:
        """A request cancelled before its turn: out of the queue, if the timer has not dropped it."""
        # _give_turn drops a cancelled turn it meets: in the same loop pass as the cancel, it is
        # no longer queued here.
        with contextlib.suppress(ValueError):
            self._waiters.remove(turn)
        if not self._waiters and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _give_back(self, loop: asyncio.AbstractEventLoop, previous_start: float, start: float) -> None:
        """A request cancelled after its turn was given and before it started: undo that start."""
        if self._last_start != start:  # another start came after it: the spacing holds from that one
            return
        self._last_start = previous_start
        # The turn's time has come: a queued request takes it in the next loop pass.
        self._rearm(loop)

    def hold_off(self, seconds: float) -> None:
        """Start no request for ``seconds`` from now (a 429's ``Retry-After``); must run in the loop."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        until = now + max(0.0, seconds)
        if until <= self.next_start:
            return
        if self._held_until <= now:  # once per hold-off, not once per 429 of the waits behind it
            log.warning(
                "DMJY: a 429 despite the request budget of %g/s; holding every request of this key for "
                "%.1f s (lower max_requests_per_second if this repeats)",
                self.rate,
                seconds,
            )
        self._held_until = until
        self.hold_offs += 1
        self._rearm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule the next turn, unless one is scheduled or nobody waits."""
        if self._timer is None and self._waiters:
            self._timer = loop.call_at(self.next_start, self._give_turn, loop)

    def _rearm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule the next turn again: its time moved."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._arm(loop)

    def _give_turn(self, loop: asyncio.AbstractEventLoop) -> None:
        # The timer is re-armed whenever next_start moves, so it fires at next_start (or later).
        self._timer = None
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                # From now when the timer is late: turns missed while the loop was busy are not
                # handed out in a burst afterwards.
                start = max(loop.time(), self.next_start)
                turn.set_result((self._last_start, start))
                self._last_start = start
                break
        self._arm(loop)


class RequestBudgets:
    """The budgets of a process: one per key per event loop, kept while the loop lives.

    Keyed weakly by the loop object (a closed loop's budgets go with it; an ``id`` could be reused
    by a later loop).
    """

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, RequestBudget]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, key: Hashable, rate: float) -> RequestBudget | None:
        """The running loop's budget for ``key``; None when ``rate`` is 0 (off).

        A new budget is made at ``rate``; an existing one keeps the rate of the clients that
        joined it (:meth:`RequestBudget.join`), or takes ``rate`` while none has.
        """
        if not rate:
            return None
        budgets = self._loops.setdefault(asyncio.get_running_loop(), {})
        budget = budgets.get(key)
        if budget is None:
            budget = budgets[key] = RequestBudget(rate)
        elif not budget.clients:
            budget.unjoined_rate = rate
        return budget


#: The process-wide registry the async hook uses.
request_budgets = RequestBudgets()
