"""The simulator's real signed webhooks, sent to the receiver served on loopback, become asset events.

On Airflow >= 3.3 the receiver is reached through the real api-server app (mounted by this package's
``airflow.plugins`` entry point); on 3.1 through the plugin's apps mounted the same way.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.webhooks import event_payload

from .conftest import asset_events, wait_for

IMG = "https://example.com/cup.jpg"


def delivered(sim: SimulatorHandle, count: int) -> list[dict[str, Any]]:
    wait_for(lambda: sum(1 for d in sim.webhooks() if d["delivered"] or d["attempts"] >= 3) >= count)
    return sim.webhooks()


def test_completed_and_failed_videos_produce_one_event_per_delivery(
    hook: DmjyHook, dmjy_conn: SimulatorHandle, callback_url: str, dmjy_assets: dict[str, str]
) -> None:
    ids = [
        hook.create_video(f"视频 {i}", image_url=IMG, duration=2, callback_url=callback_url)["id"]
        for i in range(3)
    ]
    dmjy_conn.complete(ids[0])
    dmjy_conn.complete(ids[1])
    dmjy_conn.fail(ids[2], "图片无法访问")
    deliveries = delivered(dmjy_conn, 3)
    assert [(d["delivered"], d["attempts"], d["last_status"]) for d in deliveries] == [(True, 1, 200)] * 3

    events = [event_payload(extra) for extra in asset_events(dmjy_assets["videos"])]
    assert len(events) == 3
    by_task = {e["data"]["taskId"]: e for e in events}
    assert by_task[ids[0]]["event"] == by_task[ids[1]]["event"] == "task.completed"
    assert by_task[ids[0]]["data"]["videoUrl"].endswith(f"{ids[0]}.mp4")
    assert (
        by_task[ids[2]]["event"] == "task.failed"
        and by_task[ids[2]]["data"]["errorMessage"] == "图片无法访问"
    )
    # The extra is the verified body, exactly as the simulator signed it.
    assert {
        json.dumps(
            {k: e[k] for k in ("event", "timestamp", "data")}, ensure_ascii=False, separators=(",", ":")
        )
        for e in events
    } == {d["body"] for d in deliveries}


def test_replayed_delivery_creates_nothing(
    hook: DmjyHook, dmjy_conn: SimulatorHandle, callback_url: str, dmjy_assets: dict[str, str]
) -> None:
    video = hook.create_video("回放", image_url=IMG, duration=2, callback_url=callback_url)
    dmjy_conn.complete(video["id"])
    [delivery] = delivered(dmjy_conn, 1)
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Signature": delivery["signature"],
        "X-Webhook-Event": delivery["event"],
        "X-Webhook-Timestamp": str(delivery["timestamp"]),
    }
    again = requests.post(callback_url, data=delivery["body"].encode(), headers=headers, timeout=10)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(asset_events(dmjy_assets["videos"])) == 1


def test_low_balance_goes_to_the_account_asset(
    hook: DmjyHook, dmjy_conn: SimulatorHandle, callback_url: str, dmjy_assets: dict[str, str]
) -> None:
    dmjy_conn.configure(balance=1020, low_balance_threshold=1000)
    hook.create_video("余额", image_url=IMG, duration=5, callback_url=callback_url)  # 50 credits
    deliveries = delivered(dmjy_conn, 1)
    assert [d["event"] for d in deliveries] == ["account.low_balance"] and deliveries[0]["delivered"]
    [extra] = asset_events(dmjy_assets["account"])
    assert extra["data"]["currentBalance"] == 970 and "余额" in extra["data"]["message"]
    assert asset_events(dmjy_assets["videos"]) == []


def test_wrong_secret_is_refused_and_retried_without_events(
    hook: DmjyHook,
    dmjy_conn: SimulatorHandle,
    callback_url: str,
    dmjy_assets: dict[str, str],
    monkeypatch: Any,
) -> None:
    video = hook.create_video("拒绝", image_url=IMG, duration=2, callback_url=callback_url)
    # The receiver reads the connection per request: a rotated secret on our side refuses the vendor's.
    monkeypatch.setenv(
        "AIRFLOW_CONN_DMJY_DEFAULT",
        json.dumps(
            {
                "conn_type": "dmjy",
                "login": dmjy_conn.api_key,
                "password": "rotated",
                "host": dmjy_conn.base_url,
            }
        ),
    )
    dmjy_conn.complete(video["id"])
    [delivery] = delivered(dmjy_conn, 1)
    assert not delivery["delivered"] and delivery["last_status"] == 401 and delivery["attempts"] == 3
    assert asset_events(dmjy_assets["videos"]) == []
