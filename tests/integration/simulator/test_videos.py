"""Video endpoints: validation, fields, pagination, the clock-driven lifecycle, media, charging."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests
from sim_helpers import Api, error_of

from airflow_provider_dmjy.simulator import SimulatorHandle

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
GOOD = {"description": "展示智能保温杯", "imageUrl": "https://example.com/p.jpg"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"imageUrl": "https://example.com/p.jpg"}, "description"),
        ({**GOOD, "description": ""}, "description"),
        ({**GOOD, "description": 5}, "description"),
        ({"description": "d"}, "imageUrl"),
        ({**GOOD, "imageUrls": ["https://example.com/a.jpg"]}, "imageUrls"),
        ({**GOOD, "imageUrl": "ftp://example.com/p.jpg"}, "imageUrl"),
        ({**GOOD, "imageUrl": 3}, "imageUrl"),
        ({"description": "d", "imageUrls": []}, "imageUrls"),
        ({"description": "d", "imageUrls": "https://example.com/a.jpg"}, "imageUrls"),
        ({"description": "d", "imageUrls": ["https://example.com/a.jpg"] * 10}, "imageUrls"),
        ({"description": "d", "imageUrls": ["https://example.com/a.jpg", "nope"]}, "imageUrls"),
        ({**GOOD, "duration": 0}, "duration"),
        ({**GOOD, "duration": 61}, "duration"),
        ({**GOOD, "duration": 10.5}, "duration"),
        ({**GOOD, "duration": 10.0}, "duration"),
        ({**GOOD, "duration": "10"}, "duration"),
        ({**GOOD, "duration": True}, "duration"),
        ({**GOOD, "aspectRatio": "4:3"}, "aspectRatio"),
        ({**GOOD, "title": 7}, "title"),
        ({**GOOD, "callbackUrl": "not a url"}, "callbackUrl"),
    ],
)
def test_create_validation_names_the_field(
    sim: SimulatorHandle, api: Api, body: dict[str, Any], field: str
) -> None:
    resp = api.post("/videos", body)
    assert resp.status_code == 400, resp.text
    error = error_of(resp)
    assert error["code"] == "INVALID_PARAMETER"
    assert error["field"] == field
    assert field in error["message"]
    state = sim.state()
    assert state["videos_created"] == 0
    assert state["balance"] == 100_000


def test_aspect_ratio_message(api: Api) -> None:
    resp = api.post("/videos", {**GOOD, "aspectRatio": "4:3"})
    assert error_of(resp)["message"] == "aspectRatio must be one of 9:16, 16:9 (got '4:3')"


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_create_rejects_non_object_body(api: Api, raw: bytes) -> None:
    resp = api.request("POST", "/videos", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert error_of(resp)["field"] == "body"


def test_create_single_image_defaults(sim: SimulatorHandle, api: Api) -> None:
    resp = api.post(
        "/videos",
        {**GOOD, "description": "一个很长的描述文字用来生成标题并且超过二十个字符的长度", "extra": 1},
    )
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert set(data) == {"id", "status", "imageCount", "imageMerged", "callbackUrl", "createdAt"}
    assert re.fullmatch(r"task_[0-9a-f]{12}", data["id"])
    assert data["status"] == "pending"
    assert data["imageCount"] == 1
    assert data["imageMerged"] is False
    assert data["callbackUrl"] is None
    assert ISO_Z.match(data["createdAt"])
    detail = api.get(f"/videos/{data['id']}").json()["data"]
    assert detail["duration"] == 10
    assert detail["aspectRatio"] == "9:16"
    assert detail["title"] == "一个很长的描述文字用来生成标题并且超过二"
    assert sim.state()["balance"] == 100_000 - 10 * 10


def test_create_multi_image(api: Api) -> None:
    urls = [f"https://example.com/{i}.jpg" for i in range(4)]
    body = {
        "description": "d",
        "imageUrls": urls,
        "duration": 15,
        "aspectRatio": "16:9",
        "title": "T",
        "callbackUrl": "https://h.example/x",
    }
    data = api.post("/videos", body).json()["data"]
    assert data["imageCount"] == 4
    assert data["imageMerged"] is True
    assert data["callbackUrl"] == "https://h.example/x"
    detail = api.get(f"/videos/{data['id']}").json()["data"]
    assert detail["imageUrl"] == urls[0]
    assert detail["title"] == "T"
    assert detail["aspectRatio"] == "16:9"
    assert detail["duration"] == 15


def test_get_video_fields(api: Api) -> None:
    task_id = api.create_video()["id"]
    data = api.get(f"/videos/{task_id}").json()["data"]
    assert list(data) == [
        "id", "userId", "title", "imageUrl", "description", "duration", "aspectRatio", "status",
        "progress", "videoUrl", "thumbnailUrl", "productName", "errorMessage", "createdAt", "updatedAt",
    ]  # fmt: skip
    assert data["userId"] == "user_sim"
    assert data["productName"] is None
    assert data["errorMessage"] is None
    assert data["videoUrl"] is None


def test_get_and_delete_unknown(api: Api) -> None:
    for resp in (api.get("/videos/task_000000000000"), api.delete("/videos/task_000000000000")):
        assert resp.status_code == 404
        assert error_of(resp)["code"] == "NOT_FOUND"


def test_delete_video(sim: SimulatorHandle, api: Api) -> None:
    task_id = api.create_video()["id"]
    resp = api.delete(f"/videos/{task_id}")
    assert resp.status_code == 200
    assert resp.json() == {"success": True}
    assert api.get(f"/videos/{task_id}").status_code == 404
    assert api.delete(f"/videos/{task_id}").status_code == 404
    assert api.get("/videos").json()["data"]["tasks"] == []
    state = sim.state()
    assert state["videos"] == {task_id: "deleted"}
    assert state["balance"] == 100_000 - 100  # no refund


def test_list_pagination_and_filters(sim: SimulatorHandle, api: Api) -> None:
    ids = [api.create_video(title=f"v{i}")["id"] for i in range(5)]
    sim.complete(ids[0])
    first = api.get("/videos?page=1&limit=2").json()["data"]
    assert first["pagination"] == {"total": 5, "page": 1, "limit": 2, "totalPages": 3}
    assert [t["id"] for t in first["tasks"]] == [ids[4], ids[3]]
    assert set(first["tasks"][0]) == {
        "id", "title", "status", "progress", "duration", "aspectRatio", "videoUrl", "thumbnailUrl",
        "errorMessage", "createdAt", "updatedAt",
    }  # fmt: skip
    last = api.get("/videos?page=3&limit=2").json()["data"]
    assert [t["id"] for t in last["tasks"]] == [ids[0]]
    beyond = api.get("/videos?page=9&limit=2").json()["data"]
    assert beyond["tasks"] == []
    done = api.get("/videos?status=completed").json()["data"]
    assert [t["id"] for t in done["tasks"]] == [ids[0]]
    assert done["pagination"]["total"] == 1
    default = api.get("/videos").json()["data"]["pagination"]
    assert default == {"total": 5, "page": 1, "limit": 20, "totalPages": 1}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=0", "page"),
        ("page=x", "page"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("status=done", "status"),
    ],
)
def test_list_validation(api: Api, query: str, field: str) -> None:
    resp = api.get(f"/videos?{query}")
    assert resp.status_code == 400
    error = error_of(resp)
    assert error["field"] == field
    assert field in error["message"]


def test_lifecycle_on_the_clock(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(queue_seconds=0.2, render_seconds=0.8)
    task_id = api.create_video()["id"]
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data = api.get(f"/videos/{task_id}").json()["data"]
        seen.append((data["status"], data["progress"]))
        if data["status"] == "completed":
            break
        time.sleep(0.05)
    statuses = [s for s, _ in seen]
    assert statuses[0] == "pending"
    assert "processing" in statuses
    assert statuses[-1] == "completed"
    progresses = [p for _, p in seen]
    assert progresses == sorted(progresses)
    assert any(0 < p < 100 for s, p in seen if s == "processing")
    assert all(p <= 99 for s, p in seen if s != "completed")
    data = api.get(f"/videos/{task_id}").json()["data"]
    assert data["progress"] == 100
    assert data["videoUrl"] == f"{sim.root_url}/media/videos/{task_id}.mp4"
    assert data["thumbnailUrl"] == f"{sim.root_url}/media/thumbnails/{task_id}.jpg"
    assert data["updatedAt"] >= data["createdAt"]


def test_random_failure(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(fail_rate=1.0, queue_seconds=0.0, render_seconds=0.2)
    task_id = api.create_video()["id"]
    time.sleep(0.3)
    data = api.get(f"/videos/{task_id}").json()["data"]
    assert data["status"] == "failed"
    assert data["progress"] == 99
    assert data["errorMessage"] == "Rendering failed: the product image could not be processed"
    assert data["videoUrl"] is None


def test_forced_transitions(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(render_seconds=60)
    a, b = api.create_video()["id"], api.create_video()["id"]
    assert sim.complete(a)["status"] == "completed"
    failed = sim.fail(b, "boom")
    assert failed["status"] == "failed"
    assert failed["errorMessage"] == "boom"
    assert api.get(f"/videos/{a}").json()["data"]["progress"] == 100
    assert sim.state()["videos"] == {a: "completed", b: "failed"}
    resp = requests.post(f"{sim.root_url}/_sim/videos/{a}/fail", json={}, timeout=10)
    assert resp.status_code == 409
    assert error_of(resp)["code"] == "INVALID_STATE"
    assert requests.post(f"{sim.root_url}/_sim/videos/task_nope/complete", timeout=10).status_code == 404


def test_media(sim: SimulatorHandle, api: Api) -> None:
    task_id = api.create_video()["id"]
    video_url = f"{sim.root_url}/media/videos/{task_id}.mp4"
    assert requests.get(video_url, timeout=10).status_code == 404  # not rendered yet
    sim.complete(task_id)
    detail = api.get(f"/videos/{task_id}").json()["data"]
    video = requests.get(detail["videoUrl"], timeout=10)
    assert video.status_code == 200
    assert video.headers["Content-Type"] == "video/mp4"
    assert int(video.headers["Content-Length"]) == len(video.content) > 1000
    assert video.content[4:8] == b"ftyp"
    head = requests.head(detail["videoUrl"], timeout=10)
    assert head.headers["Content-Length"] == video.headers["Content-Length"]
    assert head.content == b""
    thumb = requests.get(detail["thumbnailUrl"], timeout=10)
    assert thumb.headers["Content-Type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8"
    assert int(thumb.headers["Content-Length"]) == len(thumb.content)
    product = requests.get(f"{sim.root_url}/media/images/any-name.jpg", timeout=10)
    assert product.status_code == 200
    assert product.content[:2] == b"\xff\xd8"
    assert requests.get(f"{sim.root_url}/media/videos/task_unknown.mp4", timeout=10).status_code == 404
    assert requests.get(f"{sim.root_url}/media/thumbnails/task_unknown.jpg", timeout=10).status_code == 404


def test_charging_and_insufficient_balance(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(balance=250, cost_per_second=10)
    api.create_video(duration=20)
    assert sim.state()["balance"] == 50
    resp = api.post("/videos", {**GOOD, "duration": 6})
    assert resp.status_code == 402
    error = error_of(resp)
    assert error["code"] == "INSUFFICIENT_BALANCE"
    assert "50" in error["message"]
    assert "60" in error["message"]
    assert sim.state()["videos_created"] == 1
    api.create_video(duration=5)
    assert sim.state()["balance"] == 0


def test_account(sim: SimulatorHandle, api: Api) -> None:
    sim.configure(balance=1100)
    api.create_video(duration=5)
    data = api.get("/account").json()["data"]
    assert data["userId"] == "user_sim"
    assert data["plan"] == "pro"
    assert ISO_Z.match(data["planExpiresAt"])
    assert data["balance"] == 1050
    assert data["usage"] == {"today": 50, "thisMonth": 50}
    assert data["lowBalanceThreshold"] == 1000
    assert data["isLowBalance"] is False
    api.create_video(duration=6)
    data = api.get("/account").json()["data"]
    assert data["balance"] == 990
    assert data["isLowBalance"] is True
