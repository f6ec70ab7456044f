"""Verification of the vendor's signed webhook callbacks (plain Python: no Airflow import).

The vendor signs ``JSON.stringify(body)`` with HMAC-SHA256 keyed by the API secret and sends the hex
digest in ``X-Webhook-Signature``. The bytes on the wire are normally exactly what was signed, so the
raw body is checked first. A proxy or framework may have re-serialised the JSON on the way, and the
vendor's own sample verifies ``JSON.stringify(JSON.parse(body))``; so when the raw bytes do not match,
the body is re-serialised the way JavaScript would (:func:`js_stringify`) and checked again.

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
# What JSON.stringify escapes in a string: controls, quote, backslash and lone surrogates (after
# json.loads, a surrogate pair is one code point, so any surrogate left in a str is a lone one).
_JS_ESCAPE = re.compile('[\\x00-\\x1f"\\\\\\ud800-\\udfff]')
_JS_SHORT_ESCAPES = {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")
_MAX_ARRAY_INDEX = 2**32 - 2


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
    reserialized = _js_reserialized(text, raw_body) if parsed is not None else raw_body
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


# -- JavaScript's JSON.parse + JSON.stringify ------------------------------------------------------
def js_stringify(value: Any) -> str:
    """``JSON.stringify(value)`` for a value produced by :func:`_parse_js` (``JSON.parse``).

    Compact, object keys in JavaScript's own-property order (array-index keys ascending first, then
    the others in insertion order), non-ASCII unescaped, numbers formatted like ``Number#toString``.
    """
    parts: list[str] = []
    _stringify_into(value, parts)
    return "".join(parts)


def _stringify_into(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, (int, float)):
        out.append(js_number(float(value)))
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _stringify_into(item, out)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(_js_key_order(value)):
            if index:
                out.append(",")
            out.append(_js_string(key))
            out.append(":")
            _stringify_into(value[key], out)
        out.append("}")
    else:
        raise TypeError(f"Not a JSON value: {type(value).__name__}")


def _js_key_order(obj: dict[str, Any]) -> list[str]:
    indices = sorted((k for k in obj if _is_array_index(k)), key=int)
    if not indices:
        return list(obj)
    chosen = set(indices)
    return indices + [k for k in obj if k not in chosen]


def _is_array_index(key: str) -> bool:
    return _ARRAY_INDEX.fullmatch(key) is not None and int(key) <= _MAX_ARRAY_INDEX


def _js_string(text: str) -> str:
    return '"' + _JS_ESCAPE.sub(_js_escape_char, text) + '"'


def _js_escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _JS_SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def js_number(value: float) -> str:
    """``Number.prototype.toString()`` of a double (ECMAScript Number::toString, radix 10)."""
    if math.isnan(value) or math.isinf(value):
        return "null"  # what JSON.stringify writes for them
    if value == 0:
        return "0"  # also -0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digits that round-trip, as the ECMAScript algorithm requires.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    n = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    exp = ("+" if e >= 0 else "-") + str(abs(e))
    if k == 1:
        return sign + digits + "e" + exp
    return sign + digits[0] + "." + digits[1:] + "e" + exp


def _parse_js(text: str) -> Any:
    """``JSON.parse``: every number a double; a repeated key keeps its first place and last value."""
    return json.loads(text, parse_int=float, parse_constant=_reject_constant, object_pairs_hook=_js_object)


def _js_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


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


def _js_reserialized(text: str, fallback: bytes) -> bytes:
    """``JSON.stringify(JSON.parse(text))`` as UTF-8; ``fallback`` where JavaScript would not parse it."""
    try:
        return js_stringify(_parse_js(text)).encode("utf-8")
    except (ValueError, RecursionError):
        return fallback


def _decode(raw_body: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    """The body as text and as a JSON object (``None`` and the reason when it is neither)."""
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        return "", None, "not UTF-8"
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
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
