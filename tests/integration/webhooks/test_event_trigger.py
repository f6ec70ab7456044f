"""DmjyVideoEventTrigger against the simulator over loopback HTTP, including restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from airflow.sdk import Asset, AssetWatcher
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.events import DmjyVideoEventTrigger, VideoCursor
from airflow_provider_dmjy.webhooks import videos_asset_uri

IMG = "https://example.com/cup.jpg"
POLL = 0.1


class FakeStateStore:
    """The single-asset part of Airflow 3.3's ``AssetStateStoreAccessors`` (``aget``/``aset``)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.writes += 1
        self.values[key] = value


class Running:
    """A trigger's event stream consumed in the background, like the triggerer does."""

    def __init__(self, stream: AsyncIterator[TriggerEvent]) -> None:
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.ensure_future(self._consume(stream))

    async def _consume(self, stream: AsyncIterator[TriggerEvent]) -> None:
        async for event in stream:
            self.events.append(event.payload)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        async def reached() -> None:
            while len(self.events) < count:
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.02)

        await asyncio.wait_for(reached(), timeout)
        return self.events

    async def stop(self) -> None:
        """A triggerer restart: the task is cancelled wherever it is."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def trigger(store: FakeStateStore | None = None, **kwargs: Any) -> DmjyVideoEventTrigger:
    new = DmjyVideoEventTrigger(poll_interval=POLL, **kwargs)
    if store is not None:
        new.asset_state_store = store  # what the 3.3 triggerer injects
    return new


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["taskId"] for e in events]


@pytest.fixture
def sync_hook(dmjy_conn: SimulatorHandle) -> DmjyHook:
    dmjy_conn.configure(render_seconds=300, queue_seconds=1)  # only forced transitions finish videos
    return DmjyHook()


def new_video(hook: DmjyHook) -> str:
    return str(hook.create_video("展示智能保温杯", image_url=IMG, duration=2)["id"])


async def test_each_video_once_across_a_restart(sync_hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    store = FakeStateStore()
    old, a, b, c = (new_video(sync_hook) for _ in range(4))
    dmjy_conn.complete(old)  # finished before the trigger first started: not announced

    first = Running(trigger(store).run())
    await asyncio.sleep(3 * POLL)
    dmjy_conn.complete(a)
    dmjy_conn.fail(b, "坏图")  # not a status this trigger announces
    events = await first.wait_for(1)
    await asyncio.sleep(3 * POLL)
    await first.stop()
    assert ids(events) == [a]
    assert events[0]["event"] == "task.completed" and events[0]["data"]["videoUrl"].endswith(f"{a}.mp4")
    assert events[0]["dmjy"]["source"] == "poll"

    dmjy_conn.complete(c)  # while the triggerer is down

    second = Running(trigger(store).run())
    events = await second.wait_for(1)
    await asyncio.sleep(5 * POLL)  # more polls: nothing is repeated
    await second.stop()
    assert ids(events) == [c]


async def test_without_a_state_store_nothing_is_repeated(
    sync_hook: DmjyHook, dmjy_conn: SimulatorHandle
) -> None:
    """Airflow < 3.3: the cursor is in memory; a restart repeats nothing but misses the downtime."""
    a, b, c = (new_video(sync_hook) for _ in range(3))
    first = Running(trigger().run())
    await asyncio.sleep(3 * POLL)
    dmjy_conn.complete(a)
    assert ids(await first.wait_for(1)) == [a]
    await first.stop()

    dmjy_conn.complete(b)  # while down: the documented gap
    second = Running(trigger().run())
    await asyncio.sleep(4 * POLL)
    dmjy_conn.complete(c)
    events = await second.wait_for(1)
    await asyncio.sleep(4 * POLL)
    await second.stop()
    assert ids(events) == [c]


async def test_failed_and_existing_videos(sync_hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    done, failed = new_video(sync_hook), new_video(sync_hook)
    dmjy_conn.complete(done)
    dmjy_conn.fail(failed, "坏图")
    running = Running(trigger(FakeStateStore(), statuses=["failed", "completed"], emit_existing=True).run())
    events = await running.wait_for(2)
    await asyncio.sleep(3 * POLL)
    await running.stop()
    assert sorted(ids(events)) == sorted([done, failed])
    failed_event = next(e for e in events if e["data"]["taskId"] == failed)
    assert failed_event["event"] == "task.failed" and failed_event["data"]["errorMessage"] == "坏图"


async def test_transient_errors_do_not_end_the_watch(sync_hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    video = new_video(sync_hook)
    running = Running(trigger(FakeStateStore()).run())
    await asyncio.sleep(3 * POLL)
    dmjy_conn.inject_fault(method="GET", path="/api/v1/videos", status=503, times=6)
    dmjy_conn.complete(video)
    assert ids(await running.wait_for(1, timeout=20)) == [video]
    await running.stop()


async def test_shared_stream_fans_one_poll_out(sync_hook: DmjyHook, dmjy_conn: SimulatorHandle) -> None:
    """Airflow 3.3's shared streams: one poll loop per connection, each trigger its own filter/cursor."""
    completed = trigger(FakeStateStore())
    failed = trigger(FakeStateStore(), statuses=["failed"])
    assert completed.shared_stream_key() == failed.shared_stream_key()
    assert trigger(dmjy_conn_id="other").shared_stream_key() != completed.shared_stream_key()

    queues: list[asyncio.Queue[Any]] = [asyncio.Queue(), asyncio.Queue()]

    async def fan_out() -> None:  # what SharedStreamManager does with open_shared_stream
        async for raw in DmjyVideoEventTrigger.open_shared_stream(completed.serialize()[1]):
            for queue in queues:
                queue.put_nowait(raw)

    async def from_queue(queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
        while True:
            yield await queue.get()

    before = dmjy_conn.state()["requests"].get("GET /api/v1/videos", 0)
    poller = asyncio.ensure_future(fan_out())
    a = Running(completed.filter_shared_stream(from_queue(queues[0])))
    b = Running(failed.filter_shared_stream(from_queue(queues[1])))
    await asyncio.sleep(3 * POLL)
    x, y = new_video(sync_hook), new_video(sync_hook)
    dmjy_conn.complete(x)
    dmjy_conn.fail(y)
    assert ids(await a.wait_for(1)) == [x]
    assert ids(await b.wait_for(1)) == [y]
    poller.cancel()
    await a.stop()
    await b.stop()
    polls = dmjy_conn.state()["requests"].get("GET /api/v1/videos", 0) - before
    assert 0 < polls < 40  # one loop, not one per trigger


def test_cursor_lookback_and_pruning() -> None:
    cursor = VideoCursor(lookback_seconds=60)
    v = lambda i, t: {"id": f"v{i}", "status": "completed", "updatedAt": f"2024-01-01T00:{t}Z"}  # noqa: E731
    assert ids_of(cursor.take_new([v(1, "10:00"), v(2, "05:00")])) == ["v2", "v1"]
    assert cursor.take_new([v(1, "10:00")]) == []
    # Listed late but within the look-back: announced; older than it: not.
    assert ids_of(cursor.take_new([v(3, "09:30"), v(4, "08:00")])) == ["v3"]
    restored = VideoCursor(60, cursor.to_json())
    assert restored.take_new([v(1, "10:00"), v(3, "09:30")]) == []
    assert set(restored.seen) == {"v1", "v3"}  # v2 pruned: older than the look-back


def ids_of(videos: list[dict[str, Any]]) -> list[str]:
    return [str(v["id"]) for v in videos]


def test_serializes_and_fits_an_asset_watcher() -> None:
    new = DmjyVideoEventTrigger(dmjy_conn_id="dmjy_default", statuses=("failed", "completed"))
    classpath, kwargs = new.serialize()
    assert classpath == "airflow_provider_dmjy.triggers.events.DmjyVideoEventTrigger"
    assert DmjyVideoEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert isinstance(new, BaseEventTrigger)
    asset = Asset(videos_asset_uri("dmjy_default"), watchers=[AssetWatcher(name="dmjy_poll", trigger=new)])
    assert asset.uri == "dmjy://dmjy_default/videos"
    with pytest.raises(ValueError, match="statuses"):
        DmjyVideoEventTrigger(statuses=["processing"])


@pytest.mark.skipif(
    not hasattr(BaseEventTrigger, "shared_stream_key"), reason="asset state store is new in 3.3"
)
def test_the_real_state_store_has_the_methods_used() -> None:
    from airflow.sdk.execution_time.context import AssetStateStoreAccessors

    assert callable(AssetStateStoreAccessors.aget) and callable(AssetStateStoreAccessors.aset)
    assert hasattr(BaseEventTrigger, "shared_stream_key") and hasattr(
        BaseEventTrigger, "filter_shared_stream"
    )
