"""Verification of the vendor's signed webhook callbacks (plain Python: no Airflow import).

The vendor signs ``JSON.stringify(body)`` with HMAC-SHA256 keyed by the API secret and sends the hex
digest in ``X-Webhook-Signature``. The bytes on the wire are normally exactly what was signed, so the
raw body is checked first. A proxy or framework may have re-serialised the JSON on the way, and the
vendor's own sample verifies ``JSON.stringify(JSON.parse(body))``; so when the raw bytes do not match,
the body is re-serialised the way JavaScript would (:mod:`.jsonstringify`) and checked again.

Only the body is signed: the ``X-Webhook-Timestamp`` and ``X-Webhook-Event`` headers are not, so both
the header and the body timestamps (when present) must be within the tolerance, and a header event name
must agree with the signed one. A body without its own ``timestamp`` is refused unless the caller allows
it (``require_signed_timestamp=False``): the header alone can be refreshed by anyone replaying it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_dmjy.client.jsonstringify import js_reserialize, js_stringify, reject_constant
from airflow_provider_dmjy.exceptions import DmjyWebhookVerificationError

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "EVENT_ACCOUNT_INSUFFICIENT_BALANCE",
    "EVENT_ACCOUNT_LOW_BALANCE",
    "EVENT_HEADER",
    "EVENT_TASK_COMPLETED",
    "EVENT_TASK_FAILED",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookEvent",
    "WebhookPayloadError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "js_stringify",
    "sign_webhook",
    "verify_webhook",
]

SIGNATURE_HEADER = "X-Webhook-Signature"
EVENT_HEADER = "X-Webhook-Event"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"
DEFAULT_TOLERANCE_SECONDS = 300

EVENT_TASK_COMPLETED = "task.completed"
EVENT_TASK_FAILED = "task.failed"
EVENT_ACCOUNT_LOW_BALANCE = "account.low_balance"
EVENT_ACCOUNT_INSUFFICIENT_BALANCE = "account.insufficient_balance"

#: A timestamp above this is in milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MILLISECONDS_ABOVE = 1e11
_DIGEST_SIZE = hashlib.sha256().digest_size
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class WebhookSignatureError(DmjyWebhookVerificationError):
    """The signature is missing or matches neither the raw body nor its JSON re-serialisation."""

    reason = "signature"


class WebhookTimestampError(DmjyWebhookVerificationError):
    """The timestamp is missing, unreadable or further than the tolerance from now."""

    reason = "timestamp"


class WebhookPayloadError(DmjyWebhookVerificationError):
    """The body is authentic (or unreadable) but is not a webhook event: not JSON, wrong shape."""

    reason = "payload"


@dataclass(frozen=True)
class WebhookEvent:
    """One verified webhook delivery.

    ``timestamp`` is the signed body's timestamp in epoch seconds (milliseconds are converted), or the
    header's when the body has none (``timestamp_signed`` is then false). ``payload`` is the whole
    verified body as parsed JSON.
    """

    event: str
    timestamp: float
    data: dict[str, Any]
    payload: dict[str, Any] = field(repr=False)
    #: Lowercase hex SHA-256 of exactly the bytes the signature covers (see :attr:`dedupe_key`).
    signed_sha256: str = field(repr=False)
    #: Whether ``timestamp`` comes from the signed body (false: from the unsigned header only).
    timestamp_signed: bool
    #: Which bytes the signature matched: the raw body, or its ``JSON.stringify`` re-serialisation.
    signed_over: Literal["raw", "reserialized"] = "raw"

    @property
    def task_id(self) -> str | None:
        """The video task id of a ``task.*`` event."""
        task_id = self.data.get("taskId")
        return task_id if isinstance(task_id, str) else None

    @property
    def is_task_event(self) -> bool:
        """``task.completed`` / ``task.failed`` (and any future ``task.*``)."""
        return self.event.startswith("task.")

    @property
    def is_account_event(self) -> bool:
        """``account.low_balance`` / ``account.insufficient_balance`` (and any future ``account.*``)."""
        return self.event.startswith("account.")

    @property
    def dedupe_key(self) -> str:
        """Identifies a delivery by what the sender signed: ``sha256:<digest of the signed bytes>``.

        A vendor retry, a replay (whatever its unsigned headers say) and a copy re-serialised by a
        proxy all have the same key: each verifies against the same signed bytes. Nothing unsigned
        goes into it, so a replay cannot make itself look new.
        """
        return f"sha256:{self.signed_sha256}"


def sign_webhook(secret: str | bytes, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with the API secret (what the vendor sends)."""
    return hmac.new(_key(secret), body, hashlib.sha256).hexdigest()


