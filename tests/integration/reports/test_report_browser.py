"""The run report in a real browser: Debian's Chromium, driven by Playwright, opens ``index.html``
from the run's folder as a file (as people open it from a share) and checks what they would see:
the summary figures, every card's video and poster loading from the folder, the download links
resolving to the archived files (one with a space, Chinese and ``#`` in its name), Chinese text
drawn with a real CJK font, and a hostile product name staying text.

Chromium and the CJK font come from the distribution (``scripts/ensure_chromium.sh``,
``scripts/ensure_cjk_font.sh``, run when missing; see conftest.py). The screenshot goes to the
test's temporary directory, and to ``docs/images/report.png`` when ``DMJY_UPDATE_SCREENSHOTS=1``
(so that ordinary runs leave the checkout unchanged).
"""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from airflow_provider_dmjy.reports import ProductResult, RunReport, safe_folder_name, write_run_report
from tests.browser import ROOT

from .sample import ASSETS, CATALOG, RUN_ID, build_sample_run

SCREENSHOT = ROOT / "docs" / "images" / "report.png"

pytestmark = pytest.mark.timeout(600)


def open_report(page: Any, folder: Path) -> list[str]:
    """Open the folder's ``index.html``; the URLs of any request that failed while it loaded."""
    failed: list[str] = []

    def record(request: Any) -> None:
        # Chromium's media loader cancels its own requests by design (a probe before the range
        # requests, the rest of a file once it has buffered enough; seen once as a failed MP4
        # request on a loaded machine), so a failed media request is not a broken link: the
        # videos' readyState, size and duration below are what prove they load.
        if request.resource_type != "media":
            failed.append(f"{request.url} ({request.resource_type}: {request.failure})")

    page.on("requestfailed", record)
    page.goto((folder / "index.html").as_uri())
    page.wait_for_load_state("load")
    return failed


def stats(page: Any) -> dict[str, str]:
    """The header's figures by label."""
    pairs = page.eval_on_selector_all(
        ".stat",
        "tiles => tiles.map(t => [t.querySelector('.label').textContent,"
        " t.querySelector('.value').textContent])",
    )
    return dict(pairs)


def load_every_video(page: Any) -> list[dict[str, float]]:
    """Ask every player to load its file (the page says preload="none"); wait until each has a frame."""
    page.eval_on_selector_all("video", "videos => videos.forEach(v => { v.preload = 'auto'; v.load(); })")
    page.wait_for_function(
        "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 2 || v.error)",
        timeout=120_000,
    )
    return list(
        page.eval_on_selector_all(
            "video",
            "videos => videos.map(v => ({ready: v.readyState, width: v.videoWidth, duration: v.duration,"
            " error: v.error ? v.error.code : 0}))",
        )
    )


def poster_widths(page: Any) -> list[int]:
    """The ``naturalWidth`` of every player's poster, loaded as an image (0: it did not load)."""
    return list(
        page.evaluate(
            "() => Promise.all([...document.querySelectorAll('video')].map(v => new Promise(done => {"
            " const img = new Image(); img.onload = () => done(img.naturalWidth);"
            " img.onerror = () => done(0); img.src = v.poster; })))"
        )
    )


def rendering_fonts(page: Any, selector: str) -> list[list[dict[str, Any]]]:
    """For each element matching ``selector``: the platform fonts Chromium drew its text with
    (DevTools' ``CSS.getPlatformFontsForNode``: family and glyph count per font)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    nodes = cdp.send("DOM.querySelectorAll", {"nodeId": root, "selector": selector})["nodeIds"]
    return [cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"] for node in nodes]


def test_the_report_in_a_browser(browser_page: Any, cjk_font: list[str], tmp_path: Path) -> None:
    folder = tmp_path / "archive" / "2026-03-02" / safe_folder_name(RUN_ID)
    report = build_sample_run(folder)
    write_run_report(folder, report)
    page = browser_page
    failed_requests = open_report(page, folder)

    # The header: the figures of the run, and the link back to it in Airflow.
    assert page.locator(".summary").inner_text() == report.summary_line()
    assert stats(page) == {
        "products": "8",
        "completed": "7",
        "failed": "1",
        "reused": "2",
        "rows skipped": "2",
        "published": "7",
        "credits spent / estimated": "500 / 800",
    }
    assert page.locator("a.airflow-link").get_attribute("href") == report.run_url
    assert page.locator("table.skipped tbody tr").count() == 2

    # The cards, in catalog order; the failed one says what the vendor said.
    cards = page.eval_on_selector_all(".card", "cards => cards.map(c => [c.dataset.sku, c.dataset.outcome])")
    assert cards == [[sku, "failed" if sku == "EAR-005" else "completed"] for sku, *_ in CATALOG]
    failed = page.locator(".card[data-outcome=failed]")
    assert failed.locator(".error").inner_text().endswith(str(report.products[4].error))
    assert page.locator(".card .badge.reused").count() == 2

    # Every player loads its video and its poster from the folder.
    videos = load_every_video(page)
    assert len(videos) == 7
    assert all(
        v["error"] == 0 and v["ready"] >= 2 and v["width"] > 0 and v["duration"] > 0 for v in videos
    ), videos
    assert len(poster_widths(page)) == 7 and all(width > 0 for width in poster_widths(page))

    # Download and thumbnail links resolve to the archived files, odd names included.
    links = page.eval_on_selector_all(
        ".actions a.download, .actions a.thumbnail", "links => links.map(a => a.href)"
    )
    assert len(links) == 14
    for link in links:
        target = Path(unquote(urlsplit(link).path))
        assert target.parent == folder, link
        original = ASSETS / ("sample.mp4" if target.suffix == ".mp4" else "thumb.jpg")
        assert filecmp.cmp(target, original, shallow=False), link
    assert any("MAT-006%20%E7%91%9C%E4%BC%BD%E5%9E%AB%20%232.mp4" in link for link in links)
    assert not failed_requests, failed_requests

    # Chinese names are drawn with a CJK font: every glyph of each name, none as an empty box.
    names = [name for _, name, *_ in CATALOG]
    assert page.eval_on_selector_all(".card h3", "hs => hs.map(h => h.textContent)") == names
    for name, fonts in zip(names, rendering_fonts(page, ".card h3"), strict=True):
        cjk = sum(font["glyphCount"] for font in fonts if font["familyName"] in cjk_font)
        assert cjk == len(name), (name, fonts, cjk_font)

    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    if os.environ.get("DMJY_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "report.png", SCREENSHOT)


def test_a_hostile_product_name_runs_nothing(browser_page: Any, tmp_path: Path) -> None:
    """Shown as text; no script element, no dialog (the fixture fails the test on any dialog)."""
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>\"'"
    shutil.copyfile(ASSETS / "sample.mp4", tmp_path / "a.mp4")
    product = ProductResult(
        sku=hostile, name=hostile, description=hostile, status="completed", video_file="a.mp4", error=None
    )
    report = RunReport(dag_id=hostile, run_id=hostile, run_after="2026-03-02", products=[product])
    write_run_report(tmp_path, report)
    open_report(browser_page, tmp_path)
    assert browser_page.locator(".card h3").inner_text() == hostile
    assert browser_page.locator(".card .sku").inner_text() == hostile
    assert browser_page.locator("script, img").count() == 0
