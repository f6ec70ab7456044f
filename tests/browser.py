"""What the browser tests share: Debian's Chromium and a CJK font, each installed from the
distribution's packages when missing (``scripts/ensure_chromium.sh``, ``scripts/ensure_cjk_font.sh``);
a test skips, saying why, only where that is impossible."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
CHROMIUM = Path("/usr/bin/chromium")


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


def installed_chromium() -> Path:
    """Debian's Chromium, installed first when it is missing (skips where it cannot be)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e .[dev]")
    ensure("ensure_chromium.sh", lambda: os.access(CHROMIUM, os.X_OK), "Chromium")
    return CHROMIUM
