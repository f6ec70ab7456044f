"""Who may call the simulator: API credentials (header and signature modes), the rate limit, and
the loopback-only rule of the control endpoints.

The signature is checked with this module's own HMAC code, not the client's, so a signing bug in
the client cannot hide behind the same bug here.

Simulator decisions beyond the vendor's page:

- Checks on an API call run in this order: credentials, rate limit, then the route's own
  (validation, daily cap, balance).
- Signature mode signs the raw request path as sent on the wire (without the query string unless
  ``sign_query_string`` is on); the timestamp window is checked after the signature, so
  ``TIMESTAMP_EXPIRED`` implies the signature itself was right.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math

from fastapi import Request

from airflow_provider_dmjy.simulator.state import SimState
from airflow_provider_dmjy.simulator.wire import ApiError, sim

TIMESTAMP_WINDOW_MS = 5 * 60 * 1000


def check_credentials(request: Request, state: SimState) -> str:
    """Authenticate ``request`` in header or signature mode; return its API key."""
    config = state.config
    headers = request.headers
    api_key = headers.get("x-api-key")
    secret = headers.get("x-api-secret")
    timestamp = headers.get("x-timestamp")
    signature = headers.get("x-signature")
    if not api_key or (secret is None and (timestamp is None or signature is None)):
        raise ApiError(
            401,
            "MISSING_CREDENTIALS",
            "Missing credentials: send X-API-Key with X-API-Secret, or with X-Timestamp and X-Signature",
        )
    if not hmac.compare_digest(api_key.encode(), config.api_key.encode()):
        raise ApiError(401, "INVALID_API_KEY", "Invalid API key")
    if secret is not None:
        if not hmac.compare_digest(secret.encode(), config.api_secret.encode()):
            raise ApiError(401, "INVALID_SECRET", "Invalid API secret")
        return api_key
    assert timestamp is not None
    assert signature is not None
    if not hmac.compare_digest(_expected_signature(request, state, timestamp, api_key), signature.encode()):
        raise ApiError(401, "INVALID_SIGNATURE", "Invalid signature")
    try:
        ts_ms = int(timestamp)
    except ValueError:
        ts_ms = None
    if ts_ms is None or abs(state.now() * 1000 - ts_ms) > TIMESTAMP_WINDOW_MS:
        raise ApiError(401, "TIMESTAMP_EXPIRED", "Timestamp expired or outside the 5-minute window")
    return api_key


def _expected_signature(request: Request, state: SimState, timestamp: str, api_key: str) -> bytes:
    """Hex HMAC-SHA256 of ``METHOD\\nPATH\\nTIMESTAMP\\nAPI_KEY``, over the path as sent on the wire."""
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    query = request.scope.get("query_string", b"").decode("latin-1")
    if state.config.sign_query_string and query:
        path = f"{path}?{query}"
    sign_string = f"{request.method}\n{path}\n{timestamp}\n{api_key}"
    return (
        hmac.new(state.config.api_secret.encode(), sign_string.encode(), hashlib.sha256).hexdigest().encode()
    )


async def api_guard(request: Request) -> str:
    """Dependency of every ``/api/v1`` route: authenticate, then apply the rate limit."""
    state = sim(request)
    api_key = check_credentials(request, state)
    request.state.api_key = api_key
    wait = state.take_token(api_key)
    if wait is not None:
        retry_after = max(1, math.ceil(wait))
        raise ApiError(
            429,
            "RATE_LIMITED",
            f"Too many requests; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    return api_key


def loopback_only(request: Request) -> None:
    """Dependency of the control endpoints: refuse any client that is not on this machine."""
    host = request.client.host if request.client else ""
    try:
        allowed = ipaddress.ip_address(host).is_loopback
    except ValueError:
        allowed = host in ("localhost", "testclient")
    if not allowed:
        raise ApiError(403, "FORBIDDEN", "Control endpoints answer loopback clients only")
