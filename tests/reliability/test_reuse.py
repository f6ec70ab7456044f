"""Money across runs: with ``reuse="completed"``, two runs of one day pay once for each product.

Each test is one row of ``docs/reliability.md``. The create operator runs against the simulator (or
the hostile server) over loopback HTTP, run after run, as a manual trigger and the day's scheduled
run would; the simulator's ``videos_created`` counter is what was paid.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_dmjy.client.models import CreateVideoRequest
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.hostile_server import HostileServer, Reply, Seen, envelope

PRODUCTS = [
    {"sku": "CUP-001", "name": "智能保温杯", "image": "https://example.com/cup.jpg"},
    {"sku": "LAMP-002", "name": "护眼台灯", "image": "https://example.com/lamp.jpg"},
    {"sku": "PEN-003", "name": "钢笔", "image": "https://example.com/pen.jpg"},
]
START_OF_DAY = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def run(
    run_id: str, product: dict[str, str], map_index: int
) -> tuple[DmjyCreateVideoOperator, dict[str, Any]]:
    """One mapped create of the daily DAG in run ``run_id``; the operator and its XCom record."""
    ti = SimpleNamespace(dag_id="daily", task_id="create_video", run_id=run_id, map_index=map_index)
    ti.try_number, ti.pushed = 1, {}
    ti.xcom_push = lambda key, value: ti.pushed.__setitem__(key, value)
    dag_run = SimpleNamespace(start_date=dt.datetime.now(dt.timezone.utc))
    op = DmjyCreateVideoOperator(
        task_id="create_video",
        description=f"为「{product['name']}」制作一支商品短视频",
        image_url=product["image"],
        duration=5,
        aspect_ratio="9:16",
        title=f"{product['sku']} {product['name']}",
        reuse="completed",
        reuse_within=START_OF_DAY.isoformat(),  # the flagship: the start of the run's day
        deferrable=False,
        poll_interval=0.05,
        max_poll_interval=0.2,
    )
    op.execute({"ti": ti, "dag_run": dag_run})
    return op, ti.pushed["dmjy_video"]


@pytest.mark.reliability(
    area="Money",
    case="a manual run and the day's scheduled run render the same 3 products (reuse='completed')",
    expected="3 videos paid, not 6; the second run returns them marked reused",
)
def test_two_runs_of_one_day_pay_once(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    dmjy_conn.configure(render_seconds=0.4, queue_seconds=0.1)
    first = [run("manual__2026-11-30T08:00:00+00:00", p, i)[1] for i, p in enumerate(PRODUCTS)]
    second = [run("scheduled__2026-11-30T00:00:00+00:00", p, i)[1] for i, p in enumerate(PRODUCTS)]
    state = dmjy_conn.state()
    evidence.billed(state["videos_created"], tasks=len(PRODUCTS))
    assert state["videos_created"] == len(PRODUCTS)
    assert [r["id"] for r in second] == [r["id"] for r in first]
    assert [r["reused"] for r in first + second] == [False] * 3 + [True] * 3
    assert all(r["status"] == "completed" and r["videoUrl"] for r in second)
    evidence.message(f"second run: {len(second)} videos reused, {state['videos_created']} paid in all")


@pytest.mark.reliability(
    area="Money",
    case="reuse search against a list that never ends (fresh ids, totalPages 10^9)",
    expected="the search stops at its 10-page cap and the video is created once",
)
def test_an_endless_list_bounds_the_reuse_search(monkeypatch: pytest.MonkeyPatch, evidence: Any) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def endless(seen: Seen) -> Reply:
        page = int(seen.query.get("page", ["1"])[0])
        tasks = [{"id": f"p{page}-{n}", "title": "someone else's", "createdAt": now} for n in range(100)]
        return Reply(200, envelope({"tasks": tasks, "pagination": {"page": page, "totalPages": 10**9}}))

    created = {"id": "v1", "status": "completed", "createdAt": now}
    done = {**created, "title": "x", "videoUrl": "https://cdn.example.com/v1.mp4", "duration": 5}
    with HostileServer() as server:
        conn = {"conn_type": "dmjy", "login": "mk_sim_key", "password": "sim_secret", "host": server.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))
        server.route("GET", "/api/v1/videos", endless)
        server.route("POST", "/api/v1/videos", Reply(200, envelope(created)))
        server.route("GET", "/api/v1/videos/v1", Reply(200, envelope(done)))
        _op, record = run("scheduled__1", PRODUCTS[0], 0)
        lists, creates = len(server.seen("GET", "/api/v1/videos")), len(server.seen("POST", "/api/v1/videos"))
    evidence.billed(creates, tasks=1)
    assert (lists, creates) == (10, 1) and record["reused"] is False
    evidence.message(f"{lists} list requests, then one create")


@pytest.mark.reliability(
    area="Money",
    case="another client made a video of another image whose title ends with this product's exact tags",
    expected="the image on GET /videos/{id} tells it apart: not reused, the product's own video is made",
)
def test_a_forged_title_on_another_image_is_not_reused(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    dmjy_conn.configure(render_seconds=0.4, queue_seconds=0.1)
    product = PRODUCTS[0]
    honest = CreateVideoRequest(
        description=f"为「{product['name']}」制作一支商品短视频",
        image_url=product["image"],
        duration=5,
        aspect_ratio="9:16",
        title=f"{product['sku']} {product['name']}",
    )
    # Same description, duration and aspect ratio; another image; the tags this package would put.
    # Another client (curl, the vendor's console) is not bound by this package's title check.
    forged = dataclasses.replace(honest, image_url="https://attacker.example/other.jpg")
    object.__setattr__(forged, "title", f"{honest.title} [af-000000000000] [fp-{honest.fingerprint()}]")
    hook = DmjyHook()
    try:
        planted = str(hook.create_video_from(forged)["id"])
    finally:
        hook.close()
    dmjy_conn.complete(planted)
    op, record = run("scheduled__2026-11-30T00:00:00+00:00", product, 0)
    state = dmjy_conn.state()
    evidence.billed(state["videos_created"] - 1, tasks=1)  # the planted video was not the task's
    assert record["id"] != planted and not op.reused and state["videos_created"] == 2
    evidence.message(f"{planted} (another image) not reused; the task made {record['id']}")


@pytest.mark.reliability(
    area="Money",
    case="a task's title carries another request's fingerprint tag ('CUP-001 [fp-<16 hex>]')",
    expected="DmjyValidationError naming title before any request: no title can claim a video",
)
def test_a_title_carrying_a_tag_is_refused_before_any_request(
    dmjy_conn: SimulatorHandle, evidence: Any
) -> None:
    product = {**PRODUCTS[0], "sku": f"CUP-001 [fp-{'0' * 16}]"}  # the title is "<sku> <name>"
    with pytest.raises(DmjyValidationError) as info:
        run("manual__1", product, 0)
    assert info.value.field == "title" and dmjy_conn.state()["requests"] == {}
    evidence.billed(dmjy_conn.state()["videos_created"], tasks=1)
    evidence.message(info.value)
