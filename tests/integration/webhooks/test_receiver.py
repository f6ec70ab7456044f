"""The receiver app with FastAPI's test client and Airflow's metadata DB: status codes, events, replays."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from airflow_provider_dmjy.webhooks import event_payload
from airflow_provider_dmjy.webhooks.receiver import create_app

from .conftest import (
    CONN_ID,
    age_asset_events,
    asset_events,
    delivery_without_timestamp,
    set_webhook_conn,
    signed_delivery,
)

URL = f"/webhooks/{CONN_ID}"
COMPLETED = {
    "taskId": "task_abc123",
    "status": "completed",
    "videoUrl": "https://cdn.example.com/video.mp4",
    "thumbnailUrl": "https://cdn.example.com/thumb.jpg",
    "duration": 15,
}


@pytest.fixture
def client(webhook_conn: str, dmjy_assets: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(max_body_bytes=4096, tolerance=300)) as test_client:
        yield test_client


def test_task_event_becomes_one_asset_event(client: TestClient, dmjy_assets: dict[str, str]) -> None:
    raw, headers = signed_delivery("task.completed", COMPLETED)
    response = client.post(URL, content=raw, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "created" and len(response.json()["asset_event_ids"]) == 1
    [extra] = asset_events(dmjy_assets["videos"])
    assert event_payload(extra)["data"] == COMPLETED
    assert extra["event"] == "task.completed" and extra["timestamp"] == json.loads(raw)["timestamp"]
    assert extra["dmjy"]["source"] == "webhook"
    assert asset_events(dmjy_assets["account"]) == []


def test_account_event_goes_to_the_account_asset(client: TestClient, dmjy_assets: dict[str, str]) -> None:
    data = {"userId": "user_xyz", "currentBalance": 800, "threshold": 1000, "message": "余额不足"}
    raw, headers = signed_delivery("account.low_balance", data)
    assert client.post(URL, content=raw, headers=headers).status_code == 200
    assert [e["data"] for e in asset_events(dmjy_assets["account"])] == [data]
    assert asset_events(dmjy_assets["videos"]) == []


def test_replay_creates_no_second_event(client: TestClient, dmjy_assets: dict[str, str]) -> None:
    raw, headers = signed_delivery("task.completed", COMPLETED)
    assert client.post(URL, content=raw, headers=headers).json()["status"] == "created"
    for _ in range(3):
        again = client.post(URL, content=raw, headers=headers)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
    # Re-serialised by a proxy: still the same delivery.
    pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=True).encode()
    assert client.post(URL, content=pretty, headers=headers).json()["status"] == "duplicate"
    # The same video announced again later is a new delivery.
    later, later_headers = signed_delivery("task.completed", COMPLETED, timestamp=int(time.time()) + 1)
    assert client.post(URL, content=later, headers=later_headers).json()["status"] == "created"
    assert len(asset_events(dmjy_assets["videos"])) == 2


def test_replay_with_a_fresh_header_timestamp_is_a_duplicate(
    client: TestClient, dmjy_assets: dict[str, str]
) -> None:
    """Only the signed bytes identify a delivery: a new X-Webhook-Timestamp does not make it new."""
    now = int(time.time())
    raw, headers = signed_delivery("task.completed", COMPLETED, timestamp=now)
    assert client.post(URL, content=raw, headers=headers).json()["status"] == "created"
    for fresh in (now + 1, now + 120):
        headers["X-Webhook-Timestamp"] = str(fresh)
        assert client.post(URL, content=raw, headers=headers).json()["status"] == "duplicate"
    assert len(asset_events(dmjy_assets["videos"])) == 1


def test_different_signed_bodies_in_the_same_second_are_two_events(
    client: TestClient, dmjy_assets: dict[str, str]
) -> None:
    """Same event, same user, same second, different balance: two deliveries, not a replay."""
    now = int(time.time())
    for balance in (800, 700):
        data = {"userId": "user_xyz", "currentBalance": balance, "threshold": 1000}
        raw, headers = signed_delivery("account.low_balance", data, timestamp=now)
        assert client.post(URL, content=raw, headers=headers).json()["status"] == "created"
    assert [e["data"]["currentBalance"] for e in asset_events(dmjy_assets["account"])] == [800, 700]


@pytest.mark.parametrize(
    "extra", [{}, {"webhook_allow_unsigned_timestamp": False}, {"webhook_allow_unsigned_timestamp": "maybe"}]
)
def test_a_body_without_a_signed_timestamp_is_refused(
    client: TestClient, dmjy_assets: dict[str, str], monkeypatch: pytest.MonkeyPatch, extra: dict[str, object]
) -> None:
    set_webhook_conn(monkeypatch, **extra)
    raw, headers = delivery_without_timestamp("task.completed", COMPLETED)
    response = client.post(URL, content=raw, headers=headers)
    assert response.status_code == 401 and 'no signed "timestamp"' in response.json()["error"]
    assert asset_events(dmjy_assets["videos"]) == []


@pytest.mark.parametrize("allow", [True, "true", " Yes "])
def test_an_opted_in_connection_deduplicates_unsigned_timestamps_by_digest(
    client: TestClient, dmjy_assets: dict[str, str], monkeypatch: pytest.MonkeyPatch, allow: object
) -> None:
    set_webhook_conn(monkeypatch, webhook_allow_unsigned_timestamp=allow)
    raw, headers = delivery_without_timestamp("task.completed", COMPLETED)
    assert client.post(URL, content=raw, headers=headers).json()["status"] == "created"
    # Nothing signed bounds when a replay may come: a day later, with a fresh header, still the same.
    age_asset_events(dmjy_assets["videos"], days=1)
    _, fresh_headers = delivery_without_timestamp("task.completed", COMPLETED)
    again = client.post(URL, content=raw, headers=fresh_headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    # The header is still checked: it is the only clock such a delivery has.
    _, stale = delivery_without_timestamp(
        "task.completed", COMPLETED, header_timestamp=int(time.time()) - 3600
    )
    assert client.post(URL, content=raw, headers=stale).status_code == 401
    assert len(asset_events(dmjy_assets["videos"])) == 1


def test_replay_protection_is_in_the_database(webhook_conn: str, dmjy_assets: dict[str, str]) -> None:
    """Two app instances (two api-server workers) share nothing but the DB."""
    raw, headers = signed_delivery("task.failed", {"taskId": "t1", "status": "failed"})
    with TestClient(create_app()) as first, TestClient(create_app()) as second:
        assert first.post(URL, content=raw, headers=headers).json()["status"] == "created"
        assert second.post(URL, content=raw, headers=headers).json()["status"] == "duplicate"
    assert len(asset_events(dmjy_assets["videos"])) == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"X-Webhook-Signature": "0" * 64}, 401),
        ({"X-Webhook-Signature": "short"}, 401),
        ({"X-Webhook-Signature": None}, 401),
        ({"X-Webhook-Timestamp": str(int(time.time()) - 3600)}, 401),
        ({"X-Webhook-Event": "task.failed"}, 401),
    ],
)
def test_rejected_headers(
    client: TestClient, dmjy_assets: dict[str, str], change: dict[str, str | None], status: int
) -> None:
    raw, headers = signed_delivery("task.completed", COMPLETED)
    for name, value in change.items():
        headers.pop(name)
        if value is not None:
            headers[name] = value
    response = client.post(URL, content=raw, headers=headers)
    assert response.status_code == status and "sim_secret" not in response.text
    assert asset_events(dmjy_assets["videos"]) == []


def test_stale_and_future_bodies(client: TestClient, dmjy_assets: dict[str, str]) -> None:
    for offset in (-301, 301):
        raw, headers = signed_delivery("task.completed", COMPLETED, timestamp=int(time.time()) + offset)
        assert client.post(URL, content=raw, headers=headers).status_code == 401
    assert asset_events(dmjy_assets["videos"]) == []


def test_tampered_body_and_wrong_secret(client: TestClient, dmjy_assets: dict[str, str]) -> None:
    raw, headers = signed_delivery("task.completed", COMPLETED)
    tampered = raw.replace(b'"duration":15', b'"duration":16')
    assert client.post(URL, content=tampered, headers=headers).status_code == 401
    raw, headers = signed_delivery("task.completed", COMPLETED, secret="another")
    assert client.post(URL, content=raw, headers=headers).status_code == 401
    assert asset_events(dmjy_assets["videos"]) == []


def test_bad_json(client: TestClient, dmjy_assets: dict[str, str]) -> None:
    raw = b'{"event": "task.completed", "timestamp": 1, '
    _, headers = signed_delivery("task.completed", {})
    from airflow_provider_dmjy.webhooks import sign_webhook

    headers["X-Webhook-Signature"] = sign_webhook("sim_secret", raw)
    assert client.post(URL, content=raw, headers=headers).status_code == 400
    # Not JSON and not signed either: the signature decides first.
    headers["X-Webhook-Signature"] = "1" * 64
    assert client.post(URL, content=raw, headers=headers).status_code == 401
    assert asset_events(dmjy_assets["videos"]) == []


def test_unknown_connections(client: TestClient) -> None:
    raw, headers = signed_delivery("task.completed", COMPLETED)
    for conn_id in ("no_such_conn", "not_dmjy", "bad%20id"):
        assert client.post(f"/webhooks/{conn_id}", content=raw, headers=headers).status_code == 404


def test_body_over_the_limit_is_refused_unread(
    client: TestClient, dmjy_assets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_dmjy.webhooks import receiver

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed a body over the limit")

    monkeypatch.setattr(receiver, "verify_webhook", never)
    raw, headers = signed_delivery("task.completed", {**COMPLETED, "pad": "x" * 5000})
    assert client.post(URL, content=raw, headers=headers).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield raw[:3000]
        yield raw[3000:]

    headers.pop("Content-Length", None)
    assert client.post(URL, content=chunks(), headers=headers).status_code == 413
    assert asset_events(dmjy_assets["videos"]) == []


def test_default_limit_is_64_kib(webhook_conn: str, dmjy_assets: dict[str, str]) -> None:
    with TestClient(create_app()) as default_client:
        raw, headers = signed_delivery("task.completed", {**COMPLETED, "pad": "x" * (64 * 1024)})
        assert default_client.post(URL, content=raw, headers=headers).status_code == 413
        raw, headers = signed_delivery("task.completed", {**COMPLETED, "pad": "x" * (60 * 1024)})
        assert default_client.post(URL, content=raw, headers=headers).status_code == 200


def test_unknown_event_type_is_ignored(client: TestClient, dmjy_assets: dict[str, str]) -> None:
    raw, headers = signed_delivery("billing.invoice", {"id": 1})
    response = client.post(URL, content=raw, headers=headers)
    assert response.status_code == 202 and response.json()["status"] == "ignored"
    assert asset_events(dmjy_assets["videos"]) == asset_events(dmjy_assets["account"]) == []


def test_no_dag_uses_the_asset(webhook_conn: str, airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_UNUSED_DMJY", json.dumps({"conn_type": "dmjy", "login": "k", "password": "sim_secret"})
    )
    with TestClient(create_app()) as test_client:
        raw, headers = signed_delivery("task.completed", COMPLETED)
        response = test_client.post("/webhooks/unused_dmjy", content=raw, headers=headers)
        assert response.status_code == 202 and response.json()["status"] == "no_asset"
    assert asset_events("dmjy://unused_dmjy/videos") == []
