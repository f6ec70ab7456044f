"""The simulator's FastAPI application, assembled from its parts.

The layers, outermost first: :class:`~.persistence.StatePersistenceMiddleware` (with
``--state-file`` only), :class:`~.middleware.SimulatorMiddleware` (counting, faults, ``Date``),
FastAPI's routing with the error handlers below, then the routes (:mod:`.routes`) behind their
guards (:mod:`.auth`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from airflow_provider_dmjy.simulator.config import SimulatorConfig
from airflow_provider_dmjy.simulator.middleware import SimulatorMiddleware
from airflow_provider_dmjy.simulator.persistence import StateFile, StatePersistenceMiddleware
from airflow_provider_dmjy.simulator.routes import include_routes
from airflow_provider_dmjy.simulator.state import SimState
from airflow_provider_dmjy.simulator.webhooks import WebhookSender
from airflow_provider_dmjy.simulator.wire import ApiError

__all__ = ["create_app"]


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
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(SimulatorMiddleware, state=state, fastapi_app=app)
    if store is not None:
        # Added last, so outermost: it sees every answer the fault layer lets out, and every drop.
        app.add_middleware(StatePersistenceMiddleware, state=state, store=store)
    include_routes(app)
    return app


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(_request: Request, exc: Exception) -> Response:
    """Routing's own errors (unknown path, wrong method) in the simulator's error envelope."""
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
    message = "Not found" if exc.status_code == 404 else str(exc.detail)
    return ApiError(exc.status_code, codes.get(exc.status_code, "HTTP_ERROR"), message).response()
