"""What every layer of the simulator's app shares: the URL prefixes, the error envelope, and the
checked reading of a request (JSON body, query parameters, fields).

Simulator decisions beyond the vendor's page:

- Errors always use ``{"success": false, "error": {"code", "message"[, "field"]}}``; a validation
  error (400 ``INVALID_PARAMETER``) names the field.
- ``page`` is at least 1 and ``limit`` between 1 and 100 (default 20); ``totalPages`` is 0 for an
  empty list.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlparse

from fastapi import Request
from fastapi.responses import JSONResponse

from airflow_provider_dmjy.simulator.state import SimState
from airflow_provider_dmjy.simulator.webhooks import WebhookSender

API_PREFIX = "/api/v1"
#: The control endpoints: loopback only, never counted, never faulted.
CONTROL_PREFIX = "/_sim"


class ApiError(Exception):
    """An error answered in the simulator's error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers

    def response(self) -> JSONResponse:
        """Render as the error envelope."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return JSONResponse({"success": False, "error": error}, status_code=self.status, headers=self.headers)


def invalid(field: str, message: str) -> ApiError:
    """The 400 ``INVALID_PARAMETER`` error naming ``field``."""
    return ApiError(400, "INVALID_PARAMETER", message, field=field)


def ok(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The success envelope, with ``data`` when there is any."""
    return {"success": True, "data": data} if data is not None else {"success": True}


def sim(request: Request) -> SimState:
    """The state of the app serving ``request``."""
    state: SimState = request.app.state.sim
    return state


def sender(request: Request) -> WebhookSender:
    """The webhook sender of the app serving ``request``."""
    webhooks: WebhookSender = request.app.state.webhooks
    return webhooks


def media_base(request: Request) -> str:
    """The root URL the client reached the simulator at, for the media URLs of a task."""
    return str(request.base_url).rstrip("/")


def is_http_url(value: object) -> bool:
    """True for an absolute ``http``/``https`` URL with a host."""
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or the 400 naming ``body``."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid("body", "Request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise invalid("body", "Request body must be a JSON object")
    return body


def page_args(request: Request) -> tuple[int, int]:
    """The checked ``page`` and ``limit`` query parameters."""
    return (
        int_query(request, "page", default=1, low=1, high=None),
        int_query(request, "limit", default=20, low=1, high=100),
    )


def int_query(request: Request, name: str, *, default: int, low: int, high: int | None) -> int:
    """An integer query parameter within ``low``..``high`` (``high`` ``None``: unbounded)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    bounds = f"between {low} and {high}" if high is not None else f">= {low}"
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an integer {bounds} (got {raw!r})") from None
    if value < low or (high is not None and value > high):
        raise invalid(name, f"{name} must be an integer {bounds} (got {raw!r})")
    return value


def optional_str(body: dict[str, Any], name: str) -> str | None:
    """A string field that may be absent or ``null``."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, f"{name} must be a string (got {value!r})")
    return value


def required_str(body: dict[str, Any], name: str) -> str:
    """A string field that must be present and not blank."""
    value = body.get(name)
    if value is None:
        raise invalid(name, f"{name} is required")
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, f"{name} must be a non-empty string (got {value!r})")
    return value


def paginate(items: list[Any], page: int, limit: int) -> tuple[list[Any], dict[str, int]]:
    """One page of ``items`` and the vendor's ``pagination`` object."""
    start = (page - 1) * limit
    return items[start : start + limit], {
        "total": len(items),
        "page": page,
        "limit": limit,
        "totalPages": math.ceil(len(items) / limit),
    }
