"""Fixtures of the report's browser test: Debian's Chromium and a CJK font, each installed from the
distribution's packages when missing (``scripts/ensure_chromium.sh``, ``scripts/ensure_cjk_font.sh``,
as the videos page's browser test does); a test skips, saying why, only where that is impossible."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import cjk_fonts, ensure, installed_chromium

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # The report is opened as a file, as people open it from a share: its links stay file:// links.
    "--allow-file-access-from-files",
]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed first when it is missing."""
    return installed_chromium()


@pytest.fixture(scope="module")
def cjk_font() -> list[str]:
    """The CJK font families fontconfig offers, one installed first when there is none."""
    ensure("ensure_cjk_font.sh", lambda: bool(cjk_fonts()), "A CJK font")
    return cjk_fonts()


@pytest.fixture
def browser_page(chromium: Path, cjk_font: list[str]) -> Iterator[Any]:
    """A fresh page in headless Chromium; every JavaScript dialog fails the test (none may open)."""
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            yield page
        finally:
            browser.close()
    assert not dialogs, f"a script ran in the page: {dialogs}"
