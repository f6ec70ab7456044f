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

VECTORS_PATH = Path(__file__).parents[2] / "fixtures" / "webhook_vectors.json"
CONN_ID = "dmjy_default"
SECRET = "sim_secret"
#: The receiver is opt-in: ``[dmjy] webhooks_enabled``.
ENABLED_ENV = "AIRFLOW__DMJY__WEBHOOKS_ENABLED"


@pytest.fixture(autouse=True)
def webhooks_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every webhook test runs with the receiver enabled, as a deployment that uses it must be."""
    monkeypatch.setenv(ENABLED_ENV, "True")


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


def delivery_without_timestamp(
    event: str, data: dict[str, Any], *, header_timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A signed body with no ``timestamp`` of its own, sent with a fresh (unsigned) header timestamp."""
    raw = json.dumps({"event": event, "data": data}, separators=(",", ":"), ensure_ascii=False).encode()
    ts = int(time.time()) if header_timestamp is None else header_timestamp
    return raw, {
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign_webhook(SECRET, raw),
        "X-Webhook-Event": event,
        "X-Webhook-Timestamp": str(ts),
    }


def set_webhook_conn(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    """``dmjy_default`` as a ``dmjy`` connection with the simulator's secret and these extras."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "dmjy",
                "login": "mk_sim_key",
                "password": SECRET,
                "host": "http://127.0.0.1:9",
                "extra": extra,
            }
        ),
    )


def age_asset_events(uri: str, days: float) -> None:
    """Make every event recorded on ``uri`` look ``days`` older (a replay that comes much later)."""
    from datetime import timedelta

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
        ).all()
        for event in events:  # in Python: date arithmetic in SQL differs per database
            event.timestamp = event.timestamp - timedelta(days=days)


@pytest.fixture
def webhook_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """``dmjy_default`` as a ``dmjy`` connection with the simulator's default secret (no server needed)."""
    set_webhook_conn(monkeypatch)
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOT_DMJY", json.dumps({"conn_type": "http", "login": "x", "password": SECRET})
    )
    return CONN_ID


def reset_assets(uris: list[str]) -> None:
    """These assets active in the DB with no events (the assets a DAG scheduled on them declares)."""
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
    reset_assets(list(uris.values()))
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


def mount_plugin_apps(plugin: Any) -> Any:
    """A FastAPI app with the plugin's apps mounted as ``airflow.api_fastapi.app.init_plugins`` does."""
    from fastapi import FastAPI

    app = FastAPI()
    for sub in plugin.fastapi_apps:
        app.mount(sub["url_prefix"], sub["app"])
    return app


def _api_server_app() -> Any:
    """What serves ``/dmjy`` in production: Airflow's api-server app, which mounts the plugin found
    through the entry point; without the package installed (a PYTHONPATH checkout), the plugin's apps
    mounted the same way. The receiver must be enabled when this runs (the api-server's start)."""
    if entry_point_installed():
        from airflow.api_fastapi.app import create_app

        app = create_app()
    else:
        from airflow_provider_dmjy.webhooks.plugin import DmjyWebhookPlugin

        app = mount_plugin_apps(DmjyWebhookPlugin())
    if not any(getattr(route, "path", None) == "/dmjy" for route in app.routes):
        # Airflow caches the plugins' apps per process: something collected them while disabled.
        raise RuntimeError("The api-server app has no /dmjy mount: were its apps collected while disabled?")
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
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENABLED_ENV, "True")
        app = _api_server_app()
    with _Server(app) as server:
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture
def callback_url(api_server: str, dmjy_conn: SimulatorHandle, dmjy_assets: dict[str, str]) -> str:
    """Where the simulator should send ``dmjy_default``'s webhooks."""
    return f"{api_server}/dmjy/webhooks/{CONN_ID}"
