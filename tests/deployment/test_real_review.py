"""The flagship's review loop on real Airflow components, answered through the REST API as a reviewer
would: the spend approval before the creates, the review of the finished videos after, both ways
(approve; choose two products to render again).

One stack (api-server, scheduler, dag-processor, triggerer, simulator) serves the module's runs; each
run is triggered without a logical date, as the UI does, and films two or three products so the
module stays short. The runs use different durations, so their videos have different fingerprints
and no run reuses another's video: the simulator's ``videos_created`` counts exactly what each run
paid for. Last, the review form in the Airflow UI, in a real browser.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from airflow_provider_dmjy.operators.review import markdown_text
from airflow_provider_dmjy.reports import format_credits
from tests.browser import CHROMIUM, ROOT, cjk_fonts, ensure

from .airflow_stack import AirflowStack, wait_for
from .reviewer import (
    DAG_ID,
    FINISHED_RUN,
    VALID_SKUS,
    WAITING,
    answer,
    get_run,
    list_runs,
    pending_requests,
    read_manifest,
    run_folder,
    task_instance,
    trigger_without_logical_date,
    videos_created,
    wait_exit_processed,
    wait_parsed,
    wait_request,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Renders of a few seconds: see test_real_airflow.py for why not less.
RENDERS = ("--render-seconds", "5", "--queue-seconds", "0.5")
#: Generous: components start slowly on a busy two-core machine, yet conditions end waits early.
START_TIMEOUT = 180.0
STEP_TIMEOUT = 240.0
PRODUCTS = VALID_SKUS[:3]
#: The flagship's default price (Param credits_per_second), for the spend question's figure.
CREDITS_PER_SECOND = 10
SCREENSHOT = ROOT / "docs" / "images" / "review-form.png"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def stack(module_airflow_stack: AirflowStack) -> AirflowStack:
    """The module's stack, started, with the flagship parsed."""
    stack = module_airflow_stack
    stack.start_simulator(*RENDERS)
    stack.cli("db", "migrate")
    stack.cli("pools", "set", "dmjy_creates", "4", "Caps concurrent DMJY creates")
    stack.start_components()
    stack.wait_api_ready(timeout=START_TIMEOUT)
    wait_parsed(stack, timeout=START_TIMEOUT)
    return stack


def review_conf(stack: AirflowStack, **params: Any) -> dict[str, Any]:
    """A run of the first three products that asks a person (``review="human"``)."""
    return {
        "archive_root": stack.archive_root.as_uri(),
        "review": "human",
        "max_videos": len(PRODUCTS),
        **params,
    }


def finish(stack: AirflowStack, run_id: str) -> None:
    state = stack.wait_run_finished(DAG_ID, run_id, timeout=STEP_TIMEOUT)
    assert state == "success", f"run {run_id} {state}\n{stack.diagnostics(DAG_ID, run_id)}"


def published_record(stack: AirflowStack, video_id: str) -> dict[str, Any] | None:
    """The record ``publish_videos`` wrote for a video in ``<archive_root>/published/``, if any."""
    path = stack.archive_root / "published" / f"{video_id}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def check_published(stack: AirflowStack, folder: Path, product: dict[str, Any], run_id: str) -> None:
    """The product's video (and thumbnail) are in ``published/``, as archived, with its record."""
    record = published_record(stack, product["video_id"])
    assert record is not None, f"{product['sku']} was not published: {product}"
    assert (record["sku"], record["run_id"]) == (product["sku"], run_id), record
    published = stack.archive_root / "published"
    for role in ("video_file", "thumbnail_file"):
        copy, archived = published / record[role], folder / product[role]
        assert copy.stat().st_size == archived.stat().st_size > 0, (role, record)


