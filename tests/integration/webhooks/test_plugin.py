"""The AirflowPlugin: registration, opt-in, lazy app, mounting on the api-server outside Airflow's auth."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import requests

from airflow_provider_dmjy.webhooks.plugin import URL_PREFIX, DmjyWebhookPlugin, LazyReceiverApp

from .conftest import ENABLED_ENV, entry_point_installed, mount_plugin_apps, signed_delivery

INSTALLED = entry_point_installed()
ROOT = Path(__file__).parents[3]


def test_plugin_declares_the_app_when_enabled() -> None:
    assert DmjyWebhookPlugin.name == "dmjy_webhooks"
    [app] = DmjyWebhookPlugin().fastapi_apps
    assert app["url_prefix"] == URL_PREFIX == "/dmjy" and isinstance(app["app"], LazyReceiverApp)


@pytest.mark.parametrize("value", [None, "False", "0"])
def test_plugin_has_no_app_unless_enabled(
    monkeypatch: pytest.MonkeyPatch, webhook_conn: str, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(ENABLED_ENV)
    else:
        monkeypatch.setenv(ENABLED_ENV, value)
    assert DmjyWebhookPlugin().fastapi_apps == []
    from fastapi.testclient import TestClient

    raw, headers = signed_delivery("task.completed", {"taskId": "task_off"})
    with TestClient(mount_plugin_apps(DmjyWebhookPlugin())) as client:
        assert client.post("/dmjy/webhooks/dmjy_default", content=raw, headers=headers).status_code == 404


@pytest.mark.skipif(not INSTALLED, reason="package not installed (PYTHONPATH checkout): no entry point")
def test_a_default_api_server_has_no_webhook_route(airflow_db: None) -> None:
    """Airflow's own api-server app, built in a fresh process with the option unset: no /dmjy at all.

    A fresh process because Airflow collects the plugins' apps once per process.
    """
    code = (
        "from fastapi.testclient import TestClient\n"
        "from airflow.api_fastapi.app import create_app\n"
        "app = create_app()\n"
        "paths = [getattr(r, 'path', '') for r in app.routes]\n"
        # /dmjy-ui (the videos page, always there) is another plugin's mount.
        "assert not [p for p in paths if p == '/dmjy' or p.startswith('/dmjy/')], paths\n"
        "status = TestClient(app).post('/dmjy/webhooks/dmjy_default', content=b'{}').status_code\n"
        "print('STATUS=%d' % status)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ENABLED_ENV}
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # 405 on Airflow 3.3: the UI's catch-all route takes GET only. Either way, no webhook is handled.
    assert done.stdout.strip().splitlines()[-1] in ("STATUS=404", "STATUS=405")


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
        "p.DmjyWebhookPlugin()\n"
        "assert 'airflow_provider_dmjy._compat' not in sys.modules, 'loading the plugin read the config'\n"
    )
    subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[3])
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
