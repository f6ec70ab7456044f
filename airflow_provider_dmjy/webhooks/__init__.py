"""DMJY webhooks in Airflow: verification, asset names and the asset-event payload shape.

Importing this package is cheap (no FastAPI, no Airflow): the api-server receiver lives in
:mod:`airflow_provider_dmjy.webhooks.receiver` and its plugin in
:mod:`airflow_provider_dmjy.webhooks.plugin`.

Both event sources put the same payload on the same assets, so a DAG does not care which one is
used: the receiver's asset event has the verified webhook body as its ``extra``; an
``AssetWatcher`` with :class:`~airflow_provider_dmjy.triggers.events.DmjyVideoEventTrigger` stores
``{"from_trigger": true, "payload": <the same shape>}``. :func:`event_payload` reads either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_dmjy.assets import asset_uri
from airflow_provider_dmjy.client.webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    EVENT_ACCOUNT_INSUFFICIENT_BALANCE,
    EVENT_ACCOUNT_LOW_BALANCE,
    EVENT_TASK_COMPLETED,
    EVENT_TASK_FAILED,
    WebhookEvent,
    WebhookPayloadError,
    WebhookSignatureError,
    WebhookTimestampError,
    js_stringify,
    sign_webhook,
    verify_webhook,
)
from airflow_provider_dmjy.exceptions import DmjyWebhookVerificationError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TOLERANCE_SECONDS",
    "EVENT_ACCOUNT_INSUFFICIENT_BALANCE",
    "EVENT_ACCOUNT_LOW_BALANCE",
    "EVENT_TASK_COMPLETED",
    "EVENT_TASK_FAILED",
    "DmjyWebhookVerificationError",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "account_asset_uri",
    "asset_uri_for_event",
    "event_payload",
    "js_stringify",
    "sign_webhook",
    "verify_webhook",
    "videos_asset_uri",
]

#: Webhook bodies above this many bytes are refused before they are read to the end or parsed.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def videos_asset_uri(dmjy_conn_id: str) -> str:
    """``dmjy://<conn_id>/videos``: the asset updated when a video task completes or fails.

    :raises ValueError: if the connection id cannot be named in an asset URI
        (:data:`airflow_provider_dmjy.assets.CONN_ID_PATTERN`).
    """
    return asset_uri(dmjy_conn_id, "videos")


def account_asset_uri(dmjy_conn_id: str) -> str:
    """``dmjy://<conn_id>/account``: the asset updated by ``account.*`` (balance) events.

    :raises ValueError: if the connection id cannot be named in an asset URI
        (:data:`airflow_provider_dmjy.assets.CONN_ID_PATTERN`).
    """
    return asset_uri(dmjy_conn_id, "account")


def asset_uri_for_event(dmjy_conn_id: str, event: str) -> str | None:
    """The asset URI an event name belongs to, or ``None`` for an event of an unknown family."""
    if event.startswith("task."):
        return videos_asset_uri(dmjy_conn_id)
    if event.startswith("account."):
        return account_asset_uri(dmjy_conn_id)
    return None


def event_payload(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``{"event", "timestamp", "data", ...}`` payload of a DMJY asset event, whichever source.

    Accepts the ``extra`` of an asset event created by the webhook receiver (the payload itself) or
    by an ``AssetWatcher`` trigger (``{"from_trigger": true, "payload": ...}``).
    """
    if not extra:
        return {}
    if extra.get("from_trigger") and isinstance(extra.get("payload"), Mapping):
        return dict(extra["payload"])
    return dict(extra)
