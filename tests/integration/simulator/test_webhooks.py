"""Webhooks: signed compact JSON, task and account events, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from sim_helpers import Api, Receiver, wait_until

from airflow_provider_dmjy.simulator import SimulatorHandle


def verify(sim: SimulatorHandle, request: dict[str, Any]) -> dict[str, Any]:
    """Check headers and signature the way a receiver must; return the parsed body."""
    raw: bytes = request["body"]
    headers = request["headers"]
    expected = hmac.new(sim.api_secret.encode(), raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Webhook-Signature"], expected)
    assert headers["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(raw)
    # The bytes are exactly what JavaScript's JSON.stringify gives for the parsed body.
    assert raw == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert headers["X-Webhook-Event"] == body["event"]
    assert headers["X-Webhook-Timestamp"] == str(body["timestamp"])
    assert isinstance(body["timestamp"], int)
    assert abs(body["timestamp"] - time.time()) < 10
    return body


def test_task_completed(sim: SimulatorHandle, api: Api, receiver: Receiver) -> None:
    sim.configure(queue_seconds=0.05, render_seconds=0.3)
    task_id = api.create_video(duration=15, callbackUrl=receiver.url)["id"]
    (request,) = receiver.wait_for(1)
    assert request["path"] == "/hook"
    body = verify(sim, request)
    assert body == {
        "event": "task.completed",
        "timestamp": body["timestamp"],
        "data": {
            "taskId": task_id,
            "status": "completed",
            "videoUrl": f"{sim.root_url}/media/videos/{task_id}.mp4",
            "thumbnailUrl": f"{sim.root_url}/media/thumbnails/{task_id}.jpg",
            "duration": 15,
        },
    }
    assert list(body) == ["event", "timestamp", "data"]
    wait_until(lambda: sim.state()["webhooks_sent"] == 1)
    (log,) = sim.webhooks()
    assert log["delivered"] is True
    assert log["attempts"] == 1
    assert log["last_status"] == 200
    assert log["event"] == "task.completed"
    assert log["body"].encode() == request["body"]
    time.sleep(0.2)
    assert len(receiver.received) == 1  # sent once only


def test_forced_failure_webhook(sim: SimulatorHandle, api: Api, receiver: Receiver) -> None:
    sim.configure(render_seconds=60)
    task_id = api.create_video(callbackUrl=receiver.url)["id"]
    sim.fail(task_id, "图片无法处理")
    (request,) = receiver.wait_for(1)
    body = verify(sim, request)
    assert body["event"] == "task.failed"
    assert body["data"] == {"taskId": task_id, "status": "failed", "errorMessage": "图片无法处理"}
    assert "图片无法处理".encode() in request["body"]  # raw UTF-8, not \\u escapes


def test_deleted_task_sends_nothing(sim: SimulatorHandle, api: Api, receiver: Receiver) -> None:
    sim.configure(queue_seconds=0, render_seconds=0.3)
    task_id = api.create_video(callbackUrl=receiver.url)["id"]
    api.delete(f"/videos/{task_id}")
    time.sleep(0.5)
    assert receiver.received == []
    assert sim.webhooks() == []


def test_no_callback_no_webhook(sim: SimulatorHandle, api: Api) -> None:
    task_id = api.create_video()["id"]
    sim.complete(task_id)
    time.sleep(0.1)
    assert sim.webhooks() == []


def test_low_balance_crossing(sim: SimulatorHandle, api: Api, receiver: Receiver) -> None:
    sim.configure(balance=1100, render_seconds=60)
    api.create_video(duration=5, callbackUrl=receiver.url)  # 1050: still above
    api.create_video(duration=6, callbackUrl=receiver.url)  # 990: crosses
    api.create_video(duration=1, callbackUrl=receiver.url)  # 980: already below, no new event
    (request,) = receiver.wait_for(1)
    body = verify(sim, request)
    assert body["event"] == "account.low_balance"
    assert body["data"] == {
        "userId": "user_sim",
        "currentBalance": 990,
        "threshold": 1000,
        "message": "关联账号算力余额不足,当前余额: 990,预警阈值: 1000",
    }
    time.sleep(0.2)
    assert receiver.events() == ["account.low_balance"]


def test_account_events_go_to_account_webhook_url(sim: SimulatorHandle, api: Api, receiver: Receiver) -> None:
    sim.configure(balance=1100, cost_per_second=100, webhook_url=receiver.url, render_seconds=60)
    api.create_video(duration=1)  # 1000: not below
    api.create_video(duration=1)  # 900: below
    resp = api.post("/videos", {"description": "d", "imageUrl": "https://example.com/p.jpg", "duration": 10})
    assert resp.status_code == 402
    requests_seen = receiver.wait_for(2)
    bodies = sorted((verify(sim, r) for r in requests_seen), key=lambda b: str(b["event"]))
    assert [b["event"] for b in bodies] == ["account.insufficient_balance", "account.low_balance"]
    assert bodies[0]["data"] == {
        "userId": "user_sim",
        "currentBalance": 900,
        "required": 1000,
        "message": "关联账号算力余额不足,当前余额: 900,所需算力: 1000",
    }


def test_retries_then_success(sim: SimulatorHandle, api: Api, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    task_id = api.create_video(callbackUrl=receiver.url)["id"]
    sim.complete(task_id)
    requests_seen = receiver.wait_for(3)
    assert [r["status"] for r in requests_seen] == [500, 503, 200]
    assert len({r["body"] for r in requests_seen}) == 1  # the same bytes each time
    wait_until(lambda: sim.webhooks()[0]["delivered"])
    log = sim.webhooks()[0]
    assert log["attempts"] == 3
    assert sim.state()["webhooks_sent"] == 1


def test_retries_give_up(sim: SimulatorHandle, api: Api, receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 500, 500]
    task_id = api.create_video(callbackUrl=receiver.url)["id"]
    sim.complete(task_id)
    receiver.wait_for(3)
    wait_until(lambda: sim.webhooks()[0]["attempts"] == 3)
    time.sleep(0.6)
    log = sim.webhooks()[0]
    assert log["delivered"] is False
    assert log["last_status"] == 500
    assert len(receiver.received) == 3
    assert sim.state()["webhooks_sent"] == 0


def test_connection_refused_is_retried(sim: SimulatorHandle, api: Api) -> None:
    task_id = api.create_video(callbackUrl="http://127.0.0.1:9/hook")["id"]
    sim.complete(task_id)
    wait_until(lambda: sim.webhooks()[0]["attempts"] == 3 and sim.webhooks()[0]["last_error"], timeout=5)
    assert sim.webhooks()[0]["delivered"] is False
