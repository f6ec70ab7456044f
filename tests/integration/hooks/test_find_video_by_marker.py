"""DmjyHook.find_video_by_marker against the simulator: what it finds, where it stops."""

from __future__ import annotations

import time

import pytest

from airflow_provider_dmjy.client.models import CreateVideoRequest, parse_vendor_time
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

IMG = "https://example.com/cup.jpg"


def create(hook: DmjyHook, marker: str) -> str:
    """A video titled ``cup [<marker>]``, as the create operator marks one (a caller's title may
    not carry a tag)."""
    request = CreateVideoRequest(description="展示智能保温杯", image_url=IMG, duration=5, title="cup")
    return str(hook.create_video_from(request.with_marker(marker))["id"])


def test_finds_the_newest_usable_video_with_the_marker(dmjy_conn: SimulatorHandle, hook: DmjyHook) -> None:
    usable = create(hook, "af-1")
    failed = create(hook, "af-1")
    dmjy_conn.fail(failed, "bad image")
    create(hook, "af-10")  # another marker that merely starts alike
    create(hook, "af-2")
    found = hook.find_video_by_marker("af-1", time.time() - 600)
    assert found is not None and found["id"] == usable
    assert hook.find_video_by_marker("af-3", None) is None


def test_stops_at_the_cut_off(dmjy_conn: SimulatorHandle, hook: DmjyHook) -> None:
    create(hook, "af-2")
    assert hook.find_video_by_marker("af-1", time.time() + 3600) is None
    assert dmjy_conn.state()["requests"]["GET /api/v1/videos"] == 1  # a whole page older: done


def test_a_marked_video_counts_even_when_dated_before_the_cut_off(
    dmjy_conn: SimulatorHandle, hook: DmjyHook
) -> None:
    # The marker names the task instance: whatever its date says, that video was paid for by it.
    video_id = create(hook, "af-1")
    found = hook.find_video_by_marker("af-1", time.time() + 3600)
    assert found is not None and found["id"] == video_id


def test_the_cut_off_follows_the_server_clock(dmjy_conn: SimulatorHandle, hook: DmjyHook) -> None:
    dmjy_conn.configure(clock_offset_seconds=-900)  # createdAt is 15 minutes behind this machine
    video_id = create(hook, "af-1")
    found = hook.find_video_by_marker("af-1", time.time() - 600)
    assert found is not None and found["id"] == video_id


@pytest.mark.parametrize("max_pages", [0, -1, 1.5, True])
def test_max_pages_is_checked_before_any_request(
    dmjy_conn: SimulatorHandle, hook: DmjyHook, max_pages: object
) -> None:
    with pytest.raises(DmjyValidationError):
        hook.find_video_by_marker("af-1", None, max_pages=max_pages)  # type: ignore[arg-type]
    assert dmjy_conn.state()["requests"] == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02T03:04:05Z", 1767323045.0),
        ("2026-01-02T03:04:05+00:00", 1767323045.0),
        ("2026-01-02T04:04:05+01:00", 1767323045.0),
        ("2026-01-02T03:04:05", 1767323045.0),  # no zone: UTC, never the machine's local time
        ("yesterday", None),
        ("", None),
        (None, None),
        (1767323045, None),
    ],
)
def test_parse_vendor_time(value: object, expected: float | None) -> None:
    assert parse_vendor_time(value) == expected
