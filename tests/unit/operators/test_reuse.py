"""operators/reuse.py: what ``reuse`` and ``reuse_within`` accept, before any request, and what a
found video's answer must show to be reused (answers the simulator never gives)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from airflow_provider_dmjy.client.models import CreateVideoRequest
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.operators.reuse import check_reuse, reusable_video, reuse_cutoff, reuse_since

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.timedelta(days=1), NOW - 86400),
        (3600, NOW - 3600),
        (0.5, NOW - 0.5),
        ("86400", NOW - 86400),  # a rendered template's digits: seconds
        (" 60 ", NOW - 60),
        ("2027-01-15T00:00:00Z", dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc).timestamp()),
        ("2027-01-15T08:00:00+08:00", dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc).timestamp()),
        (
            dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc),
            dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc).timestamp(),
        ),
    ],
)
def test_reuse_within_accepts_a_window_or_an_instant(value: Any, expected: float) -> None:
    assert reuse_cutoff(value, now=NOW) == expected


@pytest.mark.parametrize(
    "value",
    [
        -1,
        "-5",
        dt.timedelta(seconds=-1),
        float("inf"),
        float("nan"),
        "nan",
        True,
        None,
        "",
        "yesterday",
        "2027-01-15T00:00:00",
        dt.datetime(2027, 1, 15),
        [60],
    ],
)
def test_reuse_within_refuses_anything_else(value: Any) -> None:
    with pytest.raises(DmjyValidationError) as info:
        reuse_cutoff(value, now=NOW)
    assert info.value.field == "reuse_within"


def test_reuse_never_means_no_cut_off_and_no_search() -> None:
    assert reuse_since("never", dt.timedelta(days=1), now=NOW) is None
    assert reuse_since("completed", 60, now=NOW) == NOW - 60
    with pytest.raises(DmjyValidationError):
        reuse_since("never", "garbage")  # still checked: bad input is refused whatever the mode
    with pytest.raises(DmjyValidationError):
        check_reuse("Completed")


IMG, OTHER = "https://example.com/cup.jpg", "https://example.com/other.jpg"
REQUEST = CreateVideoRequest(description="展示智能保温杯", image_url=IMG, duration=5, aspect_ratio="9:16")
#: GET /videos/{id} of a video that agrees with REQUEST in every field the vendor shows.
SHOWN = {
    "id": "v1",
    "status": "completed",
    "videoUrl": "https://cdn.example.com/v1.mp4",
    "description": "展示智能保温杯",
    "imageUrl": IMG,
    "duration": 5,
    "aspectRatio": "9:16",
}


class _Answers:
    """The two reads ``reusable_video`` makes: the search's list item and the fresh GET."""

    def __init__(self, detail: dict[str, Any]) -> None:
        self.detail = detail

    def find_reusable_video(self, fingerprint: str, since: float, *, max_pages: int) -> dict[str, Any]:
        return {
            key: self.detail[key] for key in ("id", "status", "duration", "aspectRatio") if key in self.detail
        }

    def get_video(self, video_id: str) -> dict[str, Any]:
        return self.detail


def _reused(detail: dict[str, Any], request: CreateVideoRequest = REQUEST) -> bool:
    log = logging.getLogger("test")
    return reusable_video(_Answers(detail), request, 0.0, max_pages=1, log=log) is not None  # type: ignore[arg-type]


def test_a_video_is_reused_only_when_its_answer_agrees() -> None:
    assert _reused(SHOWN)
    assert _reused({key: value for key, value in SHOWN.items() if key != "imageUrl"})  # not shown


@pytest.mark.parametrize(
    "change",
    [
        {"description": None},  # an answer without a description proves nothing
        {"description": 5},
        {"imageUrl": OTHER},
        {"imageUrls": [OTHER]},
        {"imageUrls": [IMG, OTHER]},
    ],
)
def test_a_video_whose_answer_shows_no_or_another_content_is_not_reused(change: dict[str, Any]) -> None:
    detail = {**SHOWN, **change}
    if change.get("description") is None and "description" in change:
        del detail["description"]
    assert not _reused(detail)


def test_the_images_of_a_request_with_several_are_compared_as_a_list() -> None:
    several = CreateVideoRequest(description="展示智能保温杯", image_urls=[IMG, OTHER], duration=5)
    assert _reused({**SHOWN, "imageUrls": [IMG, OTHER]}, several)
    assert _reused(SHOWN, several)  # imageUrl: the first of the merged set, as the simulator shows
    assert not _reused({**SHOWN, "imageUrls": [OTHER, IMG]}, several)
    assert not _reused({**SHOWN, "imageUrl": "https://example.com/third.jpg"}, several)
