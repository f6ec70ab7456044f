"""What the tests of the "DMJY videos" page share: users of Airflow's SimpleAuthManager, their login,
and videos in the simulator.

The page's app is mounted by Airflow's own api-server app (``api_server`` of this package's
conftest, built in-process with the entry points installed), so its login is the real one.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import requests

from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

PAGE = "/dmjy-ui/videos"
#: SimpleAuthManager users (``[core] simple_auth_manager_users``) and their passwords: ``admin``
#: may read connections, ``viewer`` may not (the SimpleAuthManager's roles).
PASSWORDS = {"admin": "admin-pw", "viewer": "viewer-pw"}
USERS = "admin:admin,viewer:viewer"
PRODUCT_IMAGE = "https://cdn.example.com/products/1.jpg"


def ui_plugin_installed() -> bool:
    """Whether the ``dmjy_ui`` entry point is installed (``pip install -e .`` after it was added)."""
    return any(ep.name == "dmjy_ui" for ep in entry_points(group="airflow.plugins"))


needs_ui_plugin = pytest.mark.skipif(
    not ui_plugin_installed(),
    reason="the dmjy_ui airflow.plugins entry point is not installed: run `pip install -e .[dev]`",
)


def set_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """SimpleAuthManager users with known passwords (both read at each login)."""
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS), encoding="utf-8")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", USERS)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))


def login(api_server: str, username: str) -> str:
    """A JWT from the SimpleAuthManager's login endpoint (``POST /auth/token``)."""
    response = requests.post(
        f"{api_server}/auth/token",
        json={"username": username, "password": PASSWORDS[username]},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def create_videos(sim: SimulatorHandle, titles: list[str]) -> list[str]:
    """Create one video per title, oldest first; their ids in the same order."""
    hook = DmjyHook()
    try:
        return [
            str(
                hook.create_video(
                    f"A product video: {title}", image_url=PRODUCT_IMAGE, aspect_ratio="16:9", title=title
                )["id"]
            )
            for title in titles
        ]
    finally:
        hook.close()
