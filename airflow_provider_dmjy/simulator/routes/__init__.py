"""The simulator's routes: the vendor's API under ``/api/v1``, the media it links to, the control
endpoints under ``/_sim``. One module per resource; each builds a fresh router per app."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from airflow_provider_dmjy.simulator.auth import api_guard, loopback_only
from airflow_provider_dmjy.simulator.routes import account, control, media, templates, videos
from airflow_provider_dmjy.simulator.wire import API_PREFIX, CONTROL_PREFIX


def include_routes(app: FastAPI) -> None:
    """Add every route to ``app``: the API behind :func:`api_guard`, control behind loopback."""
    api = APIRouter(prefix=API_PREFIX, dependencies=[Depends(api_guard)])
    api.include_router(account.router())
    api.include_router(videos.router())
    api.include_router(templates.router())
    app.include_router(api)
    app.include_router(media.router())
    app.include_router(control.router(), prefix=CONTROL_PREFIX, dependencies=[Depends(loopback_only)])
