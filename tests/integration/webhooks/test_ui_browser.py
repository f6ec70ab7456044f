"""The "DMJY videos" page in a real browser: Debian's Chromium, driven by Playwright, logs in to the
api-server (SimpleAuthManager's login form), opens Browse > DMJY videos in the Airflow UI, and
checks the framed page: its thumbnails loaded from the simulator, a finished video plays, a hostile
title stays text.

Chromium comes from the distribution (``scripts/ensure_chromium.sh``, run when it is missing), never
from Playwright's downloads; the test skips, saying why, only where it cannot be installed. The
screenshot goes to the test's temporary directory, and to ``docs/images/videos-page.png`` when
``DMJY_UPDATE_SCREENSHOTS=1`` (so that ordinary runs leave the checkout unchanged).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from airflow_provider_dmjy.ui import URL_ROUTE
from tests.browser import installed_chromium

from .ui_support import PASSWORDS, create_videos, needs_ui_plugin, set_users

ROOT = Path(__file__).parents[3]
SCREENSHOT = ROOT / "docs" / "images" / "videos-page.png"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: The screenshot's videos, oldest first, and what becomes of each.
CATALOG = [
    ("Linen summer dress", "complete"),
    ("Ceramic pour-over set", "complete"),
    ("Leather weekender bag", "fail"),
    ("Trail running shoes", "complete"),
    ("Bamboo desk organiser", "complete"),
    ("Smart thermos bottle", "render"),
]

pytestmark = [needs_ui_plugin, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed first when it is missing; skips only where that is impossible."""
    return installed_chromium()


@pytest.fixture
def browser_page(chromium: Path) -> Iterator[Any]:
    """A fresh browser page; every JavaScript dialog fails the test (none may ever open)."""
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            yield page
        finally:
            browser.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"


def fill_simulator(sim: SimulatorHandle) -> list[str]:
    """The :data:`CATALOG` videos: finished, failed, and one still rendering."""
    sim.configure(queue_seconds=0.1, render_seconds=90)  # the last one stays "processing"
    ids = create_videos(sim, [title for title, _ in CATALOG])
    for video_id, (_, fate) in zip(ids, CATALOG, strict=True):
        if fate == "complete":
            sim.complete(video_id)
        elif fate == "fail":
            sim.fail(video_id, "The product image is too dark to animate")
    return ids


def log_in(page: Any, api_server: str) -> None:
    """SimpleAuthManager's own login form, as a person uses it."""
    page.goto(f"{api_server}/auth/login")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(PASSWORDS["admin"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_function("document.cookie.includes('_token=')")


def thumbnails_loaded(frame: Any) -> list[int]:
    """The ``naturalWidth`` of every thumbnail once each has finished loading (0: it failed)."""
    frame.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('.media img')];"
        " return imgs.length > 0 && imgs.every(img => img.complete); }"
    )
    return list(frame.eval_on_selector_all(".media img", "imgs => imgs.map(img => img.naturalWidth)"))


def test_the_videos_page_in_the_airflow_ui(
    api_server: str,
    dmjy_conn: SimulatorHandle,
    browser_page: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    set_users(monkeypatch, tmp_path)
    fill_simulator(dmjy_conn)
    page = browser_page

    anonymous = page.goto(f"{api_server}/dmjy-ui/videos")
    assert anonymous is not None and anonymous.status == 401

    log_in(page, api_server)
    page.goto(f"{api_server}/plugin/{URL_ROUTE}")
    page.locator("iframe[title='DMJY videos']").wait_for()
    frame = page.frame_locator("iframe[title='DMJY videos']")
    frame.locator("h1", has_text="DMJY videos").wait_for()
    [inner] = page.main_frame.child_frames
    assert inner.url == f"{api_server}/dmjy-ui/videos"

    widths = thumbnails_loaded(inner)
    assert len(widths) == 4 and all(width > 0 for width in widths), widths
    cards = inner.eval_on_selector_all(".card", "cards => cards.map(c => c.dataset.status)")
    assert cards == ["processing", "completed", "completed", "failed", "completed", "completed"]
    assert frame.get_by_text("The product image is too dark to animate").is_visible()

    # A finished video plays inline: its source is the simulator's MP4. Muted, as a browser lets a
    # page start a video without a gesture (the page's CSP must allow the MP4 too).
    first_done = inner.locator(".card[data-status=completed]").first
    first_done.locator("summary", has_text="Play").click()
    video = first_done.locator("video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    inner.wait_for_function("() => document.querySelector('details[open] video').currentTime > 0.3")
    assert video.evaluate("v => { v.pause(); return v.duration; }") > 0

    page.wait_for_load_state("networkidle")  # the UI's own requests, around the frame, are done
    page.screenshot(path=str(tmp_path / "videos-page.png"))
    if os.environ.get("DMJY_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "videos-page.png", SCREENSHOT)

    # The form works inside the UI's sandboxed frame (a GET with the login cookie).
    inner.select_option("select[name=limit]", "24")
    with inner.expect_navigation():
        inner.get_by_role("button", name="Show").click()
    assert inner.url.endswith("videos?conn_id=dmjy_default&limit=24")
    assert len(thumbnails_loaded(inner)) == 4


def test_a_hostile_title_runs_nothing(
    api_server: str,
    dmjy_conn: SimulatorHandle,
    browser_page: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Opened directly (not framed), the page shows the title as text; no dialog opens (fixture)."""
    set_users(monkeypatch, tmp_path)
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    [video] = create_videos(dmjy_conn, [hostile])
    dmjy_conn.complete(video)
    page = browser_page
    log_in(page, api_server)
    page.goto(f"{api_server}/dmjy-ui/videos")
    assert page.locator("h2.title").inner_text() == hostile
    assert page.locator("script").count() == 0
    assert thumbnails_loaded(page.main_frame)[0] > 0
