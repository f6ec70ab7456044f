"""Reading the vendor's answers: the success envelope, the (undocumented) error envelopes, Retry-After."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

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
    DmjyServerError,
)

__all__ = ["error_from_response", "is_timestamp_error", "parse_body", "parse_retry_after"]

_DAILY_CAP = re.compile(r"daily|per day|每日|每天|当日|上限", re.IGNORECASE)
_TIMESTAMP = re.compile(r"timestamp|expired|时间戳|过期", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


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
    except (TypeError, ValueError, IndexError):
        return None


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _snippet(body: bytes) -> str:
    text = _SPACES.sub(" ", _TAGS.sub(" ", body.decode("utf-8", "replace"))).strip()
    return (text[:160] + "...") if len(text) > 160 else (text or "empty body")


def _error_fields(payload: Any, body: bytes) -> tuple[str | None, str]:
    """(vendor code, message) from any of the error envelopes the client accepts."""
    if not isinstance(payload, dict):
        return None, f"non-JSON response: {_snippet(body)}"
    error = payload.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or payload.get("message")
        return (str(code) if code is not None else None), str(message or "no message")
    if isinstance(error, str):
        return (str(payload["code"]) if payload.get("code") else None), error
    code = payload.get("code")
    return (str(code) if code is not None else None), str(payload.get("message") or "no message")


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, method: str, path: str
) -> DmjyApiError:
    """The typed error for an error answer (an error status, or 2xx with ``"success": false``)."""
    code, message = _error_fields(_decode(body), body)
    kwargs: dict[str, Any] = {"status": status, "code": code, "method": method, "path": path}
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
    status: int, headers: Mapping[str, str], body: bytes, method: str, path: str
) -> dict[str, Any]:
    """The envelope's ``data`` (``{}`` when a success carries none), or raise the typed error."""
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body, method, path)
    payload = _decode(body)
    if not isinstance(payload, dict) or "success" not in payload:
        raise DmjyInvalidResponseError(
            f"expected a JSON envelope with 'success', got: {_snippet(body)}",
            status=status,
            method=method,
            path=path,
        )
    if payload["success"] is not True:
        raise error_from_response(status, headers, body, method, path)
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
    return data


def is_timestamp_error(error: BaseException) -> bool:
    """Whether a 401 blames the request's timestamp (the local clock is off)."""
    if not isinstance(error, DmjyAuthenticationError):
        return False
    return bool(_TIMESTAMP.search(f"{error.code or ''} {error.vendor_message}"))
