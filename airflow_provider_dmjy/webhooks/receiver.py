"""The webhook receiver: a FastAPI app the api-server mounts at ``/dmjy`` (see :mod:`.plugin`).

``POST /dmjy/webhooks/{conn_id}`` verifies a delivery with the API secret of the ``dmjy``
connection ``conn_id`` and records it as an asset event on ``dmjy://{conn_id}/videos`` (``task.*``)
or ``dmjy://{conn_id}/account`` (``account.*``), with the verified body as the event's ``extra``.

The app is mounted outside Airflow's authentication on purpose (the vendor cannot log in): the
signature is the only gate, so nothing is written before it and the timestamp have been checked.
It is mounted only where ``[dmjy] webhooks_enabled`` is true (see :mod:`.plugin`).

A delivery is identified by the SHA-256 of the bytes its signature covers
(:attr:`~airflow_provider_dmjy.client.webhooks.WebhookEvent.dedupe_key`), never by an unsigned
header. A body must carry its own (signed) ``timestamp``; a connection whose sender omits it can opt
in with the extra ``webhook_allow_unsigned_timestamp: true``, and its deliveries are then compared
with every event the asset still has, not only the recent ones.

=============================  ======  ===============================================
outcome                        status  asset events created
=============================  ======  ===============================================
recorded                       200     one per active asset with that URI
replay of a recorded delivery  200     none (``"status": "duplicate"``)
no DAG uses the asset          202     none (``"status": "no_asset"``)
authentic, unknown event type  202     none (``"status": "ignored"``)
not a ``dmjy`` connection      404     none
body over the size limit       413     none (refused before it is read to the end)
bad signature or timestamp     401     none
no ``timestamp`` in the body   401     none (unless the connection opts in)
authentic but not an event     400     none
=============================  ======  ===============================================
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_dmjy.assets import CONN_ID_PATTERN
from airflow_provider_dmjy.client.webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    WebhookEvent,
    WebhookPayloadError,
    verify_webhook,
)
from airflow_provider_dmjy.exceptions import DmjyWebhookVerificationError
from airflow_provider_dmjy.webhooks import DEFAULT_MAX_BODY_BYTES, asset_uri_for_event

__all__ = [
    "ALLOW_UNSIGNED_TIMESTAMP_EXTRA",
    "DEDUPE_FIELD",
    "RecordResult",
    "WebhookConnection",
    "create_app",
    "record_asset_event",
    "webhook_connection",
]

log = logging.getLogger(__name__)

#: The key of ``extra`` that carries our bookkeeping next to the vendor's payload.
DEDUPE_FIELD = "dmjy"
#: The connection extra that lets bodies without a signed ``timestamp`` in (off unless true).
ALLOW_UNSIGNED_TIMESTAMP_EXTRA = "webhook_allow_unsigned_timestamp"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})
#: Slack added to the replay window for clock differences between api-server workers and the DB.
_WINDOW_SLACK_SECONDS = 60.0


@dataclass
class RecordResult:
    """What :func:`record_asset_event` did."""

    #: ids of the asset events created (one per active asset with the URI).
    created: list[int] = field(default_factory=list)
    #: assets on which the same delivery had already been recorded.
    duplicates: int = 0
    #: active assets found with the URI.
    assets: int = 0


@dataclass(frozen=True)
class WebhookConnection:
    """What the receiver needs from a ``dmjy`` connection."""

    secret: str = field(repr=False)
    #: The extra ``webhook_allow_unsigned_timestamp``: accept bodies without a signed timestamp.
    allow_unsigned_timestamp: bool = False


def webhook_connection(conn_id: str) -> WebhookConnection | None:
    """The webhook settings of ``dmjy`` connection ``conn_id``; ``None`` when there is no such connection.

    A connection of another type counts as missing: its password must never become a webhook key.
    Blocking (secrets backends, the database): call it from a thread.
    """
    # Re-exported from airflow.sdk.exceptions on Airflow >= 3.2: the same class on every version.
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined]
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    if conn.conn_type != "dmjy" or not conn.password:
        return None
    return WebhookConnection(
        secret=str(conn.password),
        allow_unsigned_timestamp=_allows_unsigned_timestamp(conn_id, conn.extra_dejson),
    )


def _allows_unsigned_timestamp(conn_id: str, extra: dict[str, Any]) -> bool:
    """The opt-in extra as a boolean; anything but a clear yes keeps the stricter default."""
    value = extra.get(ALLOW_UNSIGNED_TIMESTAMP_EXTRA)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text not in _TRUE | _FALSE:
        log.warning(
            "Connection %s: extra %s must be true or false (got %r); treated as false",
            conn_id,
            ALLOW_UNSIGNED_TIMESTAMP_EXTRA,
            value,
        )
    return text in _TRUE


def record_asset_event(
    uri: str, extra: dict[str, Any], dedupe_key: str, window_seconds: float | None
) -> RecordResult:
    """Create one asset event per active asset with ``uri``, unless ``dedupe_key`` is already there.

    Replay protection lives in the database, so it holds across api-server workers: the asset rows
    are locked (``SELECT ... FOR UPDATE`` where the database supports it; SQLite has no row locks)
    and the asset's events of the last ``window_seconds`` are searched for the key. A delivery whose
    signed timestamp is older than the verification tolerance is refused before this point, so a
    window of twice the tolerance covers every replay that could still pass. ``None`` searches every
    event the asset still has: for deliveries without a signed timestamp, which could be replayed at
    any time. Blocking: call it from a thread.
    """
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from airflow.utils.sqlalchemy import with_row_locks
    from sqlalchemy import Select, select

    result = RecordResult()
    with create_session() as session:
        query = select(AssetModel).where(AssetModel.uri == uri).order_by(AssetModel.id)
        # key_share=False: FOR UPDATE, so that two workers with the same delivery queue up here.
        locked = with_row_locks(query, session=session, key_share=False)  # type: ignore[arg-type]
        models = session.scalars(locked).all()
        for model in models:
            if model.active is None:  # no DAG declares it any more
                continue
            result.assets += 1
            previous_events: Select[Any] = select(AssetEvent.extra).where(AssetEvent.asset_id == model.id)
            if window_seconds is not None:
                cutoff = datetime.now(timezone.utc) - timedelta(seconds=window_seconds)
                previous_events = previous_events.where(
                    AssetEvent.timestamp >= cutoff,  # type: ignore[arg-type]  # untyped column on 3.1
                )
            recent: Sequence[Any] = session.scalars(previous_events).all()
            if any(_dedupe_key_of(previous) == dedupe_key for previous in recent):
                result.duplicates += 1
                continue
            event = asset_manager.register_asset_change(asset=model, extra=extra, session=session)
            if event is not None:
                result.created.append(int(event.id))
    return result


def _dedupe_key_of(extra: Any) -> str | None:
    if isinstance(extra, dict) and isinstance(extra.get(DEDUPE_FIELD), dict):
        key = extra[DEDUPE_FIELD].get("dedupe_key")
        return key if isinstance(key, str) else None
    return None


def asset_event_extra(conn_id: str, event: WebhookEvent) -> dict[str, Any]:
    """The verified body plus a ``"dmjy"`` entry (source, connection, dedupe key)."""
    return {
        **event.payload,
        DEDUPE_FIELD: {"source": "webhook", "conn_id": conn_id, "dedupe_key": event.dedupe_key},
    }


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing it as soon as it passes ``limit`` bytes (a lying Content-Length included)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _reply(code: int, /, **content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=code)


def create_app(
    *,
    max_body_bytes: int | None = None,
    tolerance: float | None = None,
) -> FastAPI:
    """The receiver app.

    :param max_body_bytes: the largest accepted body; default ``[dmjy] webhook_max_body_bytes``
        or 64 KiB.
    :param tolerance: the accepted clock distance of a delivery's timestamp, in seconds; default
        ``[dmjy] webhook_tolerance_seconds`` or 300.
    """
    from airflow_provider_dmjy._compat import conf

    limit = (
        max_body_bytes
        if max_body_bytes is not None
        else conf.getint("dmjy", "webhook_max_body_bytes", fallback=DEFAULT_MAX_BODY_BYTES)
    )
    window = (
        tolerance
        if tolerance is not None
        else conf.getfloat("dmjy", "webhook_tolerance_seconds", fallback=DEFAULT_TOLERANCE_SECONDS)
    )
    app = FastAPI(
        title="DMJY webhooks",
        description="Signed callbacks from the DMJY video API, recorded as Airflow asset events.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.post("/webhooks/{conn_id}")
    async def receive_webhook(conn_id: str, request: Request) -> JSONResponse:
        """Verify one delivery and record it as an asset event."""
        if not CONN_ID_PATTERN.fullmatch(conn_id):  # no dmjy:// asset could name it: 404, no lookup
            return _reply(404, error="Unknown connection")
        try:
            body = await _read_body(request, limit)
        except _BodyTooLarge:
            log.warning("DMJY webhook for %s refused: body over %d bytes", conn_id, limit)
            return _reply(413, error=f"Body larger than {limit} bytes")
        connection = await run_in_threadpool(webhook_connection, conn_id)
        if connection is None:
            return _reply(404, error="Unknown connection")
        try:
            event = verify_webhook(
                body,
                request.headers,
                connection.secret,
                window,
                require_signed_timestamp=not connection.allow_unsigned_timestamp,
            )
        except WebhookPayloadError as error:
            log.warning("DMJY webhook for %s refused (400): %s", conn_id, error)
            return _reply(400, error=str(error))
        except DmjyWebhookVerificationError as error:
            log.warning("DMJY webhook for %s refused (401): %s", conn_id, error)
            return _reply(401, error=str(error))

        uri = asset_uri_for_event(conn_id, event.event)
        if uri is None:
            log.info("DMJY webhook for %s: event %r has no asset; ignored", conn_id, event.event)
            return _reply(202, status="ignored", event=event.event)
        result = await run_in_threadpool(
            record_asset_event,
            uri,
            asset_event_extra(conn_id, event),
            event.dedupe_key,
            # Without a signed timestamp nothing bounds when a replay may come: search everything.
            2 * window + _WINDOW_SLACK_SECONDS if event.timestamp_signed else None,
        )
        if result.created:
            status, code = "created", 200
        elif result.duplicates:
            status, code = "duplicate", 200
        else:
            status, code = "no_asset", 202
            log.warning("DMJY webhook for %s: no DAG uses asset %s; nothing recorded", conn_id, uri)
        log.info("DMJY webhook %s for %s: %s on %s", event.dedupe_key, conn_id, status, uri)
        return _reply(code, status=status, event=event.event, asset_uri=uri, asset_event_ids=result.created)

    return app
