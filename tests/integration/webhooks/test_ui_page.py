"""The "DMJY videos" page on Airflow's api-server app: login, the connection's read permission, the
list from the simulator, pagination, escaping; and the plugin that registers it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airflow_provider_dmjy.client.models import Video
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.ui import PAGE_PATH, URL_PREFIX, URL_ROUTE
from airflow_provider_dmjy.ui.page import VideosPage, media_url, render
from airflow_provider_dmjy.ui.plugin import DmjyUiPlugin, ui_app
from airflow_provider_dmjy.webhooks.plugin import LazyApp

from .ui_support import PAGE, create_videos, login, needs_ui_plugin, set_users

ROOT = Path(__file__).parents[3]
HOSTILE = '<script>alert("t")</script><img src=x onerror=alert(1)>"\' &'


@pytest.fixture
def users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    set_users(monkeypatch, tmp_path)


@pytest.fixture
def admin(api_server: str, users: None) -> dict[str, str]:
    """Headers of a logged-in admin (``POST /auth/token`` of the SimpleAuthManager)."""
    return {"Authorization": f"Bearer {login(api_server, 'admin')}"}


def get_page(api_server: str, headers: dict[str, str] | None = None, **params: object) -> requests.Response:
    return requests.get(f"{api_server}{PAGE}", params=params, headers=headers or {}, timeout=30)


def titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="title" title="[^"]*">([^<]*)</h2>', html)


# -- the plugin ------------------------------------------------------------------------------------


def test_plugin_declares_the_view_and_its_app() -> None:
    plugin = DmjyUiPlugin()
    assert plugin.name == "dmjy_ui"
    [app] = plugin.fastapi_apps
    assert app["url_prefix"] == URL_PREFIX == "/dmjy-ui" and app["app"] is ui_app
    assert isinstance(ui_app, LazyApp)
    [view] = plugin.external_views
    # Relative (no leading slash): the UI resolves it against its base URL, also under a sub-path.
    assert view["href"] == "dmjy-ui/videos" == URL_PREFIX.lstrip("/") + PAGE_PATH
    assert view["url_route"] == URL_ROUTE and view["destination"] == "nav"
    assert view["category"] == "browse" and view["icon"].startswith("data:image/svg+xml;base64,")


def test_loading_the_plugin_builds_nothing() -> None:
    """Every Airflow component loads plugins: no app, no FastAPI route module, no configuration."""
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.ui.plugin as p\n"
        "p.DmjyUiPlugin()\n"
        "assert p.ui_app._app is None\n"
        "assert 'airflow_provider_dmjy.ui.app' not in sys.modules\n"
        "assert 'airflow_provider_dmjy.hooks.dmjy' not in sys.modules\n"
        "assert 'airflow_provider_dmjy._compat' not in sys.modules, 'loading the plugin read the config'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT))  # noqa: S603


@needs_ui_plugin
def test_airflow_lists_the_view(api_server: str, admin: dict[str, str]) -> None:
    """Airflow accepted the entry (its ``/api/v2/plugins`` model), so the UI shows it in Browse."""
    response = requests.get(f"{api_server}/api/v2/plugins", headers=admin, timeout=30)
    assert response.status_code == 200, response.text
    [plugin] = [p for p in response.json()["plugins"] if p["name"] == "dmjy_ui"]
    [view] = plugin["external_views"]
    assert (view["name"], view["href"], view["url_route"]) == ("DMJY videos", "dmjy-ui/videos", URL_ROUTE)
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/dmjy-ui"]


# -- authentication and permission -----------------------------------------------------------------


@needs_ui_plugin
def test_anonymous_requests_are_refused(api_server: str, dmjy_conn: SimulatorHandle) -> None:
    create_videos(dmjy_conn, ["Secret launch"])
    anonymous = get_page(api_server)
    assert anonymous.status_code == 401 and "Secret launch" not in anonymous.text
    forged = get_page(api_server, {"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 403 and "Secret launch" not in forged.text
    cookie = requests.get(f"{api_server}{PAGE}", cookies={"_token": "not-a-jwt"}, timeout=30)
    assert cookie.status_code == 403


@needs_ui_plugin
def test_the_ui_cookie_is_enough(api_server: str, users: None, dmjy_conn: SimulatorHandle) -> None:
    """Framed in the UI, the page gets the ``_token`` cookie the login set, and no header."""
    create_videos(dmjy_conn, ["Cookie video"])
    token = login(api_server, "admin")
    response = requests.get(f"{api_server}{PAGE}", cookies={"_token": token}, timeout=30)
    assert response.status_code == 200 and titles(response.text) == ["Cookie video"]


@needs_ui_plugin
def test_reading_needs_the_connection_read_permission(
    api_server: str, users: None, dmjy_conn: SimulatorHandle
) -> None:
    """A SimpleAuthManager viewer may not read connections, so not this one's videos either."""
    create_videos(dmjy_conn, ["Ops only"])
    viewer = {"Authorization": f"Bearer {login(api_server, 'viewer')}"}
    response = get_page(api_server, viewer)
    assert response.status_code == 403
    assert "Ops only" not in response.text and "may not read the connection" in response.text
    assert '<option value="dmjy_default"' in response.text  # only what it asked for: no other id


