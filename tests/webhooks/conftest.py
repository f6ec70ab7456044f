"""Fixtures for the webhook tests: signed deliveries, assets in Airflow's DB, a receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.webhooks import account_asset_uri, sign_webhook, videos_asset_uri

VECTORS_PATH = Path(__file__).parents[1] / "fixtures" / "webhook_vectors.json"
CONN_ID = "dmjy_default"
SECRET = "sim_secret"


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    """The Node.js-generated vectors (``scripts/generate_webhook_vectors.js``)."""
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def signed_delivery(
    event: str, data: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A body and headers as the vendor sends them."""
    ts = int(time.time()) if timestamp is None else timestamp
    body = json.dumps(
        {"event": event, "timestamp": ts, "data": data}, separators=(",", ":"), ensure_ascii=False
    )
    raw = body.encode("utf-8")
    return raw, {
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign_webhook(secret, raw),
        "X-Webhook-Event": event,
        "X-Webhook-Timestamp": str(ts),
    }


@pytest.fixture
def webhook_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """``dmjy_default`` as a ``dmjy`` connection with the simulator's default secret (no server needed)."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {"conn_type": "dmjy", "login": "mk_sim_key", "password": SECRET, "host": "http://127.0.0.1:9"}
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOT_DMJY", json.dumps({"conn_type": "http", "login": "x", "password": SECRET})
    )
    return CONN_ID


def _reset_assets(uris: list[str]) -> None:
    from airflow.models.asset import AssetActive, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    with create_session() as session:
        for uri in uris:
            for model in session.scalars(select(AssetModel).where(AssetModel.uri == uri)).all():
                session.execute(delete(AssetEvent).where(AssetEvent.asset_id == model.id))
            session.execute(delete(AssetActive).where(AssetActive.uri == uri))
            session.execute(delete(AssetModel).where(AssetModel.uri == uri))
        session.flush()
        for uri in uris:
            model = AssetModel(name=uri, uri=uri)
            session.add(model)
            session.flush()
            session.add(AssetActive.for_asset(model))


@pytest.fixture
def dmjy_assets(airflow_db: None) -> dict[str, str]:
    """The videos and account assets of ``dmjy_default``, active in the DB and with no events."""
    uris = {"videos": videos_asset_uri(CONN_ID), "account": account_asset_uri(CONN_ID)}
    _reset_assets(list(uris.values()))
    return uris


def asset_events(uri: str) -> list[dict[str, Any]]:
    """The extras of the asset events recorded on ``uri``, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        ).all()
        return [dict(row) for row in rows]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def entry_point_installed() -> bool:
    """Whether this package's ``airflow.plugins`` entry point is installed in the running venv."""
    from importlib.metadata import entry_points

    return any(ep.name == "dmjy_webhooks" for ep in entry_points(group="airflow.plugins"))


def _api_server_app() -> Any:
    """What serves ``/dmjy`` in production: Airflow's api-server app, which mounts the plugin found
    through the entry point; without the package installed (a PYTHONPATH checkout), the plugin's apps
    mounted exactly as ``airflow.api_fastapi.app.init_plugins`` does."""
    if entry_point_installed():
        from airflow.api_fastapi.app import create_app

        return create_app()
    from fastapi import FastAPI

    from airflow_provider_dmjy.webhooks.plugin import DmjyWebhookPlugin

    app = FastAPI()
    for sub in DmjyWebhookPlugin.fastapi_apps:
        app.mount(sub["url_prefix"], sub["app"])
    return app


class _Server:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])))
        self.thread.daemon = True

    def __enter__(self) -> _Server:
        self.thread.start()
        wait_for(lambda: self.server.started)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="session")
def api_server(airflow_db: None) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of an api-server (see :func:`_api_server_app`) serving ``/dmjy``."""
    with _Server(_api_server_app()) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture
def callback_url(api_server: str, dmjy_conn: SimulatorHandle, dmjy_assets: dict[str, str]) -> str:
    """Where the simulator should send ``dmjy_default``'s webhooks."""
    return f"{api_server}/dmjy/webhooks/{CONN_ID}"
