"""DmjyAsyncHook against the simulator: reads, deletes, one shared session, clock skew."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_dmjy.client.async_client import shared_sessions
from airflow_provider_dmjy.exceptions import DmjyAuthenticationError, DmjyNotFoundError
from airflow_provider_dmjy.hooks.dmjy import DmjyAsyncHook, DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

IMG = "https://example.com/cup.jpg"
KEY_PREFIX = "dmjy_default"


async def test_reads_and_deletes(dmjy_conn: SimulatorHandle) -> None:
    video_id = DmjyHook().create_video("d", image_url=IMG)["id"]
    async with DmjyAsyncHook() as hook:
        assert (await hook.get_account())["balance"] == 100000 - 100
        assert (await hook.get_video(video_id))["status"] in ("pending", "processing")
        listed = [video["id"] async for video in hook.iter_videos()]
        assert listed == [video_id]
        assert (await hook.list_videos(status="pending", limit=5))["pagination"]["limit"] == 5
        await hook.delete_video(video_id)
        with pytest.raises(DmjyNotFoundError):
            await hook.get_video(video_id)


async def test_hooks_of_one_connection_share_one_session(dmjy_conn: SimulatorHandle) -> None:
    hooks = [DmjyAsyncHook() for _ in range(20)]
    clients = [await hook.get_async_client() for hook in hooks]
    assert len({id(client.session) for client in clients}) == 1
    key = hooks[0]._session_key(clients[0].config)
    assert shared_sessions.users(key) == 20
    await asyncio.gather(*(hook.get_account() for hook in hooks))
    session = clients[0].session
    for hook in hooks:
        await hook.close()
    assert shared_sessions.users(key) == 0
    assert session.closed


async def test_clock_skew_in_the_async_path(dmjy_conn: SimulatorHandle) -> None:
    dmjy_conn.configure(clock_offset_seconds=-900)
    async with DmjyAsyncHook() as hook:
        assert (await hook.get_account())["balance"] > 0
        assert (await hook.get_account())["balance"] > 0
    assert dmjy_conn.state()["requests"]["GET /api/v1/account"] == 3  # one refused, then corrected


async def test_async_auth_error(dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_BAD", dmjy_conn.conn_uri.replace("sim_secret", "wrong_one"))
    async with DmjyAsyncHook("dmjy_bad") as hook:
        with pytest.raises(DmjyAuthenticationError):
            await hook.get_account()
