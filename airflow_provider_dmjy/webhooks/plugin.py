"""The Airflow plugin that mounts the DMJY webhook receiver on the api-server at ``/dmjy``.

Registered through the ``airflow.plugins`` entry point of this package, but opt-in: it mounts
nothing unless ``[dmjy] webhooks_enabled`` is true (``AIRFLOW__DMJY__WEBHOOKS_ENABLED=True``), so
installing the provider never opens an endpoint by itself. The option is read when the api-server
collects its plugins' apps, at its start; change it and restart the api-server.

Every Airflow component loads plugins, but only the api-server serves this app: the FastAPI app is
therefore built on its first request, and loading the plugin elsewhere (scheduler, workers,
dag-processor) imports nothing heavier than this module and reads no configuration.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

__all__ = [
    "URL_PREFIX",
    "DmjyWebhookPlugin",
    "LazyApp",
    "LazyReceiverApp",
    "receiver_app",
    "webhooks_enabled",
]

URL_PREFIX = "/dmjy"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LazyApp:
    """An ASGI app that imports and builds a FastAPI app on its first request.

    :param factory: ``"module:function"``, the function returning the app (called once).
    """

    def __init__(self, factory: str) -> None:
        self.factory = factory
        self._app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
        """The app (built now if needed)."""
        if self._app is None:
            with self._lock:  # api-server threads may race on the first request
                if self._app is None:
                    module, _, function = self.factory.partition(":")
                    self._app = getattr(importlib.import_module(module), function)()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class LazyReceiverApp(LazyApp):
    """An ASGI app that builds :func:`~airflow_provider_dmjy.webhooks.receiver.create_app` on first use."""

    def __init__(self) -> None:
        super().__init__("airflow_provider_dmjy.webhooks.receiver:create_app")


receiver_app = LazyReceiverApp()


def webhooks_enabled() -> bool:
    """``[dmjy] webhooks_enabled`` (default ``False``): whether the api-server mounts the receiver."""
    from airflow_provider_dmjy._compat import conf

    return bool(conf.getboolean("dmjy", "webhooks_enabled", fallback=False))


class DmjyWebhookPlugin(AirflowPlugin):
    """Serves ``POST /dmjy/webhooks/{conn_id}`` on the Airflow 3 api-server (no Airflow login).

    Only where ``[dmjy] webhooks_enabled`` is true; otherwise the plugin has no app and the
    api-server no ``/dmjy`` route at all.
    """

    name = "dmjy_webhooks"

    # A property, not the usual class attribute: Airflow reads it from the plugin instance only when
    # the api-server collects its apps (or `airflow plugins` lists them), so the other components,
    # which load every plugin too, never read the option.
    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The receiver's mount when the receiver is enabled, else an empty list."""
        if not webhooks_enabled():
            return []
        return [{"app": receiver_app, "url_prefix": URL_PREFIX, "name": "DMJY webhooks"}]
