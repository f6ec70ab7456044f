"""The outermost layer of the simulator's app: request counting, fault injection, the ``Date`` header.

It sits outside FastAPI's routing so that a fault can do what a real network or server does to a
request: answer before the app sees it, let the app do the work and then lose the answer, drop the
connection, delay, or take the request in and act on it later.

Simulator decisions beyond the vendor's page:

- Requests are counted under ``"METHOD /route/template"`` (``/api/v1`` only); a fault matches the
  same method and template, and never a control endpoint. A status request (``GET /videos/{id}``)
  is also counted against its video, whatever it is answered (a fault or an auth error included).
- Every answer carries a ``Date`` header from the simulator's own (offset) clock.
- An unexpected exception answers 500 ``INTERNAL_ERROR`` in the error envelope when nothing was
  sent yet.
"""

from __future__ import annotations

import asyncio
import logging
import math
from email.utils import formatdate
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_dmjy.simulator.models import Fault
from airflow_provider_dmjy.simulator.state import SimState
from airflow_provider_dmjy.simulator.transport import CURRENT_TRANSPORT
from airflow_provider_dmjy.simulator.wire import API_PREFIX, CONTROL_PREFIX, ApiError

log = logging.getLogger("airflow_provider_dmjy.simulator")

#: The requests counted per video as well (``video_stats`` in ``/_sim/state``): status polls.
STATUS_REQUEST = f"GET {API_PREFIX}/videos/{{id}}"

#: The error code a fault answers with when it gives a status but no ``code``.
DEFAULT_FAULT_CODES = {
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


class SimulatorMiddleware:
    """Outermost app layer: counts requests by route template, injects faults, stamps ``Date``."""

    def __init__(self, app: ASGIApp, state: SimState, fastapi_app: FastAPI) -> None:
        self.app = app
        self.state = state
        self.fastapi_app = fastapi_app

    def _route(self, scope: Scope) -> tuple[str | None, dict[str, Any]]:
        """The template of the route ``scope`` goes to, and its path parameters (full match only)."""
        partial = None
        for route in self.fastapi_app.router.routes:
            match, child = route.matches(scope)
            template: str | None = getattr(route, "path", None)
            if match is Match.FULL:
                return template, child.get("path_params", {})
            if match is Match.PARTIAL and partial is None:
                partial = template
        return partial, {}

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
        template, params = self._route(scope)
        key = f"{method} {template or path}"
        if path.startswith(API_PREFIX):
            state.count_request(key)
            if key == STATUS_REQUEST:
                state.count_status_request(params["id"])
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
        if template is not None and not path.startswith(CONTROL_PREFIX):
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
        code = fault.code or DEFAULT_FAULT_CODES.get(status, "SIMULATED_FAULT")
        message = fault.message or f"Simulated fault (HTTP {status})"
        return ApiError(status, code, message, headers=headers).response()
