"""The request budget of DmjyAsyncHook against the simulator's rate limit: many triggers, no 429."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_dmjy.client.ratelimit import RequestBudget, request_budgets
from airflow_provider_dmjy.hooks.dmjy import DmjyAsyncHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.video import EVENT_COMPLETED, DmjyVideoTrigger

VIDEO = "/api/v1/videos/{id}"


def use_connection(monkeypatch: pytest.MonkeyPatch, sim: SimulatorHandle, conn_id: str, extra: str) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", f"{sim.conn_uri}?{extra}")


async def budget_of(hook: DmjyAsyncHook) -> RequestBudget | None:
    return (await hook.get_async_client()).budget


async def all_events(trigger: DmjyVideoTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


async def test_many_triggers_of_one_key_share_one_budget_and_get_no_429(
    dmjy_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server takes 20 requests/s per key; 30 waits polling every 0.1 s would ask for about 300.
    # Two connections of the same key share one budget of 10/s, so the server's bucket never empties.
    dmjy_simulator.configure(rate_limit=20, render_seconds=0.5, queue_seconds=0.1)
    use_connection(monkeypatch, dmjy_simulator, "dmjy_a", "max_requests_per_second=10")
    use_connection(monkeypatch, dmjy_simulator, "dmjy_b", "max_requests_per_second=10")
    video_ids = dmjy_simulator.seed_videos(30, duration=5)
    triggers = [
        DmjyVideoTrigger(
            video_id,
            "dmjy_a" if index % 2 else "dmjy_b",
            deadline=time.time() + 120,
            poll_interval=0.1,
            max_poll_interval=0.2,
        )
        for index, video_id in enumerate(video_ids)
    ]
    results = await asyncio.wait_for(asyncio.gather(*(all_events(t) for t in triggers)), 100)

    assert [[event["status"] for event in events] for events in results] == [[EVENT_COMPLETED]] * 30
    assert [events[0]["video_id"] for events in results] == video_ids
    state = dmjy_simulator.state()
    assert state["rate_limited"] == 0
    assert state["requests"][f"GET {VIDEO}"] >= 30
    async with DmjyAsyncHook("dmjy_a") as hook_a, DmjyAsyncHook("dmjy_b") as hook_b:
        budget = await budget_of(hook_a)
        assert budget is not None and budget is await budget_of(hook_b)
        assert budget.waited > 0  # the budget did hold polls back: without it they were 429s


async def test_a_429_holds_the_whole_budget(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    video_id = dmjy_conn.seed_videos(1)[0]
    dmjy_conn.inject_fault(method="GET", path=VIDEO, status=429, retry_after=1, times=1)
    async with DmjyAsyncHook() as hook, DmjyAsyncHook() as other:
        budget = await budget_of(hook)
        assert budget is not None and budget is await budget_of(other)
        held = asyncio.Event()
        hold_off = budget.hold_off

        def hold_off_and_tell(seconds: float) -> None:
            hold_off(seconds)
            held.set()

        monkeypatch.setattr(budget, "hold_off", hold_off_and_tell)
        loop = asyncio.get_running_loop()
        asked = loop.time()
        # The first call meets the 429; the second, sent meanwhile by another wait, waits with it.
        first = asyncio.create_task(hook.get_video(video_id))
        await held.wait()
        await other.get_account()
        assert loop.time() - asked >= 1.0  # the hold-off, not a timing margin: Retry-After is 1 s
        assert (await first)["id"] == video_id
    assert budget.hold_offs == 1
    assert dmjy_conn.state()["rate_limited"] == 0  # the 429 was a fault, not the simulator's limit


async def test_a_connection_without_a_budget(
    dmjy_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, dmjy_simulator, "dmjy_unbudgeted", "max_requests_per_second=off")
    async with DmjyAsyncHook("dmjy_unbudgeted") as hook:
        assert await budget_of(hook) is None
        assert (await hook.get_account())["balance"] > 0


async def test_the_default_budget(dmjy_conn: SimulatorHandle) -> None:
    async with DmjyAsyncHook() as hook:
        budget = await budget_of(hook)
    assert budget is not None and budget.rate == 10.0
    assert budget is request_budgets.get((dmjy_conn.base_url, dmjy_conn.api_key), 10.0)


async def test_a_slow_connection_slows_its_key_only_while_its_hook_is_open(
    dmjy_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, dmjy_simulator, "dmjy_fast", "max_requests_per_second=10")
    use_connection(monkeypatch, dmjy_simulator, "dmjy_slow", "max_requests_per_second=0.1")
    async with DmjyAsyncHook("dmjy_fast") as fast:
        budget = await budget_of(fast)
        assert budget is not None and budget.rate == 10.0
        async with DmjyAsyncHook("dmjy_slow") as slow:
            assert await budget_of(slow) is budget and budget.rate == 0.1  # the lowest open one
            assert budget.clients == 2
        # The slow connection's wait ended: the key is back at the rate of the hooks still open.
        assert budget.rate == 10.0 and budget.clients == 1
        assert (await fast.get_account())["balance"] > 0
    assert budget.clients == 0
