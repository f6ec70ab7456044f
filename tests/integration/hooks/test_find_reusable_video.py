"""DmjyHook.find_reusable_video(s): only a completed video of the same fingerprint, recent enough on
the server's clock, found by a bounded and counted walk. The simulator where it can; the hostile
server for answers the simulator never gives (a completed video without a URL, endless lists)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest

from airflow_provider_dmjy.client.models import CreateVideoRequest
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.hostile_server import HostileServer, Reply, Seen, envelope

IMG = "https://example.com/cup.jpg"
LIST = "GET /api/v1/videos"
REQUEST = CreateVideoRequest(description="展示智能保温杯", image_url=IMG, duration=5)
FP = REQUEST.fingerprint()


def create(hook: DmjyHook, marker: str = "af-1", request: CreateVideoRequest = REQUEST) -> str:
    return str(hook.create_video_from(request.with_marker(marker, fingerprint=True))["id"])


def test_finds_the_newest_completed_video_of_the_fingerprint(
    dmjy_conn: SimulatorHandle, hook: DmjyHook
) -> None:
    older = create(hook, "af-1")
    newer = create(hook, "af-2")
    other = create(hook, "af-3", CreateVideoRequest(description="另一个", image_url=IMG, duration=5))
    for video_id in (older, newer, other):
        dmjy_conn.complete(video_id)
    found = hook.find_reusable_video(FP, time.time() - 600)
    assert found is not None and found["id"] == newer and found["videoUrl"]
    assert dmjy_conn.state()["requests"][LIST] == 1  # one page, counted


def test_many_fingerprints_are_looked_up_in_one_walk(dmjy_conn: SimulatorHandle, hook: DmjyHook) -> None:
    lamp = CreateVideoRequest(description="护眼台灯", image_url=IMG, duration=5)
    missing = CreateVideoRequest(description="钢笔", image_url=IMG, duration=5).fingerprint()
    older, newer, lamp_video = create(hook, "af-1"), create(hook, "af-2"), create(hook, "af-3", lamp)
    for video_id in (older, newer, lamp_video):
        dmjy_conn.complete(video_id)
    found = hook.find_reusable_videos([FP, lamp.fingerprint(), missing], time.time() - 600)
    assert {fp: video["id"] for fp, video in found.items()} == {FP: newer, lamp.fingerprint(): lamp_video}
    assert dmjy_conn.state()["requests"][LIST] == 1  # one page for the three
    assert hook.find_reusable_videos([], None) == {}
    assert dmjy_conn.state()["requests"][LIST] == 1  # nothing to look for: no request


@pytest.mark.parametrize("outcome", ["failed", "pending"])
def test_a_failed_or_unfinished_video_is_never_reused(
    slow_renders: SimulatorHandle, hook: DmjyHook, outcome: str
) -> None:
    video_id = create(hook)
    if outcome == "failed":
        slow_renders.fail(video_id, "bad image")
    assert hook.find_reusable_video(FP, time.time() - 600) is None


def test_a_video_older_than_the_cut_off_is_never_reused(dmjy_conn: SimulatorHandle, hook: DmjyHook) -> None:
    # Unlike the marker search, the date decides: a video made before the window is not reused.
    dmjy_conn.complete(create(hook))
    assert hook.find_reusable_video(FP, time.time() + 3600) is None
    assert dmjy_conn.state()["requests"][LIST] == 1  # a whole page older than the cut-off: done
    assert hook.find_reusable_video(FP, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))


def test_the_cut_off_follows_a_server_clock_that_is_behind(
    dmjy_conn: SimulatorHandle, hook: DmjyHook
) -> None:
    dmjy_conn.configure(clock_offset_seconds=-900)  # createdAt is 15 minutes behind this machine
    dmjy_conn.complete(video_id := create(hook))
    found = hook.find_reusable_video(FP, time.time() - 600)  # made just now: inside the window
    assert found is not None and found["id"] == video_id


def test_the_cut_off_follows_a_server_clock_that_is_ahead(dmjy_conn: SimulatorHandle, hook: DmjyHook) -> None:
    # The video was made at the server's T; then the server's clock is 20 minutes ahead of this
    # machine's, so on the server's clock the video is 20 minutes old: outside a 10-minute window,
    # although its createdAt is within 10 minutes of this machine's clock.
    dmjy_conn.complete(create(hook))
    dmjy_conn.configure(clock_offset_seconds=1200)
    hook.get_account()  # a Date header of the server's clock
    assert hook.find_reusable_video(FP, time.time() - 600) is None
    assert hook.find_reusable_video(FP, time.time() - 1800) is not None


def _hostile(monkeypatch: pytest.MonkeyPatch, server: HostileServer) -> None:
    conn = {"conn_type": "dmjy", "login": "mk_sim_key", "password": "sim_secret", "host": server.base_url}
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))


def _now_iso(offset: float = 0) -> str:
    return dt.datetime.fromtimestamp(time.time() + offset, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _item(video_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": video_id,
        "title": f"cup [af-9] [fp-{FP}]",
        "status": "completed",
        "videoUrl": "https://cdn.example.com/v.mp4",
        "createdAt": _now_iso(),
        **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"videoUrl": None},
        {"videoUrl": ""},
        {"createdAt": None},
        {"createdAt": "yesterday"},
        {"status": "weird"},
    ],
    ids=["no-url", "empty-url", "no-date", "odd-date", "unknown-status"],
)
def test_only_a_completed_video_with_a_url_and_a_readable_date_counts(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]
) -> None:
    with HostileServer() as server:
        _hostile(monkeypatch, server)
        page = {"tasks": [_item("v1", **fields)], "pagination": {"page": 1, "totalPages": 1}}
        server.route("GET", "/api/v1/videos", Reply(200, envelope(page)))
        hook = DmjyHook()
        try:
            assert hook.find_reusable_video(FP, time.time() - 600) is None
        finally:
            hook.close()


def test_the_search_is_bounded_by_its_page_cap_and_answers_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # A list of recent videos that never ends: the walk stops at the cap and does not claim
    # anything (reuse is a saving; creating is always safe).
    first: list[dict[str, Any]] = []  # put at the top of page 1

    def endless(seen: Seen) -> Reply:
        number = int(seen.query.get("page", ["1"])[0])
        tasks = [_item(f"p{number}-{n}", title="someone else's") for n in range(100)]
        tasks[:0] = first if number == 1 else []
        return Reply(200, envelope({"tasks": tasks, "pagination": {"page": number, "totalPages": 10**9}}))

    with HostileServer() as server:
        _hostile(monkeypatch, server)
        server.route("GET", "/api/v1/videos", endless)
        hook = DmjyHook()
        try:
            assert hook.find_reusable_video(FP, time.time() - 600, max_pages=3) is None
            assert hook.find_reusable_video(FP, None) is None  # the default cap: 10 pages
            # A video found before the cap does not make the search conclusive for the others.
            first.append(reusable := _item("mine"))
            assert hook.find_reusable_videos([FP, "0" * 16], None, max_pages=2) == {}
            assert hook.find_reusable_videos([FP], None, max_pages=2) == {FP: reusable}
        finally:
            hook.close()
        assert len(server.seen("GET", "/api/v1/videos")) == 3 + 10 + 2 + 1


def test_a_whole_page_older_than_the_cut_off_ends_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [
        [
            _item("new", title="other", createdAt=_now_iso()),
            _item("old", title="x", createdAt=_now_iso(-7200)),
        ],
        [_item("older", title="x", createdAt=_now_iso(-7300))],
        [_item("reusable-but-too-old", createdAt=_now_iso(-7400))],
    ]

    def page(seen: Seen) -> Reply:
        number = int(seen.query.get("page", ["1"])[0])
        data = {"tasks": pages[number - 1], "pagination": {"page": number, "totalPages": len(pages)}}
        return Reply(200, envelope(data))

    with HostileServer() as server:
        _hostile(monkeypatch, server)
        server.route("GET", "/api/v1/videos", page)
        hook = DmjyHook()
        try:
            assert hook.find_reusable_video(FP, time.time() - 3600) is None
        finally:
            hook.close()
        assert len(server.seen("GET", "/api/v1/videos")) == 2  # page 2 is all older: page 3 unread
