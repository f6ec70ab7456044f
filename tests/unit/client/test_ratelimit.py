"""RequestBudget and its registry, on an event loop whose clock is virtual: exact times, no sleeps.

The loop below never waits: when it would block for ``t`` seconds, its clock jumps ``t`` ahead. So
``loop.time()`` at each request start is exactly what the budget decided, however busy the machine.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from airflow_provider_dmjy.client.ratelimit import RequestBudget, RequestBudgets

T = TypeVar("T")


class _JumpingSelector(selectors.SelectSelector):
    """A selector that never blocks: a wait of ``timeout`` s moves the loop's clock instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("the loop would wait forever: nothing is scheduled")
        self.loop.now += max(0.0, timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock (no I/O: only timers and callbacks)."""

    def __init__(self) -> None:
        self.now = 1000.0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


async def starts_of(budget: RequestBudget, count: int, *, spacing: float = 0.0) -> list[float]:
    """When each of ``count`` requests (arriving ``spacing`` s apart) may start, relative to the first
    arrival, in arrival order."""
    loop = asyncio.get_running_loop()
    origin = loop.time()
    starts: dict[int, float] = {}

    async def request(index: int) -> None:
        await asyncio.sleep(index * spacing)
        await budget.acquire()
        starts[index] = round(loop.time() - origin, 9)

    await asyncio.gather(*(request(index) for index in range(count)))
    return [starts[index] for index in range(count)]


def test_an_idle_budget_lets_a_request_start_at_once() -> None:
    assert run(lambda: starts_of(RequestBudget(5), 1)) == [0.0]


def test_concurrent_requests_start_evenly_spaced_without_a_burst() -> None:
    budget = RequestBudget(10)
    assert run(lambda: starts_of(budget, 5)) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert budget.waited == 4  # the first started at once
    assert budget.waited_seconds == pytest.approx(0.1 + 0.2 + 0.3 + 0.4)


def test_requests_slower_than_the_rate_never_wait() -> None:
    assert run(lambda: starts_of(RequestBudget(10), 4, spacing=0.25)) == [0.0, 0.25, 0.5, 0.75]


def test_a_request_soon_after_another_waits_out_the_interval() -> None:
    assert run(lambda: starts_of(RequestBudget(4), 3, spacing=0.1)) == [0.0, 0.25, 0.5]


def test_turns_go_in_arrival_order() -> None:
    async def main() -> list[int]:
        budget, order = RequestBudget(100), []

        async def request(index: int) -> None:
            await budget.acquire()
            order.append(index)

        tasks = []
        for index in range(50):
            tasks.append(asyncio.create_task(request(index)))
            await asyncio.sleep(0)  # each arrives (and queues) before the next is created
        await asyncio.gather(*tasks)
        return order

    assert run(main) == list(range(50))


def test_turns_missed_while_the_loop_was_busy_are_not_handed_out_at_once() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(10)
        # 50 ms in, the loop is busy for 2 s (a blocking call somewhere): the turns due at 0.1 s
        # and later are handed out from the end of the stall, still 0.1 s apart.
        loop.call_later(0.05, lambda: setattr(loop, "now", loop.now + 2.0))
        return await starts_of(budget, 4)

    assert run(main) == [0.0, 2.05, 2.15, 2.25]


def test_a_hold_off_delays_every_queued_request_then_the_spacing_resumes() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(10)
        # A 429 arrives at 0.15 s with Retry-After 2: nothing starts before 2.15 s.
        loop.call_later(0.15, budget.hold_off, 2.0)
        starts = await starts_of(budget, 5)
        assert budget.hold_offs == 1
        return starts

    assert run(main) == [0.0, 0.1, 2.15, 2.25, 2.35]


def test_a_hold_off_also_delays_a_request_that_arrives_during_it() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(10)
        budget.hold_off(3.0)
        started = loop.time()
        await budget.acquire()
        return loop.time() - started

    assert run(main) == 3.0


def test_a_shorter_hold_off_does_not_shorten_a_longer_one() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(10)
        started = loop.time()
        budget.hold_off(3.0)
        budget.hold_off(1.0)
        await budget.acquire()
        assert budget.hold_offs == 1
        return loop.time() - started

    assert run(main) == 3.0


def test_a_hold_off_warns_once_for_all_the_429s_it_covers(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        budget = RequestBudget(10)
        budget.hold_off(2.0)
        budget.hold_off(2.5)  # a second 429 of the same storm: extends, does not warn again
        await asyncio.sleep(3.0)
        budget.hold_off(1.0)  # a new storm after the first ended

    with caplog.at_level(logging.WARNING, logger="airflow_provider_dmjy.client"):
        run(main)
    warnings = [r.getMessage() for r in caplog.records if "despite the request budget" in r.getMessage()]
    assert len(warnings) == 2
    assert "10/s" in warnings[0] and "max_requests_per_second" in warnings[0]


def test_a_cancelled_request_leaves_the_queue_and_the_next_takes_its_turn() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(10)
        origin = loop.time()
        await budget.acquire()  # the idle start at 0
        cancelled = asyncio.create_task(budget.acquire())
        await asyncio.sleep(0)
        assert budget.queued == 1
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        assert budget.queued == 0 and budget._timer is None  # nothing left scheduled on the loop
        await budget.acquire()
        return [loop.time() - origin]

    # The cancelled request's turn (0.1) goes to the next request; it is not spent twice.
    assert run(main) == [pytest.approx(0.1)]


def test_a_request_cancelled_as_its_turn_comes_raises_cancelled_error_and_gives_the_turn_back() -> None:
    # A timeout due at the very moment of the turn runs first: the timer then drops the cancelled
    # turn. acquire() used to raise ValueError (removing a turn the timer had already dropped).
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(1)
        origin = loop.time()
        await budget.acquire()  # the idle start at 0; the next turn is at 1
        cancelled = asyncio.create_task(budget.acquire())
        loop.call_at(budget.next_start, cancelled.cancel)  # scheduled before the budget's timer
        await asyncio.sleep(0)
        assert budget.queued == 1
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert budget.queued == 0 and budget._timer is None
        await budget.acquire()  # the turn at 1 was never used: it starts at once
        return [loop.time() - origin]

    assert run(main) == [1.0]


def test_a_turn_given_to_a_request_cancelled_before_it_ran_goes_to_the_next_one() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(1)
        origin = loop.time()
        await budget.acquire()
        given = asyncio.create_task(budget.acquire())
        await asyncio.sleep(0)
        # Queued after `given`: a third request, arriving at 0.5.
        later = asyncio.create_task(asyncio.sleep(0.5))
        await later
        third = asyncio.create_task(budget.acquire())
        await asyncio.sleep(0)
        assert budget.queued == 2
        # Scheduled after the budget's timer, due at the same time: the timer gives `given` its
        # turn at 1, the cancel lands in the same loop pass, before `given` runs (a trigger
        # cancelled then). The turn it never used passes to the third request.
        loop.call_at(budget.next_start, given.cancel)
        with pytest.raises(asyncio.CancelledError):
            await given
        await third
        turn = loop.time() - origin
        await budget.acquire()  # and the spacing goes on from the third's start
        return [turn, loop.time() - origin]

    assert run(main) == [1.0, 2.0]


def test_a_turn_given_back_with_nobody_queued_lets_the_next_request_start_at_once() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(1)
        origin = loop.time()
        await budget.acquire()
        given = asyncio.create_task(budget.acquire())
        await asyncio.sleep(0)
        loop.call_at(budget.next_start, given.cancel)  # right after the timer gave `given` its turn
        with pytest.raises(asyncio.CancelledError):
            await given
        assert budget.next_start == origin + 1  # as if the turn at 1 had not been given
        await budget.acquire()
        return loop.time() - origin

    assert run(main) == 1.0


def test_the_budget_runs_at_the_lowest_rate_of_the_clients_that_joined() -> None:
    budget = RequestBudget(10)
    budget.join(20)
    assert budget.rate == 20 and budget.clients == 1  # a joined client's rate, not the initial one
    budget.join(2.5)
    budget.join(2.5)
    assert budget.rate == 2.5 and budget.interval == 0.4 and budget.clients == 3
    budget.leave(2.5)
    assert budget.rate == 2.5  # one client at 2.5 is still there
    budget.leave(2.5)
    assert budget.rate == 20
    budget.leave(20)
    budget.leave(20)  # leaving twice changes nothing
    assert budget.rate == 10 and budget.clients == 0
    with pytest.raises(ValueError, match="rate must be a positive number"):
        budget.join(0)


def test_when_a_slow_client_leaves_the_queue_moves_at_the_rate_of_the_others() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        budget = RequestBudget(10)
        budget.join(10)
        budget.join(0.1)  # a connection set to 0.1/s: one start per 10 s
        # It leaves at 0.5 s, while two requests wait for the turn at 10 s.
        loop.call_later(0.5, budget.leave, 0.1)
        return await starts_of(budget, 3)

    # Without the slow client the turns are 0.1 s apart again, measured from the last start.
    assert run(main) == [0.0, pytest.approx(0.5), pytest.approx(0.6)]


@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("inf"), "10"])
def test_a_budget_needs_a_positive_rate(rate: Any) -> None:
    with pytest.raises(ValueError, match="rate must be a positive number"):
        RequestBudget(rate)


def test_the_registry_shares_one_budget_per_key_and_loop() -> None:
    budgets = RequestBudgets()

    async def in_loop() -> tuple[RequestBudget | None, ...]:
        first = budgets.get(("https://a/api/v1", "mk_1"), 10)
        assert first is not None
        first.join(10)
        return (
            first,
            budgets.get(("https://a/api/v1", "mk_1"), 20),
            budgets.get(("https://a/api/v1", "mk_2"), 10),
            budgets.get(("https://a/api/v1", "mk_1"), 0),
        )

    first, same, other_key, off = run(in_loop)
    assert first is same and first is not None and first.rate == 10  # its joined client's rate
    assert other_key is not first
    assert off is None
    second_loop = run(in_loop)[0]
    assert second_loop is not first  # a budget belongs to one loop


def test_a_slow_connection_that_left_does_not_keep_slowing_its_key() -> None:
    budgets = RequestBudgets()
    key = ("https://api.example", "mk_live")

    async def main() -> list[float]:
        slow = budgets.get(key, 0.1)  # a short-lived trigger of a connection set to 0.1/s
        assert slow is not None
        slow.join(0.1)
        await slow.acquire()
        rates = [slow.rate]
        slow.leave(0.1)  # that trigger is done
        fast = budgets.get(key, 10.0)  # every other trigger of the key, configured at 10/s
        assert fast is slow
        rates.append(fast.rate)
        fast.join(10.0)
        rates.append(fast.rate)
        return rates

    # Before the fix the key kept 0.1/s for as long as the loop lived.
    assert run(main) == [0.1, 10.0, 10.0]


def test_the_registry_lets_a_closed_loop_and_its_budgets_go() -> None:
    budgets = RequestBudgets()

    async def take_turns() -> None:
        budget = budgets.get("key", 50)
        assert budget is not None
        await asyncio.gather(*(budget.acquire() for _ in range(5)))

    run(take_turns)
    gc.collect()
    assert len(budgets._loops) == 0
