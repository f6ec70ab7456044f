"""The "DMJY videos" page's app: ``GET /dmjy-ui/videos?conn_id=&page=&limit=`` on the api-server.

Airflow mounts a plugin's app as it is, without its login, so the route asks for the user itself
through Airflow's own dependency (:func:`airflow.api_fastapi.core_api.security.get_user`: the
``Authorization: Bearer`` token, or the UI's ``_token`` cookie that the framed page sends): no
user, 401; a token that does not verify, 403. The user must also be allowed to read the connection
(the auth manager's ``is_authorized_connection(method="GET")``, the rule of Airflow's own
``GET /api/v2/connections/{id}``), else 403, before the connection is even looked up.

The connection is read through the api-server's secrets chain (environment, secrets backends,
metadata database), must be of type ``dmjy``, and gives the :class:`DmjyHook` whose ``list_videos``
lists one page, in a worker thread (the hook is blocking). Built on the first request by
:data:`airflow_provider_dmjy.ui.plugin.ui_app`; importing this module needs the api-server's
packages (FastAPI, Airflow's API).
"""

from __future__ import annotations

import functools
import os
from dataclasses import replace
from typing import Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.models import Page, Video
from airflow_provider_dmjy.client.validation import MAX_PAGE_SIZE
from airflow_provider_dmjy.exceptions import DmjyError
from airflow_provider_dmjy.hooks.connection import DEFAULT_CONN_ID
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.ui import PAGE_PATH
from airflow_provider_dmjy.ui.page import HEADERS, PAGE_SIZES, VideosPage, render

__all__ = ["DMJY_CONN_TYPE", "MAX_CONNECTIONS", "REQUEST_TIMEOUT_SECONDS", "create_app"]

DMJY_CONN_TYPE = "dmjy"
#: A page waits at most this long per request to the API and retries once: a person is waiting.
REQUEST_TIMEOUT_SECONDS = 10.0
#: The most connections the selector offers.
MAX_CONNECTIONS = 200
_ENV_PREFIX = "AIRFLOW_CONN_"


class _PageHook(DmjyHook):
    """:class:`DmjyHook` on a connection the api-server has already read (and checked)."""

    def __init__(self, conn: Any) -> None:
        super().__init__(conn.conn_id, timeout=REQUEST_TIMEOUT_SECONDS, max_retries=1)
        self._conn = conn

    @functools.cached_property
    def config(self) -> ClientConfig:
        """The client settings of the connection given (not read again)."""
        return self.config_for(self._conn)


def _int(request: Request, name: str, default: int, high: int) -> int:
    """A whole-number query parameter, clamped into 1..``high``; ``default`` when it is not a number."""
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    return min(max(value, 1), high)


def _team_name(conn_id: str) -> str | None:
    """The connection's team, which only multi-team deployments have (and check)."""
    from airflow.configuration import conf
    from airflow.models.connection import Connection

    if not conf.getboolean("core", "multi_team", fallback=False):
        return None
    team: str | None = Connection.get_team_name(conn_id)
    return team


def _may_read(user: BaseUser, conn_id: str) -> bool:
    """Whether the auth manager lets ``user`` read connection ``conn_id`` (blocking: a thread)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails

    details = ConnectionDetails(conn_id=conn_id, team_name=_team_name(conn_id))
    return bool(get_auth_manager().is_authorized_connection(method="GET", details=details, user=user))


def _dmjy_connection(conn_id: str) -> Any | None:
    """Connection ``conn_id`` from the api-server's secrets chain, or None unless it is a ``dmjy`` one."""
    # Re-exported from airflow.sdk.exceptions on Airflow >= 3.2: the same class on every version.
    from airflow.exceptions import AirflowNotFoundException  # type: ignore[attr-defined]
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    return conn if conn.conn_type == DMJY_CONN_TYPE else None


def _readable_connections(user: BaseUser) -> list[str]:
    """The ``dmjy`` connections of the metadata database and the environment that ``user`` may read.

    Secrets backends cannot be listed: their connections are reached with ``?conn_id=``.
    """
    from airflow.models.connection import Connection
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found: set[str] = set(
            session.scalars(
                select(Connection.conn_id)
                .where(Connection.conn_type == DMJY_CONN_TYPE)
                .limit(MAX_CONNECTIONS)
            )
        )
    environment = EnvironmentVariablesBackend()
    for key in os.environ:
        if key.startswith(_ENV_PREFIX) and len(found) < MAX_CONNECTIONS:
            conn_id = key[len(_ENV_PREFIX) :].lower()
            try:
                conn = environment.get_connection(conn_id)
            except Exception:  # noqa: S112 - someone else's malformed variable must not break the page
                continue
            if conn is not None and conn.conn_type == DMJY_CONN_TYPE:
                found.add(conn_id)
    return sorted(conn_id for conn_id in found if _may_read(user, conn_id))


def _list_videos(view: VideosPage) -> tuple[int, VideosPage]:
    """One page of the connection's videos, or the reason there is none, and the HTTP status."""
    conn = _dmjy_connection(view.conn_id)
    if conn is None:
        return 404, replace(view, error=f"There is no DMJY connection {view.conn_id!r}.")
    hook = _PageHook(conn)
    try:
        data = hook.list_videos(page=view.page, limit=view.limit)
        page = Page.from_api(data, "tasks", Video)
    except DmjyError as error:
        return 502, replace(view, error=f"The DMJY API did not list the videos: {error}")
    finally:
        hook.close()
    pagination = data.get("pagination")
    total = pagination.get("total") if isinstance(pagination, dict) else None
    return 200, replace(
        view,
        videos=page.items,
        total_pages=page.total_pages,
        total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        source=hook.config.base_url,
    )


def create_app() -> FastAPI:
    """The app the api-server mounts at :data:`~airflow_provider_dmjy.ui.URL_PREFIX`."""
    app = FastAPI(
        title="DMJY videos",
        description="A DMJY connection's recent videos, behind Airflow's login.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get(PAGE_PATH, response_class=HTMLResponse)
    async def videos(request: Request, user: GetUserDep) -> HTMLResponse:
        """The page; every blocking step (auth manager, secrets, the API) runs in a worker thread."""
        conn_id = request.query_params.get("conn_id") or DEFAULT_CONN_ID
        view = VideosPage(
            conn_id=conn_id[:250],
            page=_int(request, "page", 1, 1_000_000),
            limit=_int(request, "limit", PAGE_SIZES[0], MAX_PAGE_SIZE),
        )
        if not await run_in_threadpool(_may_read, user, view.conn_id):
            status, view = 403, replace(view, error=f"You may not read the connection {view.conn_id!r}.")
        else:
            status, view = await run_in_threadpool(_list_videos, view)
        connections = await run_in_threadpool(_readable_connections, user)
        return HTMLResponse(render(replace(view, connections=connections)), status, headers=HEADERS)

    return app
