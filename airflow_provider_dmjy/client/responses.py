"""Reading the vendor's answers: the success envelope, the (undocumented) error envelopes, Retry-After.

Everything here is bounded, whatever the server sends: a body above :data:`MAX_RESPONSE_BYTES` is
refused (the transports read at most one byte more), an error body is parsed only in its first
:data:`ERROR_PARSE_BYTES`, and a vendor message is shortened, so that no answer can make a parse
(on a triggerer's event loop, say) take long or an error message grow large.

A server may echo the credentials back (a 401 quoting the key it refused, a proxy's debug page
quoting the request's headers): every server-supplied text that goes into an error is scrubbed of
the ``redact`` values (the configured key and secret) before it is shortened, so that no error
message, log line or UI toast repeats them. A successful answer is scrubbed too: every string inside
its ``data`` (a video's ``errorMessage``, its title...) before any caller sees it, so that neither an
exception, an XCom, a report nor a review question built from it can quote them.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyAuthenticationError,
    DmjyBadRequestError,
    DmjyDailyCapError,
    DmjyInsufficientBalanceError,
    DmjyInvalidResponseError,
    DmjyNotFoundError,
    DmjyPermissionError,
    DmjyRateLimitError,
    DmjyRedirectError,
    DmjyResponseTooLargeError,
    DmjyServerError,
)

__all__ = [
    "ERROR_PARSE_BYTES",
    "MAX_RESPONSE_BYTES",
    "MIN_REDACTED_CHARS",
    "error_from_response",
    "is_timestamp_error",
    "parse_body",
    "parse_retry_after",
    "redact",
]

#: Largest API response body accepted (4 MiB; a full list page of 100 videos is about 100 KiB).
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
#: An error body is decoded as JSON only up to this size; beyond, only its start is quoted.
ERROR_PARSE_BYTES = 64 * 1024
#: How much of a non-JSON body is scanned for the quoted snippet.
_SNIPPET_SCAN_BYTES = 4096
_MAX_MESSAGE_CHARS = 500
#: Shorter values are not scrubbed: replacing a 1-3 character key wherever it occurs would mangle
#: every message while hiding next to nothing.
MIN_REDACTED_CHARS = 4
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]{1,260}")

_DAILY_CAP = re.compile(r"daily|per day|每日|每天|当日|上限", re.IGNORECASE)
_TIMESTAMP = re.compile(r"timestamp|expired|时间戳|过期", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def _redacted_values(secrets: Iterable[str]) -> list[str]:
    # Longest first: a key that contains the secret (or the reverse) leaves no tail behind.
    return sorted((s for s in secrets if len(s) >= MIN_REDACTED_CHARS), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each of ``secrets`` (of at least 4 characters) as ``***``."""
    for secret in _redacted_values(secrets):
        text = text.replace(secret, "***")
    return text


@functools.lru_cache(maxsize=64)
def _data_redaction(secrets: tuple[str, ...]) -> tuple[str, ...]:
    # The same few credentials on every answer: filtered and sorted once, not once per poll.
    return tuple(_redacted_values(secrets))


def _redact_data(data: dict[str, Any], secrets: tuple[str, ...]) -> None:
    """Scrub ``secrets`` from every string value inside ``data``, in place; keys are left as they are.

    It runs on every answer (each status poll): one walk of the freshly decoded JSON, with a stack
    rather than recursion (a deeply nested answer cannot exhaust the interpreter's); ``str.replace``
    returns a string without the value as it is, so an answer without one allocates nothing new.
    """
    values = _data_redaction(secrets)
    if not values:
        return
    stack: list[dict[str, Any] | list[Any]] = [data]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        changed: list[tuple[Any, str]] = []
        for key, value in items:
            if isinstance(value, str):
                scrubbed = value
                for secret in values:
                    scrubbed = scrubbed.replace(secret, "***")
                if scrubbed is not value:
                    changed.append((key, scrubbed))
            elif isinstance(value, (dict, list)):
                stack.append(value)
        for key, scrubbed in changed:  # after the walk of this node: no change while iterating it
            node[key] = scrubbed


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: deeply nested JSON
        return None


def _snippet(body: bytes, secrets: tuple[str, ...]) -> str:
    head = body[:_SNIPPET_SCAN_BYTES]
    text = _SPACES.sub(" ", _TAGS.sub(" ", redact(head.decode("utf-8", "replace"), secrets))).strip()
    if len(text) > 160 or len(body) > len(head):
        return text[:160] + "..."
    return text or "empty body"


