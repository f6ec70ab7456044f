"""Secrets a server echoes in a successful answer: a video's ``errorMessage`` or title that quotes
the key and secret reaches neither the task's exception, the ``dmjy_video`` XCom, the review question
nor the HTML report.

The scrub lives where both clients parse an answer (``client/responses.py``); the reports and the
review body do not scrub on their own, so these cases go through the whole way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_dmjy.exceptions import DmjyVideoFailedError
from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.review import review_body
from airflow_provider_dmjy.operators.review_results import product_entries, product_results
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator
from airflow_provider_dmjy.reports import RunReport, write_run_report
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.hostile_server import HostileServer, Reply, envelope
from tests.reliability.evidence import Evidence

KEY = "mk_live_ABCDEF123456"
SECRET = "s3cr3t_XYZ/987654"
AREA = "Secrets and the local disk"
VIDEO = "/api/v1/videos/v1"


def _echoing_video() -> bytes:
    video = {
        "id": "v1",
        "status": "failed",
        "title": f"for {KEY}",
        "errorMessage": f"upstream rejected key={KEY} secret={SECRET}",
        "imageUrls": [f"https://cdn.example/{SECRET}.jpg"],
    }
    # "/" as "\/" (PHP's json_encode): the scrub must work on the decoded text.
    return json.dumps(envelope(video)).replace("/", "\\/").encode("utf-8")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    """A loopback server answering the video with the echo; connection ``echo`` points at it."""
    with HostileServer() as hostile:
        hostile.route("GET", VIDEO, Reply(200, _echoing_video()))
        conn = {
            "conn_type": "dmjy",
            "login": KEY,
            "password": SECRET,
            "host": hostile.base_url,
            "extra": {"auth_mode": "header", "timeout": 1, "max_retries": 0},
        }
        monkeypatch.setenv("AIRFLOW_CONN_ECHO", json.dumps(conn))
        yield hostile


def _assert_scrubbed(video: dict[str, Any]) -> None:
    assert video["errorMessage"] == "upstream rejected key=*** secret=***"
    assert video["title"] == "for ***"
    assert video["imageUrls"] == ["https://cdn.example/***.jpg"]


@pytest.mark.reliability(
    area=AREA,
    case="a 200 answer echoes key and secret in a video's errorMessage, title and image URLs",
    expected="the sync and the async client return *** in their place",
    secrets=(KEY, SECRET),
)
async def test_both_clients_scrub_a_successful_answer(server: HostileServer, evidence: Evidence) -> None:
    synced = await asyncio.to_thread(_sync_get_video)
    async with DmjyAsyncHook("echo") as async_hook:
        awaited = await async_hook.get_video("v1")
    _assert_scrubbed(synced)
    _assert_scrubbed(awaited)
    assert evidence.no_secret_in(synced, awaited) == 0
    evidence.message(awaited["errorMessage"])


def _sync_get_video() -> dict[str, Any]:
    # In a thread of its own, as in a worker: the sync hook never runs on the event loop.
    hook = DmjyHook("echo")
    try:
        return hook.client.get_video("v1")
    finally:
        hook.close()


@pytest.mark.reliability(
    area=AREA,
    case="a render fails with a vendor errorMessage that quotes the key and secret",
    expected="the task's error, the dmjy_video XCom, the review question and the HTML report show ***",
    secrets=("mk_sim_key", "sim_secret"),  # the simulator's key and secret
)
def test_a_key_echoed_in_a_failed_render_reaches_no_report(
    dmjy_simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, evidence: Evidence
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_simulator.conn_uri)
    dmjy_simulator.configure(render_seconds=600, queue_seconds=0.05)
    key, secret = dmjy_simulator.api_key, dmjy_simulator.api_secret
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=0, try_number=1, pushed={})
    ti.xcom_push = lambda key, value: ti.pushed.__setitem__(key, value)
    context: dict[str, Any] = {
        "ti": ti,
        "dag_run": SimpleNamespace(start_date=dt.datetime.now(dt.timezone.utc)),
    }
    op = DmjyCreateVideoOperator(
        task_id="t",
        description="cup",
        image_url="https://example.com/c.jpg",
        duration=5,
        deferrable=False,
        poll_interval=0.05,
        max_poll_interval=0.1,
    )

    def fail_the_render() -> None:
        # The operator is polling its render (600 s long): the vendor fails it, quoting the key.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            videos = dmjy_simulator.state()["videos"]
            if videos:
                dmjy_simulator.fail(next(iter(videos)), f"upstream rejected key={key} secret={secret}")
                return
            time.sleep(0.05)

    threading.Thread(target=fail_the_render, daemon=True).start()
    with pytest.raises(DmjyVideoFailedError) as raised:
        op.execute(context)
    assert "upstream rejected key=*** secret=***" in str(raised.value)

    record = {**ti.pushed["dmjy_video"], "map_index": 0}
    products = [{"sku": "CUP-001", "name": "cup"}]
    body = review_body(product_entries(products, [record]))
    report = RunReport(
        dag_id="d",
        run_id="r",
        run_after="2026-11-30T00:00:00+00:00",
        products=product_results(products, [record]),
    )
    write_run_report(tmp_path, report)
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    texts = (str(raised.value), repr(ti.pushed), body, html)
    assert evidence.no_secret_in(*texts, secrets=(key, secret)) == 0
    evidence.message(raised.value)