# -- the list --------------------------------------------------------------------------------------


@needs_ui_plugin
def test_the_page_lists_the_videos(
    api_server: str, admin: dict[str, str], slow_renders: SimulatorHandle
) -> None:
    sim = slow_renders
    done, failed, waiting = create_videos(sim, ["Linen dress", "Broken render", "Still rendering"])
    sim.complete(done)
    sim.fail(failed, "Render <failed> & stopped")
    response = get_page(api_server, admin)
    assert response.status_code == 200, response.text
    html = response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'self'" in csp
    assert titles(html) == ["Still rendering", "Broken render", "Linen dress"]  # newest first
    media = f"{sim.root_url}/media"
    assert f'<img src="{media}/thumbnails/{done}.jpg"' in html
    assert f'src="{media}/videos/{done}.mp4" poster="{media}/thumbnails/{done}.jpg"' in html
    assert html.count("<img ") == 1 and html.count("<video ") == 1  # media of the finished one only
    assert f'data-video-id="{failed}" data-status="failed"' in html
    assert "Render &lt;failed&gt; &amp; stopped" in html
    assert f'data-video-id="{waiting}" data-status="pending"' in html
    assert '<progress max="100" value="100">' in html
    assert "3 videos" in html and sim.base_url in html
    assert "Page 1 of 1" in html


@needs_ui_plugin
def test_pagination(api_server: str, admin: dict[str, str], dmjy_conn: SimulatorHandle) -> None:
    names = [f"Video {n}" for n in range(1, 6)]
    create_videos(dmjy_conn, names)
    first = get_page(api_server, admin, limit=2).text
    assert titles(first) == ["Video 5", "Video 4"] and "Page 1 of 3" in first
    assert 'href="videos?conn_id=dmjy_default&amp;page=2&amp;limit=2">Older' in first
    assert '<span class="off">‹ Newer</span>' in first
    second = get_page(api_server, admin, page=2, limit=2).text
    assert titles(second) == ["Video 3", "Video 2"]
    assert 'href="videos?conn_id=dmjy_default&amp;page=1&amp;limit=2">‹ Newer' in second
    last = get_page(api_server, admin, page=3, limit=2).text
    assert titles(last) == ["Video 1"] and '<span class="off">Older ›</span>' in last
    beyond = get_page(api_server, admin, page=9, limit=2)
    assert beyond.status_code == 200 and "No videos on this page" in beyond.text
    # Values a hand-edited URL may carry: clamped or the default, never an error.
    assert titles(get_page(api_server, admin, page="x", limit=500).text) == names[::-1]
    assert titles(get_page(api_server, admin, page=-3, limit=0).text) == ["Video 5"]


@needs_ui_plugin
def test_a_hostile_title_is_escaped(
    api_server: str, admin: dict[str, str], dmjy_conn: SimulatorHandle
) -> None:
    [video] = create_videos(dmjy_conn, [HOSTILE])
    dmjy_conn.complete(video)
    html = get_page(api_server, admin).text
    assert "<script>" not in html and "<img src=x" not in html
    escaped = (
        "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;"
        + "&lt;img src=x onerror=alert(1)&gt;&quot;&#x27; &amp;"
    )
    assert f'<h2 class="title" title="{escaped}">{escaped}</h2>' in html
    assert f'alt="Thumbnail of {escaped}"' in html
    assert html.count("<img ") == 1


