"""Request signing: the vendor's HMAC-SHA256 scheme as pure functions, plus a clock that tracks skew.

The sign string is ``METHOD + "\\n" + PATH + "\\n" + TIMESTAMP + "\\n" + API_KEY`` and the signature
is the lowercase hex HMAC-SHA256 of it keyed with the API secret. PATH is the path of the URL
actually requested (with the ``/api/v1`` prefix), plus ``?query`` when query-string signing is on.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

__all__ = [
    "SKEW_TOLERANCE_SECONDS",
    "SkewClock",
    "auth_headers",
    "sign",
    "sign_string",
    "signing_path",
]

#: A ``Date`` header further than this from the local clock makes later signatures use its offset.
SKEW_TOLERANCE_SECONDS = 30.0


def sign_string(method: str, path: str, timestamp_ms: str, api_key: str) -> str:
    """The vendor's string to sign for one request."""
    return f"{method.upper()}\n{path}\n{timestamp_ms}\n{api_key}"


def sign(secret: str, method: str, path: str, timestamp_ms: str, api_key: str) -> str:
    """Lowercase hex HMAC-SHA256 of the sign string, keyed with the API secret."""
    message = sign_string(method, path, timestamp_ms, api_key).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signing_path(url: str, sign_query_string: bool = False) -> str:
    """The PATH part of the sign string for a full request URL."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if sign_query_string and parts.query:
        return f"{path}?{parts.query}"
    return path


class SkewClock:
    """Milliseconds since the epoch as the server sees them.

    Starts at the local clock; ``observe_date_header`` moves it when a response's ``Date`` shows
    the local clock is off by more than :data:`SKEW_TOLERANCE_SECONDS`, so that timestamps stay
    inside the server's 5-minute window even on a machine whose clock drifted.
    """

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = offset_seconds
        self._lock = threading.Lock()

    @property
    def offset_seconds(self) -> float:
        """Server time minus local time, as last measured (0 until a skew is seen)."""
        return self._offset

    def now(self) -> float:
        """Epoch seconds on the server's clock."""
        return time.time() + self._offset

    def timestamp_ms(self) -> str:
        """The ``X-Timestamp`` value for a request sent now."""
        return str(int(self.now() * 1000))

    def observe_date_header(self, value: str | None, received_at: float | None = None) -> bool:
        """Adopt the offset a ``Date`` header shows when it is beyond tolerance; True if it moved."""
        server = _date_seconds(value) if value else None
        if server is None:
            return False
        measured = server - (received_at if received_at is not None else time.time())
        with self._lock:
            if abs(measured - self._offset) <= SKEW_TOLERANCE_SECONDS:
                return False
            # Date has one-second resolution: an offset inside the tolerance is noise, not skew.
            self._offset = measured if abs(measured) > SKEW_TOLERANCE_SECONDS else 0.0
            return True


@functools.lru_cache(maxsize=4)
def _date_seconds(value: str) -> float | None:
    """Epoch seconds of an HTTP ``Date`` value, None when unreadable. Cached: the value changes once
    a second, and parsing it with the email module was a sixth of a poll's CPU above aiohttp."""
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def auth_headers(
    *,
    auth_mode: str,
    api_key: str,
    api_secret: str,
    method: str,
    url: str,
    clock: SkewClock,
    sign_query_string: bool = False,
) -> dict[str, str]:
    """The authentication headers for one attempt of one request (a fresh timestamp each call)."""
    if auth_mode == "header":
        return {"X-API-Key": api_key, "X-API-Secret": api_secret}
    timestamp = clock.timestamp_ms()
    path = signing_path(url, sign_query_string)
    return {
        "X-API-Key": api_key,
        "X-Timestamp": timestamp,
        "X-Signature": sign(api_secret, method, path, timestamp, api_key),
    }
