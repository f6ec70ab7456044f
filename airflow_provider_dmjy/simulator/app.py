"""The simulator's FastAPI application: the vendor API under ``/api/v1``, media, control endpoints.

Simulator decisions beyond the vendor's page:

- Errors always use ``{"success": false, "error": {"code", "message"[, "field"]}}``.
- Checks on create run in this order: auth, rate limit, validation, daily cap, balance.
- ``imageUrl`` or ``imageUrls`` is required (at most 9 URLs), every URL must be http(s).
- Media (``/media/...``) needs no auth, like a CDN, and exists only once a task is completed.
- Signature mode signs the raw request path as sent on the wire (without the query string unless
  ``sign_query_string`` is on); the timestamp window is checked after the signature, so
  ``TIMESTAMP_EXPIRED`` implies the signature itself was right.
- Forcing a task that already finished (or was deleted) answers 409 ``INVALID_STATE``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import formatdate
from importlib import resources
from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_dmjy.simulator.config import SimulatorConfig
from airflow_provider_dmjy.simulator.persistence import StateFile, StatePersistenceMiddleware
from airflow_provider_dmjy.simulator.state import (
    TERMINAL,
    USER_ID,
    Fault,
    SimState,
    Task,
    iso,
    total_pages,
)
from airflow_provider_dmjy.simulator.transport import CURRENT_TRANSPORT
from airflow_provider_dmjy.simulator.webhooks import WebhookSender

log = logging.getLogger("airflow_provider_dmjy.simulator")

API_PREFIX = "/api/v1"
TIMESTAMP_WINDOW_MS = 5 * 60 * 1000
ASPECT_RATIOS = ("9:16", "16:9")
STATUSES = ("pending", "processing", "completed", "failed")
MAX_IMAGES = 9

_DEFAULT_FAULT_CODES = {
    400: "INVALID_PARAMETER",
    401: "INVALID_SIGNATURE",
    402: "INSUFFICIENT_BALANCE",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


def _asset(name: str) -> bytes:
    return resources.files("airflow_provider_dmjy.simulator").joinpath("assets").joinpath(name).read_bytes()


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


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "INVALID_PARAMETER", message, field=field)


def _ok(data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"success": True, "data": data} if data is not None else {"success": True}


# -- helpers shared by handlers ------------------------------------------------------------------------
def _sim(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def _sender(request: Request) -> WebhookSender:
    sender: WebhookSender = request.app.state.webhooks
    return sender


def _media_base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError:
        raise _invalid("body", "Request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _invalid("body", "Request body must be a JSON object")
    return body


def _page_args(request: Request) -> tuple[int, int]:
    return (
        _int_query(request, "page", default=1, low=1, high=None),
        _int_query(request, "limit", default=20, low=1, high=100),
    )


def _int_query(request: Request, name: str, *, default: int, low: int, high: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    bounds = f"between {low} and {high}" if high is not None else f">= {low}"
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"{name} must be an integer {bounds} (got {raw!r})") from None
    if value < low or (high is not None and value > high):
        raise _invalid(name, f"{name} must be an integer {bounds} (got {raw!r})")
    return value


def _optional_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, f"{name} must be a string (got {value!r})")
    return value


def _required_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise _invalid(name, f"{name} is required")
    if not isinstance(value, str) or not value.strip():
        raise _invalid(name, f"{name} must be a non-empty string (got {value!r})")
    return value


def _paginate(items: list[Any], page: int, limit: int) -> tuple[list[Any], dict[str, int]]:
    start = (page - 1) * limit
    return items[start : start + limit], {
        "total": len(items),
        "page": page,
        "limit": limit,
        "totalPages": total_pages(len(items), limit),
    }


# -- auth and rate limit -----------------------------------------------------------------------------
def _check_auth(request: Request, state: SimState) -> str:
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
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    query = request.scope.get("query_string", b"").decode("latin-1")
    if config.sign_query_string and query:
        path = f"{path}?{query}"
    sign_string = f"{request.method}\n{path}\n{timestamp}\n{api_key}"
    expected = hmac.new(config.api_secret.encode(), sign_string.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise ApiError(401, "INVALID_SIGNATURE", "Invalid signature")
    try:
        ts_ms = int(timestamp)
    except ValueError:
        ts_ms = None
    if ts_ms is None or abs(state.now() * 1000 - ts_ms) > TIMESTAMP_WINDOW_MS:
        raise ApiError(401, "TIMESTAMP_EXPIRED", "Timestamp expired or outside the 5-minute window")
    return api_key


async def api_guard(request: Request) -> str:
    """Dependency of every ``/api/v1`` route: authenticate, then apply the rate limit."""
    state = _sim(request)
    api_key = _check_auth(request, state)
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


def _loopback_only(request: Request) -> None:
    host = request.client.host if request.client else ""
    try:
        allowed = ipaddress.ip_address(host).is_loopback
    except ValueError:
        allowed = host in ("localhost", "testclient")
    if not allowed:
        raise ApiError(403, "FORBIDDEN", "Control endpoints answer loopback clients only")


# -- the ASGI middleware: Date header, request counters, faults, last-resort 500 ---------------------
class SimulatorMiddleware:
    """Outermost app layer: counts requests by route template, injects faults, stamps ``Date``."""

    def __init__(self, app: ASGIApp, state: SimState, fastapi_app: FastAPI) -> None:
        self.app = app
        self.state = state
        self.fastapi_app = fastapi_app

    def _template(self, scope: Scope) -> str | None:
        partial = None
        for route in self.fastapi_app.router.routes:
            match, _ = route.matches(scope)
            template: str | None = getattr(route, "path", None)
            if match is Match.FULL:
                return template
            if match is Match.PARTIAL and partial is None:
                partial = template
        return partial

    def _take_fault(self, method: str, template: str) -> Fault | None:
        for fault in self.state.faults:
            if fault.method == method and fault.path == template:
                fault.times -= 1
                if fault.times <= 0:
                    self.state.faults.remove(fault)
                return fault
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        method: str = scope["method"]
        path: str = scope["path"]
        template = self._template(scope)
        key = f"{method} {template or path}"
        if path.startswith(API_PREFIX):
            state.count_request(key)
        log.info("%s", key)

        started = False

        async def stamped_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", formatdate(state.now(), usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        fault = None
        if template is not None and not path.startswith("/_sim"):
            fault = self._take_fault(method, template)
        try:
            if fault is None:
                await self.app(scope, receive, stamped_send)
            else:
                await self._with_fault(fault, scope, receive, stamped_send)
        except Exception:
            log.exception("unhandled error on %s", key)
            if not started:
                await ApiError(500, "INTERNAL_ERROR", "Internal server error").response()(
                    scope, receive, stamped_send
                )

    async def _with_fault(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        replaces = (
            fault.status is not None
            or fault.body is not None
            or fault.code is not None
            or fault.message is not None
            or fault.retry_after is not None
        )
        captured: list[Message] = []
        if fault.commit_delay_seconds > 0:
            receive = await self._read_then_wait(receive, fault.commit_delay_seconds)
        if fault.after_commit:

            async def capture(message: Message) -> None:
                captured.append(message)

            await self.app(scope, receive, capture)
        if fault.delay_seconds > 0:
            await asyncio.sleep(fault.delay_seconds)
        if fault.drop_connection:
            await self._drop()
            return
        if replaces:
            await self._fault_response(fault)(scope, receive, send)
        elif fault.after_commit:
            for message in captured:
                await send(message)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    async def _read_then_wait(receive: Receive, seconds: float) -> Receive:
        """Read the whole request, wait ``seconds``, then hand the app a replay of it.

        Like a server that queues work: the request is taken in at once and acted on later, even
        when the client has given up meanwhile (uvicorn would answer a late ``receive`` with a
        disconnect, and the work would never happen).
        """
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await asyncio.sleep(seconds)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    @staticmethod
    async def _drop() -> None:
        transport = CURRENT_TRANSPORT.get()
        if transport is None:
            raise RuntimeError("drop_connection needs the simulator's uvicorn protocol (SimulatorServer/CLI)")
        transport.abort()
        # Let connection_lost run so uvicorn knows not to answer a 500 on the closed socket.
        await asyncio.sleep(0.01)

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after)))
        if fault.body is not None:
            status = fault.status or 502
            return Response(
                fault.body, status_code=status, media_type="text/html; charset=utf-8", headers=headers
            )
        status = fault.status or (429 if fault.retry_after is not None else 500)
        code = fault.code or _DEFAULT_FAULT_CODES.get(status, "SIMULATED_FAULT")
        message = fault.message or f"Simulated fault (HTTP {status})"
        return ApiError(status, code, message, headers=headers).response()


# -- the application -----------------------------------------------------------------------------------
def create_app(config: SimulatorConfig | None = None) -> FastAPI:
    """Build the simulator app for ``config`` (defaults as the ``dmjy-simulator`` command line)."""
    config = config or SimulatorConfig()
    state = SimState(config)
    sender = WebhookSender(state)
    store = StateFile(config.state_file) if config.state_file else None
    if store is not None:
        store.load(state)
        store.save(state)  # an unwritable path fails the start, not the first create

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sender.start()
        autosave = None if store is None else asyncio.create_task(store.autosave(state))
        try:
            yield
        finally:
            await sender.close()
            if autosave is not None:
                autosave.cancel()
                await asyncio.gather(autosave, return_exceptions=True)
            if store is not None:
                store.save_logged(state)

    app = FastAPI(
        title="DMJY API simulator", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.sim = state
    app.state.webhooks = sender

    async def api_error_handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def http_error_handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        message = "Not found" if exc.status_code == 404 else str(exc.detail)
        return ApiError(exc.status_code, codes.get(exc.status_code, "HTTP_ERROR"), message).response()

    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_middleware(SimulatorMiddleware, state=state, fastapi_app=app)
    if store is not None:
        # Added last, so outermost: it sees every answer the fault layer lets out, and every drop.
        app.add_middleware(StatePersistenceMiddleware, state=state, store=store)

    app.include_router(_api_router())
    app.include_router(_media_router())
    app.include_router(_control_router())
    return app


def _api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(api_guard)])

    @router.get("/account")
    async def get_account(request: Request) -> dict[str, Any]:
        state = _sim(request)
        return _ok(
            {
                "userId": USER_ID,
                "email": "sim@example.com",
                "name": "模拟用户",
                "balance": state.balance,
                "plan": "pro",
                "planExpiresAt": state.plan_expires_at,
                "usage": state.usage(),
                "lowBalanceThreshold": state.config.low_balance_threshold,
                "isLowBalance": state.balance < state.config.low_balance_threshold,
            }
        )

    @router.get("/videos")
    async def list_videos(request: Request) -> dict[str, Any]:
        state = _sim(request)
        page, limit = _page_args(request)
        status = request.query_params.get("status")
        if status is not None and status not in STATUSES:
            raise _invalid("status", f"status must be one of {', '.join(STATUSES)} (got {status!r})")
        base = _media_base(request)
        items = [state.task_summary(t, base) for t in state.visible_tasks()]
        if status is not None:
            items = [item for item in items if item["status"] == status]
        tasks, pagination = _paginate(items, page, limit)
        return _ok({"tasks": tasks, "pagination": pagination})

    @router.post("/videos")
    async def create_video(request: Request) -> dict[str, Any]:
        state, sender = _sim(request), _sender(request)
        api_key: str = request.state.api_key
        fields = _validate_create(await _json_object(request))
        if state.cap_reached(api_key):
            raise ApiError(429, "DAILY_LIMIT_REACHED", "Daily video limit reached; resets at 00:00")
        cost = fields["duration"] * state.config.cost_per_second
        if state.balance < cost:
            sender.insufficient_balance(fields["callback_url"], cost)
            raise ApiError(
                402,
                "INSUFFICIENT_BALANCE",
                f"Insufficient balance: current balance {state.balance}, required {cost} credits",
            )
        before = state.balance
        task = state.add_task(**fields, media_base=_media_base(request), api_key=api_key)
        threshold = state.config.low_balance_threshold
        if before >= threshold > state.balance:
            sender.low_balance(task.callback_url)
        return _ok(
            {
                "id": task.id,
                "status": "pending",
                "imageCount": len(task.image_urls),
                "imageMerged": len(task.image_urls) > 1,
                "callbackUrl": task.callback_url,
                "createdAt": iso(task.created_at),
            }
        )

    @router.get("/videos/{id}")
    async def get_video(request: Request, id: str) -> dict[str, Any]:
        state = _sim(request)
        return _ok(state.task_detail(_find_task(state, id), _media_base(request)))

    @router.delete("/videos/{id}")
    async def delete_video(request: Request, id: str) -> dict[str, Any]:
        task = _find_task(_sim(request), id)
        task.deleted = True
        return _ok()

    @router.get("/templates")
    async def list_templates(request: Request) -> dict[str, Any]:
        state = _sim(request)
        page, limit = _page_args(request)
        user_id = request.query_params.get("userId")
        items = sorted(state.templates.values(), key=lambda t: -t.created_at)
        if user_id:
            items = [t for t in items if t.user_id == user_id]
        page_items, pagination = _paginate(items, page, limit)
        return _ok({"templates": [t.to_json() for t in page_items], "pagination": pagination})

    @router.post("/templates")
    async def create_template(request: Request) -> dict[str, Any]:
        state = _sim(request)
        body = await _json_object(request)
        tpl = state.add_template(
            user_id=_required_str(body, "userId"),
            name=_required_str(body, "name"),
            image_url=_optional_str(body, "imageUrl"),
            description=_optional_str(body, "description"),
            product_name=_optional_str(body, "productName"),
            price=_optional_str(body, "price"),
        )
        return _ok({"id": tpl.id, "name": tpl.name, "createdAt": iso(tpl.created_at)})

    @router.delete("/templates/{id}")
    async def delete_template(request: Request, id: str) -> dict[str, Any]:
        state = _sim(request)
        if state.templates.pop(id, None) is None:
            raise ApiError(404, "NOT_FOUND", f"Template {id} not found")
        return _ok()

    return router


def _find_task(state: SimState, task_id: str) -> Task:
    task = state.tasks.get(task_id)
    if task is None or task.deleted:
        raise ApiError(404, "NOT_FOUND", f"Video task {task_id} not found")
    return task


def _validate_create(body: dict[str, Any]) -> dict[str, Any]:
    description = _required_str(body, "description")
    image_url, image_urls = body.get("imageUrl"), body.get("imageUrls")
    if image_url is not None and image_urls is not None:
        raise _invalid("imageUrls", "imageUrl and imageUrls are mutually exclusive; send one of them")
    if image_url is None and image_urls is None:
        raise _invalid("imageUrl", "imageUrl or imageUrls is required")
    if image_url is not None:
        if not _is_http_url(image_url):
            raise _invalid("imageUrl", f"imageUrl must be an http(s) URL (got {image_url!r})")
        urls = [image_url]
    else:
        if not isinstance(image_urls, list) or not image_urls or len(image_urls) > MAX_IMAGES:
            raise _invalid(
                "imageUrls", f"imageUrls must be an array of 1 to {MAX_IMAGES} URLs (got {image_urls!r})"
            )
        for index, url in enumerate(image_urls):
            if not _is_http_url(url):
                raise _invalid("imageUrls", f"imageUrls[{index}] must be an http(s) URL (got {url!r})")
        urls = list(image_urls)
    duration = body.get("duration", 10)
    if duration is None:
        duration = 10
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 60:
        raise _invalid("duration", f"duration must be an integer between 1 and 60 (got {duration!r})")
    aspect_ratio = body.get("aspectRatio")
    if aspect_ratio is None:
        aspect_ratio = "9:16"
    if aspect_ratio not in ASPECT_RATIOS:
        raise _invalid(
            "aspectRatio", f"aspectRatio must be one of {', '.join(ASPECT_RATIOS)} (got {aspect_ratio!r})"
        )
    title = _optional_str(body, "title")
    callback_url = body.get("callbackUrl")
    if callback_url is not None and not _is_http_url(callback_url):
        raise _invalid("callbackUrl", f"callbackUrl must be an http(s) URL (got {callback_url!r})")
    return {
        "title": title if title and title.strip() else description.strip()[:20],
        "description": description,
        "image_urls": urls,
        "duration": duration,
        "aspect_ratio": aspect_ratio,
        "callback_url": callback_url,
    }


def _media_router() -> APIRouter:
    router = APIRouter(prefix="/media")
    video, thumb, product = _asset("sample.mp4"), _asset("thumb.jpg"), _asset("product.jpg")

    def completed(request: Request, task_id: str) -> None:
        state = _sim(request)
        task = state.tasks.get(task_id)
        if task is None or task.deleted or task.status_at(state.now())[0] != "completed":
            raise ApiError(404, "NOT_FOUND", f"No media for {task_id}")

    @router.api_route("/videos/{id}.mp4", methods=["GET", "HEAD"])
    async def video_file(request: Request, id: str) -> Response:
        completed(request, id)
        return Response(video, media_type="video/mp4")

    @router.api_route("/thumbnails/{id}.jpg", methods=["GET", "HEAD"])
    async def thumbnail_file(request: Request, id: str) -> Response:
        completed(request, id)
        return Response(thumb, media_type="image/jpeg")

    @router.api_route("/images/{name}", methods=["GET", "HEAD"])
    async def product_image(name: str) -> Response:
        return Response(product, media_type="image/jpeg")

    return router


def _control_router() -> APIRouter:
    router = APIRouter(prefix="/_sim", dependencies=[Depends(_loopback_only)])

    @router.get("/state")
    async def get_state(request: Request) -> dict[str, Any]:
        return _sim(request).snapshot()

    @router.post("/faults")
    async def add_fault(request: Request) -> dict[str, Any]:
        state = _sim(request)
        state.faults.append(_parse_fault(await _json_object(request)))
        return {"success": True, "faults_pending": sum(f.times for f in state.faults)}

    @router.get("/webhooks")
    async def get_webhooks(request: Request) -> dict[str, Any]:
        return {"success": True, "deliveries": [d.to_json() for d in _sim(request).deliveries]}

    @router.post("/config")
    async def set_config(request: Request) -> dict[str, Any]:
        state = _sim(request)
        body = await _json_object(request)
        try:
            state.config.apply_live(body)
        except ValueError as exc:
            name = str(exc).split(" ", 1)[0]
            raise _invalid(name, str(exc)) from None
        if "balance" in body:
            state.balance = state.config.balance
        if "rate_limit" in body:
            state.buckets.clear()
        return {"success": True, "config": state.config.public_dict(), "balance": state.balance}

    @router.post("/videos/{id}/complete")
    async def force_complete(request: Request, id: str) -> dict[str, Any]:
        return await _force(request, id, "completed", None)

    @router.post("/videos/{id}/fail")
    async def force_fail(request: Request, id: str) -> dict[str, Any]:
        raw = await request.body()
        message = None
        if raw.strip():
            body = await _json_object(request)
            message = _optional_str(body, "errorMessage")
        return await _force(request, id, "failed", message)

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, Any]:
        _sender(request).cancel_inflight()
        _sim(request).reset()
        return {"success": True}

    return router


async def _force(request: Request, task_id: str, status: str, message: str | None) -> dict[str, Any]:
    state = _sim(request)
    task = _find_task(state, task_id)
    current = task.status_at(state.now())[0]
    if current in TERMINAL:
        raise ApiError(409, "INVALID_STATE", f"Video task {task_id} is already {current}")
    state.force(task, status, message)
    # Announce now rather than on the next tick, so a test sees the webhook promptly.
    _sender(request).poll()
    return _ok(state.task_detail(task, _media_base(request)))


def _parse_fault(body: dict[str, Any]) -> Fault:
    method = body.get("method")
    path = body.get("path")
    if not isinstance(method, str) or not method:
        raise _invalid("method", f"method must be an HTTP method (got {method!r})")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _invalid("path", f"path must be a route template like /api/v1/videos/{{id}} (got {path!r})")
    checks: dict[str, tuple[type, ...]] = {
        "status": (int,),
        "times": (int,),
        "retry_after": (int, float),
        "after_commit": (bool,),
        "drop_connection": (bool,),
        "delay_seconds": (int, float),
        "commit_delay_seconds": (int, float),
        "body": (str,),
        "code": (str,),
        "message": (str,),
    }
    for name, types in checks.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise _invalid(name, f"{name} has the wrong type (got {value!r})")
    times = body.get("times", 1)
    if times is None or times < 1:
        raise _invalid("times", f"times must be at least 1 (got {times!r})")
    return Fault(
        method=method.upper(),
        path=path,
        times=times,
        status=body.get("status"),
        retry_after=body.get("retry_after"),
        after_commit=bool(body.get("after_commit", False)),
        drop_connection=bool(body.get("drop_connection", False)),
        delay_seconds=float(body.get("delay_seconds") or 0.0),
        commit_delay_seconds=float(body.get("commit_delay_seconds") or 0.0),
        body=body.get("body"),
        code=body.get("code"),
        message=body.get("message"),
    )