def approve_until_finished(stack: AirflowStack, run_id: str) -> list[str]:
    """Approve every question a run asks, as they come, until it ends; the task ids that asked."""
    asked: list[str] = []

    def step() -> bool | None:
        stack.check_alive()
        if get_run(stack, run_id)["state"] in FINISHED_RUN:
            return True
        for request in pending_requests(stack, run_id):
            task_id = request["task_instance"]["task_id"]
            if request["task_instance"]["state"] in WAITING:
                wait_exit_processed(stack, run_id, task_id, STEP_TIMEOUT)
                answer(stack, run_id, request, "Approve")
                asked.append(task_id)
        return None

    wait_for(f"run {run_id} to finish, approving what it asks", step, STEP_TIMEOUT, interval=1)
    return asked


def test_the_reviewer_approves_the_spend_then_the_videos(stack: AirflowStack) -> None:
    duration = 5
    before = videos_created(stack)
    run = trigger_without_logical_date(
        stack, "review_approve", review_conf(stack, duration=duration, approval_above_credits=0)
    )
    run_id = run["dag_run_id"]

    # Asked before anything is spent: the figure and every product are in the question.
    spend = wait_request(stack, run_id, "approve_spend", STEP_TIMEOUT)
    estimate = len(PRODUCTS) * duration * CREDITS_PER_SECOND
    assert spend["subject"] == f"Spend {format_credits(estimate)} credits on {len(PRODUCTS)} videos?"
    assert all(markdown_text(sku) in spend["body"] for sku in PRODUCTS), spend["body"]
    assert spend["options"] == ["Approve", "Reject"], spend
    assert videos_created(stack) == before
    assert (task_instance(stack, run_id, "create_video", map_index=0) or {}).get("state") is None
    answer(stack, run_id, spend, "Approve")

    # After the renders: every finished video is shown, with its preview link and thumbnail.
    review = wait_request(stack, run_id, "review_videos", STEP_TIMEOUT)
    assert videos_created(stack) == before + len(PRODUCTS)
    assert set(review["params"]) == {"render_again", "drop"}, review["params"]
    assert all(markdown_text(sku) in review["body"] for sku in PRODUCTS), review["body"]
    assert review["body"].count("Preview the video") == len(PRODUCTS), review["body"]
    response = answer(stack, run_id, review, "Approve")
    finish(stack, run_id)

    folder = run_folder(stack.archive_root, run)
    manifest = read_manifest(folder)
    products = manifest["products"]
    assert [product["sku"] for product in products] == PRODUCTS
    assert [product["published"] for product in products] == [True] * len(PRODUCTS), products
    for product in products:
        check_published(stack, folder, product, run_id)
        record = published_record(stack, product["video_id"])
        assert record is not None and record["approved_by"] == response["responded_by"]["name"], record
    assert videos_created(stack) == before + len(PRODUCTS)


def test_the_reviewer_sends_two_products_back(stack: AirflowStack) -> None:
    kept, again = PRODUCTS[0], PRODUCTS[1:]
    before = videos_created(stack)
    # Under the approval threshold: the spend is approved without asking (no question written).
    # The flagship's default duration: the new run renders these products again with the same
    # settings whatever of this run's conf it passes on; only the variation tells the videos apart.
    conf = review_conf(stack, approval_above_credits=1_000_000)
    run = trigger_without_logical_date(stack, "review_render_again", conf)
    run_id = run["dag_run_id"]
    review = wait_request(stack, run_id, "review_videos", STEP_TIMEOUT)
    no_question = stack.api(
        "GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_spend/-1/hitlDetails"
    )
    assert no_question.status_code == 404, no_question.text
    assert videos_created(stack) == before + len(PRODUCTS)
    known_runs = {item["dag_run_id"] for item in list_runs(stack)}

    answer(stack, run_id, review, "Approve", {"render_again": again})
    finish(stack, run_id)
    folder = run_folder(stack.archive_root, run)
    first = {product["sku"]: product for product in read_manifest(folder)["products"]}
    check_published(stack, folder, first[kept], run_id)
    for sku in again:  # held back: not published by this run
        assert first[sku]["published"] is False, first[sku]
        assert published_record(stack, first[sku]["video_id"]) is None, first[sku]

    # The render_again task started one new run of the same DAG for exactly those products.
    def new_runs() -> list[dict[str, Any]] | None:
        runs = [item for item in list_runs(stack) if item["dag_run_id"] not in known_runs]
        return runs or None

    [rerun] = wait_for("the render-again run", new_runs, STEP_TIMEOUT, interval=1)
    rerun_id = rerun["dag_run_id"]
    assert rerun["conf"]["skus"] == again and rerun["conf"]["variation"] == 1, rerun["conf"]

    # Its creates pay for two new videos (the variation changes the fingerprint: nothing reused).
    assert approve_until_finished(stack, rerun_id) == ["review_videos"]  # conf passed on: review=human
    finish(stack, rerun_id)
    assert videos_created(stack) == before + len(PRODUCTS) + len(again)

    rerun_folder = run_folder(stack.archive_root, get_run(stack, rerun_id))
    second = {product["sku"]: product for product in read_manifest(rerun_folder)["products"]}
    assert sorted(second) == sorted(again), second
    for sku in again:
        assert second[sku]["video_id"] != first[sku]["video_id"], (first[sku], second[sku])
        assert second[sku]["reused"] is False, second[sku]
        check_published(stack, rerun_folder, second[sku], rerun_id)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium and a CJK font (the product names), installed when missing; else a skip."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -e .[dev]")
    ensure("ensure_chromium.sh", lambda: os.access(CHROMIUM, os.X_OK), "Chromium")
    ensure("ensure_cjk_font.sh", lambda: bool(cjk_fonts()), "A CJK font")
    return CHROMIUM


