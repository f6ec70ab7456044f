"""DmjyVideoTrigger against the simulator over real loopback HTTP, driven by iterating ``run()``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_dmjy._compat import AIRFLOW_VERSION
from airflow_provider_dmjy.client import async_client
from airflow_provider_dmjy.hooks import connection
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.triggers.video import (
    EVENT_COMPLETED,
    EVENT_ERROR,
    EVENT_FAILED,
    EVENT_TIMEOUT,
    DmjyVideoTrigger,
)

IMG = "https://example.com/cup.jpg"
VIDEO = "/api/v1/videos/{id}"
GET_VIDEO = f"GET {VIDEO}"


@pytest.fixture
def fast_renders(dmjy_conn: SimulatorHandle) -> SimulatorHandle:
    dmjy_conn.configure(render_seconds=0.5, queue_seconds=0.1)
    return dmjy_conn


def new_video(hook: DmjyHook) -> str:
    return str(hook.create_video("展示智能保温杯", image_url=IMG, duration=5)["id"])


async def events_of(trigger: BaseTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


def the_event(events: list[TriggerEvent]) -> dict[str, Any]:
    assert len(events) == 1
    payload = events[0].payload
    assert isinstance(payload, dict)
    json.dumps(payload)  # the triggerer stores it as JSON
    return payload


def test_serialize_round_trip() -> None:
    trigger = DmjyVideoTrigger(
        "vid_1",
        dmjy_conn_id="other",
        deadline=1.7e9,
        poll_interval=2.5,
        max_poll_interval=30,
        cancel_on_kill=True,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_dmjy.triggers.video.DmjyVideoTrigger"
    assert kwargs == {
        "video_id": "vid_1",
        "dmjy_conn_id": "other",
        "deadline": 1.7e9,
        "poll_interval": 2.5,
        "max_poll_interval": 30,
        "cancel_on_kill": True,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs  # primitives only
    assert DmjyVideoTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert DmjyVideoTrigger("v").serialize()[1] == {
        "video_id": "v",
        "dmjy_conn_id": "dmjy_default",
        "deadline": None,
        "poll_interval": 10.0,
        "max_poll_interval": 120.0,
        "cancel_on_kill": False,
    }


async def test_completes(fast_renders: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    trigger = DmjyVideoTrigger(video_id, deadline=time.time() + 30, poll_interval=0.05, max_poll_interval=0.2)
    event = the_event(await events_of(trigger))
    assert event["status"] == EVENT_COMPLETED and event["video_id"] == video_id
    assert event["video"]["id"] == video_id and event["video"]["status"] == "completed"
    assert event["video"]["videoUrl"]
    # polled more than once, yet not in a tight loop
    assert 2 <= fast_renders.state()["requests"][GET_VIDEO] <= 30


async def test_already_completed_fires_after_one_check(
    dmjy_conn: SimulatorHandle, sync_hook: DmjyHook
) -> None:
    video_id = new_video(sync_hook)
    dmjy_conn.complete(video_id)
    event = the_event(await events_of(DmjyVideoTrigger(video_id, poll_interval=5)))
    assert event["status"] == EVENT_COMPLETED
    assert dmjy_conn.state()["requests"][GET_VIDEO] == 1


async def test_failed_render(slow_renders: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    trigger = DmjyVideoTrigger(video_id, deadline=time.time() + 30, poll_interval=0.05, max_poll_interval=0.1)
    task = asyncio.create_task(events_of(trigger))
    await asyncio.sleep(0.2)
    slow_renders.fail(video_id, "图片内容审核未通过")
    event = the_event(await asyncio.wait_for(task, 10))
    assert event["status"] == EVENT_FAILED and event["video_id"] == video_id
    assert event["message"] == "图片内容审核未通过"
    assert event["video"]["status"] == "failed"


async def test_failed_render_by_fail_rate(dmjy_conn: SimulatorHandle, sync_hook: DmjyHook) -> None:
    dmjy_conn.configure(render_seconds=0.3, queue_seconds=0.05, fail_rate=1)
    video_id = new_video(sync_hook)
    event = the_event(await events_of(DmjyVideoTrigger(video_id, poll_interval=0.05, max_poll_interval=0.1)))
    assert event["status"] == EVENT_FAILED and event["message"]


async def test_deadline_gives_timeout(slow_renders: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    deadline = time.time() + 0.4
    # poll_interval far beyond the deadline: the sleep is cut to the deadline, then one last check
    trigger = DmjyVideoTrigger(video_id, deadline=deadline, poll_interval=30, max_poll_interval=60)
    event = the_event(await asyncio.wait_for(events_of(trigger), 10))
    assert time.time() >= deadline
    assert time.time() < deadline + 3
    assert event["status"] == EVENT_TIMEOUT and event["video_id"] == video_id
    assert event["video"]["status"] == "pending"
    assert video_id in event["message"] and "pending" in event["message"]
    # The first look waits one interval, cut to the deadline: one check, at the deadline.
    assert slow_renders.state()["requests"][GET_VIDEO] == 1


async def test_first_check_waits_one_interval(slow_renders: SimulatorHandle, sync_hook: DmjyHook) -> None:
    # The operator checked just before deferring; an immediate event would also race Airflow's
    # bookkeeping of the deferring worker (the resumed task could be failed as changed externally).
    video_id = new_video(sync_hook)
    slow_renders.complete(video_id)
    task = asyncio.create_task(events_of(DmjyVideoTrigger(video_id, poll_interval=1.0)))
    await asyncio.sleep(0.2)
    assert GET_VIDEO not in slow_renders.state()["requests"]
    assert the_event(await asyncio.wait_for(task, 10))["status"] == EVENT_COMPLETED


async def test_completion_seen_at_the_deadline_wins(
    slow_renders: SimulatorHandle, sync_hook: DmjyHook
) -> None:
    video_id = new_video(sync_hook)
    trigger = DmjyVideoTrigger(video_id, deadline=time.time() + 0.5, poll_interval=30, max_poll_interval=60)
    task = asyncio.create_task(events_of(trigger))
    await asyncio.sleep(0.2)
    slow_renders.complete(video_id)
    assert the_event(await asyncio.wait_for(task, 10))["status"] == EVENT_COMPLETED


async def test_past_deadline_checks_once(slow_renders: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    event = the_event(await events_of(DmjyVideoTrigger(video_id, deadline=time.time() - 1)))
    assert event["status"] == EVENT_TIMEOUT and event["video"]["id"] == video_id
    assert slow_renders.state()["requests"][GET_VIDEO] == 1


async def test_not_found_gives_error_event(dmjy_conn: SimulatorHandle) -> None:
    event = the_event(await events_of(DmjyVideoTrigger("vid_missing", poll_interval=0.05)))
    assert event["status"] == EVENT_ERROR and event["video_id"] == "vid_missing"
    assert event["error_type"] == "DmjyNotFoundError"
    assert "404" in event["message"]
    assert dmjy_conn.state()["requests"][GET_VIDEO] == 1  # not retried


async def test_auth_error_gives_error_event_without_the_secret(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DMJY_DEFAULT", dmjy_conn.conn_uri.replace(dmjy_conn.api_secret, "wrong-secret")
    )
    event = the_event(await events_of(DmjyVideoTrigger("vid_1", poll_interval=0.05)))
    assert event["status"] == EVENT_ERROR and event["error_type"] == "DmjyAuthenticationError"
    assert "wrong-secret" not in json.dumps(event)


async def test_server_errors_do_not_end_the_wait(fast_renders: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    # More 503s than the hook's own attempts (1 + 3 retries): the trigger itself must back off and go on.
    fast_renders.inject_fault(method="GET", path=VIDEO, status=503, times=6)
    trigger = DmjyVideoTrigger(video_id, deadline=time.time() + 30, poll_interval=0.05, max_poll_interval=0.2)
    event = the_event(await asyncio.wait_for(events_of(trigger), 20))
    assert event["status"] == EVENT_COMPLETED
    state = fast_renders.state()
    assert state["faults_pending"] == 0 and state["requests"][GET_VIDEO] >= 7


async def test_dropped_connections_do_not_end_the_wait(
    fast_renders: SimulatorHandle, sync_hook: DmjyHook
) -> None:
    video_id = new_video(sync_hook)
    fast_renders.inject_fault(method="GET", path=VIDEO, drop_connection=True, times=5)
    trigger = DmjyVideoTrigger(video_id, deadline=time.time() + 30, poll_interval=0.05, max_poll_interval=0.2)
    event = the_event(await asyncio.wait_for(events_of(trigger), 20))
    assert event["status"] == EVENT_COMPLETED
    assert fast_renders.state()["faults_pending"] == 0


async def test_rate_limits_do_not_end_the_wait(
    fast_renders: SimulatorHandle, sync_hook: DmjyHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No retries in the hook: every 429 reaches the trigger, which waits (capped) and polls again.
    fast_config = connection.config_from_connection
    monkeypatch.setattr(
        connection,
        "config_from_connection",
        lambda conn, **kw: dataclasses.replace(fast_config(conn, **kw), max_retries=0),
    )
    video_id = new_video(sync_hook)
    fast_renders.inject_fault(method="GET", path=VIDEO, status=429, retry_after=1, times=3)
    trigger = DmjyVideoTrigger(video_id, deadline=time.time() + 30, poll_interval=0.05, max_poll_interval=0.2)
    assert the_event(await asyncio.wait_for(events_of(trigger), 20))["status"] == EVENT_COMPLETED
    assert fast_renders.state()["faults_pending"] == 0


async def test_transient_errors_until_the_deadline_give_timeout(
    slow_renders: SimulatorHandle, sync_hook: DmjyHook
) -> None:
    video_id = new_video(sync_hook)
    slow_renders.inject_fault(method="GET", path=VIDEO, status=503, times=1000)
    trigger = DmjyVideoTrigger(
        video_id, deadline=time.time() + 0.5, poll_interval=0.05, max_poll_interval=0.1
    )
    event = the_event(await asyncio.wait_for(events_of(trigger), 20))
    assert event["status"] == EVENT_TIMEOUT and event["video"] is None
    assert "503" in event["message"]


class _SessionSpy:
    """Records every aiohttp session the shared registry opens."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sessions: list[Any] = []
        original = async_client.new_session

        def spy() -> Any:
            session = original()
            self.sessions.append(session)
            return session

        monkeypatch.setattr(async_client, "new_session", spy)