# -- connections -----------------------------------------------------------------------------------


@needs_ui_plugin
def test_the_selector_offers_the_dmjy_connections(
    api_server: str, admin: dict[str, str], dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_SECOND", dmjy_conn.conn_uri)
    monkeypatch.setenv("AIRFLOW_CONN_SOME_HTTP", json.dumps({"conn_type": "http", "host": "example.com"}))
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", "{not json")
    create_videos(dmjy_conn, ["Shared account"])
    html = get_page(api_server, admin, conn_id="dmjy_second").text
    options = re.findall(r'<option value="([^"]*)"( selected)?>', html)
    assert ("dmjy_second", " selected") in options and ("dmjy_default", "") in options
    assert "some_http" not in html and "broken" not in html
    assert titles(html) == ["Shared account"]


@needs_ui_plugin
@pytest.mark.parametrize("conn_id", ["nope", "some_http"])
def test_an_unknown_or_foreign_connection_is_not_found(
    api_server: str, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch, conn_id: str
) -> None:
    """A connection of another type is never used: its password is not a DMJY secret."""
    monkeypatch.setenv("AIRFLOW_CONN_SOME_HTTP", json.dumps({"conn_type": "http", "host": "example.com"}))
    response = get_page(api_server, admin, conn_id=conn_id)
    assert (
        response.status_code == 404 and f"There is no DMJY connection &#x27;{conn_id}&#x27;" in response.text
    )


@needs_ui_plugin
def test_an_api_failure_is_shown(
    api_server: str, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    down = SimulatorHandle.for_base_url("http://127.0.0.1:9/api/v1")  # nothing listens on port 9
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", down.conn_uri)
    response = get_page(api_server, admin)
    assert response.status_code == 502 and "The DMJY API did not list the videos" in response.text
    assert down.api_secret not in response.text


# -- rendering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://cdn.example.com/a.jpg", True),
        ("http://127.0.0.1:8000/media/a.jpg", True),
        ("javascript:alert(1)", False),
        ("data:image/png;base64,AAAA", False),
        ("//evil.example.com/a.jpg", False),
        ("/media/a.jpg", False),
        (None, False),
        (42, False),
    ],
)
def test_only_http_media_urls_are_used(url: object, kept: bool) -> None:
    assert (media_url(url) is not None) is kept
    video = Video.from_api(
        {
            "id": "v1",
            "status": "completed",
            "progress": 100,
            "title": "t",
            "thumbnailUrl": url,
            "videoUrl": url,
        }
    )
    html = render(VideosPage(conn_id="c", page=1, limit=12, videos=[video]))
    assert ("<img " in html) is kept and ("<video " in html) is kept
    if not kept:
        assert "javascript:" not in html and "data:image" not in html


def test_unknown_statuses_and_odd_values_render() -> None:
    video = Video.from_api({"id": 'v"2', "status": "<weird>", "progress": 350, "title": None})
    html = render(VideosPage(conn_id='a"b', page=1, limit=12, videos=[video], total_pages=1))
    assert 'data-video-id="v&quot;2" data-status="&lt;weird&gt;"' in html
    assert '<progress max="100" value="100">' in html and "(untitled)" in html
    assert '<option value="a&quot;b" selected>' in html


@pytest.mark.parametrize(
    "created_at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2025-06-01T10:30:00Z"]
)
def test_a_date_outside_the_calendar_renders_without_it(created_at: str) -> None:
    odd = Video.from_api({"id": "v1", "status": "completed", "title": "Odd date", "createdAt": created_at})
    fine = Video.from_api(
        {"id": "v2", "status": "completed", "title": "Fine", "createdAt": "2025-06-01T10:30:00Z"}
    )
    html = render(VideosPage(conn_id="c", page=1, limit=12, videos=[odd, fine]))
    assert titles(html) == ["Odd date", "Fine"]
    assert html.count("created 2025-06-01 10:30 UTC") == (2 if created_at.startswith("2025") else 1)
