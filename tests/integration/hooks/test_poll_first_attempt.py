"""A status poll that succeeds at once builds no retry machinery (issue 10 item 5), in the async path."""

from __future__ import annotations

from typing import Any

import pytest
import tenacity

from airflow_provider_dmjy.hooks.dmjy import DmjyAsyncHook, DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle


async def test_a_poll_that_succeeds_at_once_builds_no_async_retrying(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    original = tenacity.AsyncRetrying

    def counting(*args: Any, **kwargs: Any) -> tenacity.AsyncRetrying:
        built.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tenacity, "AsyncRetrying", counting)  # looked up by the policy at each use
    video_id = DmjyHook().create_video("d", image_url="https://example.com/cup.jpg")["id"]
    async with DmjyAsyncHook() as hook:
        for _ in range(5):
            assert (await hook.get_video(video_id))["id"] == video_id
    assert built == []