def _text(value: Any, default: str, secrets: tuple[str, ...]) -> str:
    """A vendor-supplied code or message as bounded, scrubbed text (a nested JSON value is not quoted)."""
    if value is None or value == "":
        return default
    if isinstance(value, (dict, list)):
        return f"{default} (a JSON {'object' if isinstance(value, dict) else 'array'})"
    text = redact(str(value), secrets)
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."


def _code(value: Any, secrets: tuple[str, ...]) -> str | None:
    return None if value is None else _text(value, "", secrets)[:100] or None


def _location_host(location: str | None) -> str | None:
    """``host[:port]`` of a ``Location`` header: never its path, query or user info."""
    if not location:
        return None
    try:
        parts = urlsplit(location.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or not _HOST.fullmatch(host):
        return None
    return f"{host}:{port}" if port is not None else host


def _error_fields(payload: Any, body: bytes, secrets: tuple[str, ...]) -> tuple[str | None, str]:
    """(vendor code, message) from any of the error envelopes the client accepts."""
    if not isinstance(payload, dict):
        return None, f"non-JSON response: {_snippet(body, secrets)}"
    error = payload.get("error")
    if isinstance(error, dict):
        message = error.get("message") or payload.get("message")
        return _code(error.get("code"), secrets), _text(message, "no message", secrets)
    if isinstance(error, str) and error:
        return _code(payload.get("code") or None, secrets), _text(error, "no message", secrets)
    return _code(payload.get("code"), secrets), _text(payload.get("message"), "no message", secrets)


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str,
    path: str,
    *,
    secrets: tuple[str, ...] = (),
) -> DmjyApiError:
    """The typed error for an error answer (an error status, or 2xx with ``"success": false``).

    ``secrets`` (the configured key and secret) are scrubbed from every text the server supplied.
    """
    kwargs: dict[str, Any] = {"status": status, "method": method, "path": path}
    if 300 <= status < 400:
        location = _location_host(headers.get("Location"))
        host = redact(location, secrets) if location else None
        where = f"a redirect to {host}" if host else "a redirect (no readable Location host)"
        return DmjyRedirectError(
            f"the API answered with {where}; API calls never follow redirects, so the credentials "
            "stay with the configured host (check the connection's Base URL)",
            location_host=host,
            **kwargs,
        )
    payload = _decode(body) if len(body) <= ERROR_PARSE_BYTES else None
    code, message = _error_fields(payload, body, secrets)
    kwargs["code"] = code
    if (code or "").upper() == "INSUFFICIENT_BALANCE" or status == 402:
        return DmjyInsufficientBalanceError(message, **kwargs)
    if status == 429:
        if _DAILY_CAP.search(f"{code or ''} {message}"):
            return DmjyDailyCapError(message, **kwargs)
        return DmjyRateLimitError(
            message, retry_after=parse_retry_after(headers.get("Retry-After")), **kwargs
        )
    if status >= 500:
        return DmjyServerError(message, **kwargs)
    error_class = {
        400: DmjyBadRequestError,
        401: DmjyAuthenticationError,
        403: DmjyPermissionError,
        404: DmjyNotFoundError,
    }.get(status, DmjyApiError)
    return error_class(message, **kwargs)


def parse_body(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    method: str,
    path: str,
    *,
    secrets: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The envelope's ``data`` (``{}`` when a success carries none), or raise the typed error.

    ``secrets`` are scrubbed from the server's text in the error (see :func:`error_from_response`)
    and from every string inside a successful answer's ``data``.
    """
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body, method, path, secrets=secrets)
    if len(body) > MAX_RESPONSE_BYTES:
        raise DmjyResponseTooLargeError(
            f"the response body is larger than the {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB limit "
            "for API answers; refused without reading the rest",
            status=status,
            method=method,
            path=path,
        )
    payload = _decode(body)
    if not isinstance(payload, dict) or "success" not in payload:
        raise DmjyInvalidResponseError(
            f"expected a JSON envelope with 'success', got: {_snippet(body, secrets)}",
            status=status,
            method=method,
            path=path,
        )
    if payload["success"] is not True:
        raise error_from_response(status, headers, body, method, path, secrets=secrets)
    data = payload.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DmjyInvalidResponseError(
            f"expected 'data' to be an object, got {type(data).__name__}",
            status=status,
            method=method,
            path=path,
        )
    _redact_data(data, secrets)
    return data


def is_timestamp_error(error: BaseException) -> bool:
    """Whether a 401 blames the request's timestamp (the local clock is off)."""
    if not isinstance(error, DmjyAuthenticationError):
        return False
    return bool(_TIMESTAMP.search(f"{error.code or ''} {error.vendor_message}"))
