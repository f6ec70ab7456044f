"""Webhooks: a delivery is recognised by what the sender signed, and the receiver is opt-in.

The receiver is the plugin loaded as the api-server loads it (through the ``airflow.plugins`` entry
point when the package is installed), its apps mounted as ``init_plugins`` mounts them, and served
over loopback HTTP. A new plugin instance stands for an api-server (re)start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest
import requests

from airflow_provider_dmjy.webhooks import videos_asset_uri
from airflow_provider_dmjy.webhooks.plugin import DmjyWebhookPlugin
from tests.integration.webhooks.conftest import (
    CONN_ID,
    ENABLED_ENV,
    _Server,
    age_asset_events,
    asset_events,
    delivery_without_timestamp,
    mount_plugin_apps,
    reset_assets,
    set_webhook_conn,
    signed_delivery,
)
from tests.reliability.evidence import Evidence

VIDEOS = videos_asset_uri(CONN_ID)
COMPLETED = {"taskId": "task_replay", "status": "completed", "videoUrl": "https://cdn.example.com/v.mp4"}


def _plugin() -> Any:
    """A fresh plugin instance, found the way Airflow finds it."""
    for entry_point in entry_points(group="airflow.plugins"):
        if entry_point.name == "dmjy_webhooks":
            return entry_point.load()()
    return DmjyWebhookPlugin()  # a PYTHONPATH checkout: no entry point installed


def _post(url: str, raw: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=raw, headers=headers, timeout=10)


@pytest.fixture
def receiver_url(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The enabled receiver's URL for ``dmjy_default``, whose videos asset is active and empty."""
    monkeypatch.setenv(ENABLED_ENV, "True")
    set_webhook_conn(monkeypatch)
    reset_assets([VIDEOS])
    with _Server(mount_plugin_apps(_plugin())) as server:
        yield f"http://127.0.0.1:{server.port}/dmjy/webhooks/{CONN_ID}"


@pytest.mark.reliability(
    area="Webhooks",
    case="signed body replayed with a fresh X-Webhook-Timestamp",
    expected="one asset event; each replay answers 200 duplicate",
)
def test_signed_body_replayed_with_a_fresh_header(receiver_url: str, evidence: Evidence) -> None:
    now = int(time.time())
    raw, headers = signed_delivery("task.completed", COMPLETED, timestamp=now)
    assert _post(receiver_url, raw, headers).json()["status"] == "created"
    for fresh in (now + 1, now + 60, now + 240):
        headers["X-Webhook-Timestamp"] = str(fresh)
        replay = _post(receiver_url, raw, headers)
        assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    evidence.no_secret_in(replay.text)
    evidence.message(f"replay -> {replay.status_code} {replay.json()['status']}")
    assert len(asset_events(VIDEOS)) == 1


@pytest.mark.reliability(
    area="Webhooks",
    case="body without a signed timestamp, replayed with fresh header timestamps",
    expected="refused with 401 every time; no asset event",
)
def test_body_without_a_signed_timestamp_is_refused(receiver_url: str, evidence: Evidence) -> None:
    raw, _ = delivery_without_timestamp("task.completed", COMPLETED)
    responses = []
    for _ in range(3):  # the original and two replays, each with a header fresh at that moment
        _, headers = delivery_without_timestamp("task.completed", COMPLETED)
        responses.append(_post(receiver_url, raw, headers))
    assert [r.status_code for r in responses] == [401, 401, 401]
    evidence.no_secret_in(*(r.text for r in responses))
    evidence.message(responses[0].json()["error"])
    assert 'no signed "timestamp"' in responses[0].json()["error"]
    assert asset_events(VIDEOS) == []


@pytest.mark.reliability(
    area="Webhooks",
    case="no signed timestamp, connection opts in; replayed a day later, fresh header",
    expected="recorded once; the replay is a duplicate by body digest",
)
def test_opted_in_unsigned_timestamp_deduplicated_by_digest(
    receiver_url: str, monkeypatch: pytest.MonkeyPatch, evidence: Evidence
) -> None:
    set_webhook_conn(monkeypatch, webhook_allow_unsigned_timestamp=True)
    raw, headers = delivery_without_timestamp("task.completed", COMPLETED)
    assert _post(receiver_url, raw, headers).json()["status"] == "created"
    age_asset_events(VIDEOS, days=1)  # far beyond any replay window a timestamp could justify
    _, fresh = delivery_without_timestamp("task.completed", COMPLETED)
    replay = _post(receiver_url, raw, fresh)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    evidence.no_secret_in(replay.text)
    evidence.message(f"replay a day later -> {replay.status_code} {replay.json()['status']}")
    assert len(asset_events(VIDEOS)) == 1


@pytest.mark.reliability(
    area="Webhooks",
    case="provider installed, [dmjy] webhooks_enabled not set",
    expected="no /dmjy route (404), nothing recorded; set True + restart: recorded",
)
def test_receiver_is_opt_in(airflow_db: None, monkeypatch: pytest.MonkeyPatch, evidence: Evidence) -> None:
    monkeypatch.delenv(ENABLED_ENV, raising=False)
    set_webhook_conn(monkeypatch)
    reset_assets([VIDEOS])
    raw, headers = signed_delivery("task.completed", COMPLETED)
    default = _plugin()
    assert default.fastapi_apps == []
    with _Server(mount_plugin_apps(default)) as server:
        refused = _post(f"http://127.0.0.1:{server.port}/dmjy/webhooks/{CONN_ID}", raw, headers)
    assert refused.status_code == 404 and asset_events(VIDEOS) == []
    evidence.message(f"POST /dmjy/webhooks/{CONN_ID} with the option unset -> {refused.status_code}")

    monkeypatch.setenv(ENABLED_ENV, "True")
    with _Server(mount_plugin_apps(_plugin())) as server:  # the api-server restarted
        recorded = _post(f"http://127.0.0.1:{server.port}/dmjy/webhooks/{CONN_ID}", raw, headers)
    assert recorded.status_code == 200 and recorded.json()["status"] == "created"
    evidence.no_secret_in(refused.text, recorded.text)
    assert len(asset_events(VIDEOS)) == 1
