"""Fixtures of the report's browser test: Debian's Chromium and a CJK font, each installed from the
distribution's packages when missing (``scripts/ensure_chromium.sh``, ``scripts/ensure_cjk_font.sh``,
as the videos page's browser test does); a test skips, saying why, only where that is impossible."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[3]
CHROMIUM = Path("/usr/bin/chromium")
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


def cjk_fonts() -> list[str]:
    """The families fontconfig offers for Simplified Chinese (empty without fontconfig)."""
    try:
        command = ["fc-list", ":lang=zh-cn", "family"]  # fontconfig's own tool, from PATH
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    except FileNotFoundError:
        return []
    return sorted({name for line in result.stdout.splitlines() for name in line.split(",") if name})


def ensure(script: str, installed: Callable[[], bool], what: str) -> None:
    """Run ``scripts/<script>`` unless ``installed()``; skip the test if it is still missing."""
    if installed():
        return
    try:
        result = subprocess.run(  # noqa: S603 - the project's own script
            ["/bin/bash", str(ROOT / "scripts" / script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=540,  # within the test's own timeout: a stuck install ends in a clear skip
            check=False,
        )
        output = result.stdout.decode(errors="replace")[-1500:]
    except subprocess.TimeoutExpired:
        output = f"scripts/{script} did not finish within 9 minutes"
    if not installed():
        pytest.skip(f"{what} cannot be installed on this machine (scripts/{script}):\n{output}")


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed first when it is missing."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e .[dev]")
    ensure("ensure_chromium.sh", lambda: os.access(CHROMIUM, os.X_OK), "Chromium")
    return CHROMIUM


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