def test_the_review_form_in_the_airflow_ui(stack: AirflowStack, chromium: Path, tmp_path: Path) -> None:
    """The review question as the reviewer sees it in the Airflow UI, answered there with a click.

    The screenshot goes to the test's temporary directory, and to ``docs/images/review-form.png``
    when ``DMJY_UPDATE_SCREENSHOTS=1``.
    """
    from playwright.sync_api import sync_playwright

    # Two products: the form fits one screenshot (the UI shows each thumbnail at its own size).
    conf = review_conf(stack, duration=8, max_videos=2, approval_above_credits=1_000_000)
    run_id = trigger_without_logical_date(stack, "review_in_the_ui", conf)["dag_run_id"]
    request = wait_request(stack, run_id, "review_videos", STEP_TIMEOUT)
    form = f"{stack.api_url}/dags/{DAG_ID}/runs/{run_id}/tasks/review_videos/required_actions"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=BROWSER_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            page.set_default_timeout(60_000)
            # The stack's SimpleAuthManager makes everyone admin: this sets the UI's token cookie.
            page.goto(f"{stack.api_url}/auth/token/login")
            page.goto(form)
            page.get_by_text(request["subject"]).first.wait_for()
            approve = page.get_by_role("button", name="Approve")
            approve.wait_for()
            page.get_by_role("button", name="Reject").wait_for()
            media = urlunsplit(urlsplit(stack.simulator_url)._replace(path=""))  # the simulator's origin
            thumbnails = page.locator(f"img[src^='{media}/']")
            thumbnails.first.wait_for()
            page.wait_for_function(
                "prefix => [...document.images].filter(i => i.src.startsWith(prefix))"
                ".every(i => i.complete && i.naturalWidth > 0)",
                arg=media,
            )
            assert thumbnails.count() == 2, thumbnails.count()
            page.wait_for_load_state("networkidle")
            # The UI scrolls inside its panels, not the page: grow the window by what they hide.
            hidden = page.evaluate(
                "() => Math.max(0, ...[...document.querySelectorAll('*')]"
                ".map(e => e.scrollHeight - e.clientHeight))"
            )
            page.set_viewport_size({"width": 1280, "height": 900 + hidden})
            page.screenshot(path=str(tmp_path / "review-form.png"))
            if os.environ.get("DMJY_UPDATE_SCREENSHOTS") == "1":
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmp_path / "review-form.png", SCREENSHOT)
            approve.click()
            wait_for("the answer to be recorded", lambda: pending_requests(stack, run_id) == [] or None, 60)
        finally:
            browser.close()
    finish(stack, run_id)
    detail = stack.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/review_videos/-1/hitlDetails")
    assert detail.json()["chosen_options"] == ["Approve"], detail.text
