"""The Airflow plugin of the "DMJY videos" page: a Browse menu entry and the app that serves it.

Registered through the ``airflow.plugins`` entry point ``dmjy_ui`` and on by default, unlike the
webhook receiver: the page is behind Airflow's own login (see :mod:`.app`), so installing the
provider opens nothing to anonymous callers. Every Airflow component loads plugins, but only the
api-server serves the app: it is built on its first request, and loading the plugin imports
nothing heavier than this module and reads no configuration.
"""

from __future__ import annotations

import base64
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_dmjy.ui import PAGE_PATH, URL_PREFIX, URL_ROUTE
from airflow_provider_dmjy.webhooks.plugin import LazyApp

__all__ = ["DmjyUiPlugin", "external_view", "ui_app"]


def _icon(stroke: str) -> str:
    """A film-frame icon with a play mark, as a data URI (the UI shows it in the menu)."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" '
        f'stroke="{stroke}" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
        '<rect x="2" y="4" width="20" height="16" rx="2"/><path d="m10 9 5 3-5 3z"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


ui_app = LazyApp("airflow_provider_dmjy.ui.app:create_app")

#: The UI's entry: Browse > DMJY videos, at ``<airflow>/plugin/dmjy-videos``, framing the page.
#: ``href`` has no leading slash: the UI resolves it against its own base URL, so the page is found
#: also when Airflow is served under a path (``[api] base_url``).
external_view: dict[str, Any] = {
    "name": "DMJY videos",
    "href": URL_PREFIX.lstrip("/") + PAGE_PATH,
    "url_route": URL_ROUTE,
    "destination": "nav",
    "category": "browse",
    "icon": _icon("#4a5568"),
    "icon_dark_mode": _icon("#e2e8f0"),
}


class DmjyUiPlugin(AirflowPlugin):
    """Adds "DMJY videos" to the Airflow UI (Browse menu) and serves it at ``/dmjy-ui/videos``."""

    name = "dmjy_ui"
    fastapi_apps = [{"app": ui_app, "url_prefix": URL_PREFIX, "name": "DMJY videos"}]
    external_views = [external_view]