async def test_triggers_of_one_connection_share_one_session(
    slow_renders: SimulatorHandle, sync_hook: DmjyHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _SessionSpy(monkeypatch)
    key = ("dmjy_default", sync_hook.config.base_url, sync_hook.config.api_key)
    ids = [new_video(sync_hook) for _ in range(50)]
    triggers = [
        DmjyVideoTrigger(i, deadline=time.time() + 30, poll_interval=0.05, max_poll_interval=0.3) for i in ids
    ]
    tasks = [asyncio.create_task(events_of(t)) for t in triggers]
    for _ in range(100):  # until every trigger holds the session (a loaded machine is slower)
        await asyncio.sleep(0.05)
        if async_client.shared_sessions.users(key) == 50:
            break
    assert async_client.shared_sessions.users(key) == 50
    for video_id in ids:  # off the loop: the triggers keep polling meanwhile
        await asyncio.to_thread(slow_renders.complete, video_id)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert [the_event(r)["status"] for r in results] == [EVENT_COMPLETED] * 50
    assert {the_event(r)["video_id"] for r in results} == set(ids)
    assert len(spy.sessions) == 1  # one session for 50 waits, never one per poll
    assert spy.sessions[0].closed  # the last trigger to finish closed it
    assert async_client.shared_sessions.users(key) == 0
    # Every wait polled through that one session (how often depends on the machine's load).
    assert slow_renders.state()["requests"][GET_VIDEO] >= 50


async def test_cancelled_wait_releases_the_session(
    slow_renders: SimulatorHandle, sync_hook: DmjyHook, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _SessionSpy(monkeypatch)
    trigger = DmjyVideoTrigger(new_video(sync_hook), poll_interval=0.05, max_poll_interval=0.1)
    task = asyncio.create_task(events_of(trigger))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(spy.sessions) == 1 and spy.sessions[0].closed


async def _killed(trigger: DmjyVideoTrigger) -> None:
    """What the triggerer does on a user action: cancel the running wait, then call on_kill()."""
    task = asyncio.create_task(events_of(trigger))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.on_kill()
    await trigger.cleanup()


async def test_on_kill_with_cancel_on_kill_deletes_the_render(
    slow_renders: SimulatorHandle, sync_hook: DmjyHook
) -> None:
    video_id = new_video(sync_hook)
    await _killed(DmjyVideoTrigger(video_id, poll_interval=0.05, cancel_on_kill=True))
    assert slow_renders.state()["videos"][video_id] == "deleted"


async def test_on_kill_without_cancel_on_kill_leaves_the_render(
    slow_renders: SimulatorHandle, sync_hook: DmjyHook
) -> None:
    video_id = new_video(sync_hook)
    await _killed(DmjyVideoTrigger(video_id, poll_interval=0.05))
    assert slow_renders.state()["videos"][video_id] == "pending"
    assert "DELETE /api/v1/videos/{id}" not in slow_renders.state()["requests"]


async def test_on_kill_keeps_a_finished_video(dmjy_conn: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    dmjy_conn.complete(video_id)
    await DmjyVideoTrigger(video_id, cancel_on_kill=True).on_kill()
    assert dmjy_conn.state()["videos"][video_id] == "completed"


async def test_on_kill_leaves_a_video_whose_status_cannot_be_read(
    slow_renders: SimulatorHandle, sync_hook: DmjyHook
) -> None:
    video_id = new_video(sync_hook)
    # More failures than the hook retries: the status stays unknown, and it might be completed.
    slow_renders.inject_fault(method="GET", path=VIDEO, status=503, times=10)
    await DmjyVideoTrigger(video_id, cancel_on_kill=True).on_kill()
    state = slow_renders.state()
    assert state["videos"][video_id] == "pending"
    assert "DELETE /api/v1/videos/{id}" not in state["requests"]


async def test_on_kill_ignores_a_deleted_video(dmjy_conn: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    sync_hook.delete_video(video_id)
    await DmjyVideoTrigger(video_id, cancel_on_kill=True).on_kill()  # no exception
    assert dmjy_conn.state()["videos"][video_id] == "deleted"


async def test_cleanup_never_cancels(slow_renders: SimulatorHandle, sync_hook: DmjyHook) -> None:
    video_id = new_video(sync_hook)
    trigger = DmjyVideoTrigger(video_id, poll_interval=0.05, cancel_on_kill=True)
    task = asyncio.create_task(events_of(trigger))
    await asyncio.sleep(0.2)
    task.cancel()  # a triggerer shutdown or reassignment: no on_kill, only cleanup
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.cleanup()
    assert slow_renders.state()["videos"][video_id] == "pending"
    assert "DELETE /api/v1/videos/{id}" not in slow_renders.state()["requests"]


def test_on_kill_is_a_triggerer_hook_from_airflow_3_3() -> None:
    # The class docstring promises cancel-on-kill for deferred tasks from 3.3 on; this pins the fact.
    assert hasattr(BaseTrigger, "on_kill") == (AIRFLOW_VERSION.release[:2] >= (3, 3))