def verify_webhook(
    raw_body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secret: str | bytes,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
    require_signed_timestamp: bool = True,
) -> WebhookEvent:
    """Verify one delivery and return its event, or raise :class:`DmjyWebhookVerificationError`.

    The subclass says why: :class:`WebhookSignatureError`, :class:`WebhookTimestampError` or
    :class:`WebhookPayloadError`. Messages never contain the secret or the expected signature.

    :param raw_body: the request body exactly as received.
    :param headers: the request headers (any mapping or ``(name, value)`` pairs; names are
        case-insensitive).
    :param secret: the API secret of the connection the callback belongs to.
    :param tolerance: the largest accepted distance, in seconds, between the timestamp and ``now``
        (in either direction).
    :param now: the current epoch time in seconds (defaults to ``time.time()``; for tests).
    :param require_signed_timestamp: refuse a body without its own ``timestamp``
        (:class:`WebhookTimestampError`). With ``False`` such a body is accepted on a fresh
        ``X-Webhook-Timestamp`` header, which is not signed: the caller must then remember the
        deliveries it accepted (:attr:`WebhookEvent.dedupe_key`) for as long as replays matter.
    """
    if not secret:
        raise WebhookSignatureError("No API secret is configured to verify the webhook with")
    names = _lower_headers(headers)
    provided, well_formed = _parse_signature(names.get(SIGNATURE_HEADER.lower()))
    key = _key(secret)

    text, parsed, parse_error = _decode(raw_body)
    raw_digest = hmac.new(key, raw_body, hashlib.sha256).digest()
    # The re-serialisation is computed even when the raw body matches, and both comparisons always
    # run: the response time then does not depend on how close a forged signature came.
    reserialized = js_reserialize(text) if parsed is not None else None
    if reserialized is None:  # JavaScript would not parse it either: only the raw bytes can match
        reserialized = raw_body
    reserialized_digest = hmac.new(key, reserialized, hashlib.sha256).digest()
    raw_ok = hmac.compare_digest(raw_digest, provided)
    reserialized_ok = hmac.compare_digest(reserialized_digest, provided) and parsed is not None

    if not well_formed:
        if SIGNATURE_HEADER.lower() not in names:
            raise WebhookSignatureError(f"Missing {SIGNATURE_HEADER} header")
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} is not a 64-digit hex HMAC-SHA256")
    if not (raw_ok or reserialized_ok):
        detail = "" if parsed is not None else f" (and the body is not JSON: {parse_error})"
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} does not match the body{detail}")
    if parsed is None:
        raise WebhookPayloadError(f"The webhook body is not JSON: {parse_error}")

    event, body_ts, data = _event_fields(parsed)
    header_event = names.get(EVENT_HEADER.lower())
    if header_event is not None and header_event.strip() != event:
        # The header is not signed: a mismatch means someone rewrote it.
        raise WebhookSignatureError(f"{EVENT_HEADER} does not match the signed event {event!r}")
    if body_ts is None and require_signed_timestamp:
        raise WebhookTimestampError(
            'The webhook body has no signed "timestamp" (the unsigned header alone cannot stop a replay)'
        )
    timestamp = _check_timestamps(names.get(TIMESTAMP_HEADER.lower()), body_ts, tolerance, now)
    signed_bytes = raw_body if raw_ok else reserialized
    return WebhookEvent(
        event=event,
        timestamp=timestamp,
        data=data,
        payload=parsed,
        signed_sha256=hashlib.sha256(signed_bytes).hexdigest(),
        timestamp_signed=body_ts is not None,
        signed_over="raw" if raw_ok else "reserialized",
    )


# -- helpers ----------------------------------------------------------------------------------------
def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def _lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(name).lower(): str(value) for name, value in items}


def _parse_signature(value: str | None) -> tuple[bytes, bool]:
    """The provided digest as bytes, and whether it was well formed.

    A malformed value is replaced by zero bytes of the right length, so that the same comparisons
    run whatever was sent (no early exit that a timing probe could see).
    """
    if value is None:
        return bytes(_DIGEST_SIZE), False
    text = value.strip().lower()
    if _HEX_SIGNATURE.fullmatch(text) is None:
        return bytes(_DIGEST_SIZE), False
    return bytes.fromhex(text), True


def _decode(raw_body: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    """The body as text and as a JSON object (``None`` and the reason when it is neither)."""
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        return "", None, "not UTF-8"
    try:
        parsed = json.loads(text, parse_constant=reject_constant)
    except RecursionError:
        return text, None, "nested too deeply"
    except ValueError as error:
        return text, None, str(error)
    if not isinstance(parsed, dict):
        return text, None, f"a JSON {type(parsed).__name__}, not an object"
    return text, parsed, None


def _event_fields(body: dict[str, Any]) -> tuple[str, Any, dict[str, Any]]:
    event = body.get("event")
    if not isinstance(event, str) or not event:
        raise WebhookPayloadError('The webhook body has no "event" name')
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise WebhookPayloadError(f'The "data" of webhook {event!r} is not an object')
    return event, body.get("timestamp"), data


def _to_seconds(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise WebhookTimestampError(f"The {where} timestamp is not a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise WebhookTimestampError(f"The {where} timestamp is not a number") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WebhookTimestampError(f"The {where} timestamp is not a number")
    seconds = float(value)
    return seconds / 1000.0 if abs(seconds) > _MILLISECONDS_ABOVE else seconds


def _check_timestamps(header: str | None, body: Any, tolerance: float, now: float | None) -> float:
    """Both timestamps that are present must be within ``tolerance`` of now; returns the body's.

    The header alone is not enough: it is not signed, so a captured delivery could be replayed
    with a fresh header. The body's timestamp is signed.
    """
    current = time.time() if now is None else now
    checked: list[float] = []
    for where, value in (("header", header), ("body", body)):
        if value is None:
            continue
        seconds = _to_seconds(value, where)
        skew = seconds - current
        if abs(skew) > tolerance:
            direction = "old" if skew < 0 else "in the future"
            raise WebhookTimestampError(
                f"The {where} timestamp is {abs(skew):.0f} s {direction} (tolerance {tolerance:g} s)"
            )
        checked.append(seconds)
    if not checked:
        raise WebhookTimestampError(f"No timestamp: neither {TIMESTAMP_HEADER} nor a body timestamp")
    return checked[-1]
