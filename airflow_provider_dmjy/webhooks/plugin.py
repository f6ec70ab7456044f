"""The Airflow plugin that mounts the DMJY webhook receiver on the api-server at ``/dmjy``.

Registered through the ``airflow.plugins`` entry point of this package, so installing the provider
is enough (plugins only listed in provider info are not loaded by default). Every Airflow component
loads plugins, but only the api-server serves this app: the FastAPI app is therefore built on its
first request, and loading the plugin elsewhere (scheduler, workers, dag-processor) imports nothing
heavier than this module.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

__all__ = ["URL_PREFIX", "DmjyWebhookPlugin", "LazyReceiverApp", "receiver_app"]

URL_PREFIX = "/dmjy"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LazyReceiverApp:
    """An ASGI app that builds :func:`~airflow_provider_dmjy.webhooks.receiver.create_app` on first use."""

    def __init__(self) -> None:
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """The receiver app (built now if needed)."""
        if self._app is None:
            with self._lock:  # api-server threads may race on the first request
                if self._app is None:
                    from airflow_provider_dmjy.webhooks.receiver import create_app

                    self._app = create_app()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


receiver_app = LazyReceiverApp()


class DmjyWebhookPlugin(AirflowPlugin):
    """Serves ``POST /dmjy/webhooks/{conn_id}`` on the Airflow 3 api-server (no Airflow login)."""

    name = "dmjy_webhooks"
    fastapi_apps = [{"app": receiver_app, "url_prefix": URL_PREFIX, "name": "DMJY webhooks"}]
