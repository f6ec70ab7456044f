"""The AirflowPlugin: registration, lazy app, mounting on the api-server outside Airflow's auth."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import requests

from airflow_provider_dmjy.webhooks.plugin import URL_PREFIX, DmjyWebhookPlugin, LazyReceiverApp

from .conftest import entry_point_installed, signed_delivery

INSTALLED = entry_point_installed()


def test_plugin_declares_the_app() -> None:
    assert DmjyWebhookPlugin.name == "dmjy_webhooks"
    [app] = DmjyWebhookPlugin.fastapi_apps
    assert app["url_prefix"] == URL_PREFIX == "/dmjy" and isinstance(app["app"], LazyReceiverApp)


def test_imports_stay_cheap() -> None:
    """verify_webhook without FastAPI; the plugin module without building (or importing) the app."""
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.webhooks\n"
        "assert 'fastapi' not in sys.modules, 'webhooks imported fastapi'\n"
        "assert 'airflow' not in sys.modules, 'webhooks imported airflow'\n"
        "import airflow_provider_dmjy.webhooks.plugin as p\n"
        "assert 'airflow_provider_dmjy.webhooks.receiver' not in sys.modules\n"
        "assert p.receiver_app._app is None\n"
    )
    subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2])
    )


@pytest.mark.skipif(not INSTALLED, reason="package not installed (PYTHONPATH checkout): no entry point")
def test_registered_through_the_entry_point() -> None:
    from airflow import plugins_manager

    names = {ep.name: ep.value for ep in entry_points(group="airflow.plugins")}
    assert names["dmjy_webhooks"] == "airflow_provider_dmjy.webhooks.plugin:DmjyWebhookPlugin"
    if hasattr(plugins_manager, "get_fastapi_plugins"):  # Airflow >= 3.2
        apps, _ = plugins_manager.get_fastapi_plugins()
    else:  # Airflow 3.1
        plugins_manager.initialize_fastapi_plugins()
        apps = plugins_manager.fastapi_apps or []
    assert any(a["url_prefix"] == "/dmjy" and isinstance(a["app"], LazyReceiverApp) for a in apps)


def test_served_without_airflow_login(
    api_server: str, webhook_conn: str, dmjy_assets: dict[str, str]
) -> None:
    """No credentials: the api-server does not ask for any; only the signature decides."""
    raw, headers = signed_delivery("task.completed", {"taskId": "task_plugin"})
    response = requests.post(
        f"{api_server}/dmjy/webhooks/dmjy_default", data=raw, headers=headers, timeout=10
    )
    assert response.status_code == 200 and response.json()["status"] == "created"
    headers["X-Webhook-Signature"] = "0" * 64
    response = requests.post(
        f"{api_server}/dmjy/webhooks/dmjy_default", data=raw, headers=headers, timeout=10
    )
    assert response.status_code == 401
    if INSTALLED:  # a real api-server: the rest of it still wants a login
        assert requests.get(f"{api_server}/api/v2/assets", timeout=10).status_code in (401, 403)
