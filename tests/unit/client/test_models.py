"""client/models.py: the status enum, the answers read tolerantly and given back unchanged, and the
create requests that validate once and know their wire form."""

from __future__ import annotations

import ast
import dataclasses
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import airflow_provider_dmjy
from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client import validation as v
from airflow_provider_dmjy.client.models import (
    Account,
    CreateTemplateRequest,
    CreateVideoRequest,
    Page,
    Template,
    Video,
    VideoStatus,
)
from airflow_provider_dmjy.exceptions import DmjyInvalidResponseError, DmjyValidationError

IMG = "https://example.com/a.jpg"
#: GET /videos/{id} as the simulator answers it (a None field and all).
DETAIL = {
    "id": "task_8ebb0d49091c",
    "userId": "user_sim",
    "title": "保温杯 [af-0123456789ab]",
    "imageUrl": IMG,
    "description": "展示智能保温杯",
    "duration": 10,
    "aspectRatio": "9:16",
    "status": "completed",
    "progress": 100,
    "videoUrl": "https://cdn.example.com/v.mp4",
    "thumbnailUrl": "https://cdn.example.com/v.jpg",
    "productName": None,
    "errorMessage": None,
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-01T00:01:00Z",
}


# -- VideoStatus ---------------------------------------------------------------------------------------


def test_status_groups() -> None:
    assert {VideoStatus.PENDING, VideoStatus.PROCESSING} == VideoStatus.ACTIVE
    assert {VideoStatus.COMPLETED, VideoStatus.FAILED} == VideoStatus.TERMINAL
    assert set(VideoStatus) == VideoStatus.ACTIVE | VideoStatus.TERMINAL
    assert len(VideoStatus) == 4  # the groups are not members


@pytest.mark.parametrize(
    ("value", "terminal"), [("pending", False), ("processing", False), ("completed", True), ("failed", True)]
)
def test_is_terminal_and_is_active_take_raw_strings(value: str, terminal: bool) -> None:
    assert VideoStatus.is_terminal(value) is terminal
    assert VideoStatus.is_active(value) is not terminal
    assert VideoStatus.is_terminal(VideoStatus(value)) is terminal


@pytest.mark.parametrize("value", ["done", "COMPLETED", "", " completed", None, 1])
def test_unknown_statuses_are_refused(value: Any) -> None:
    for ask in (VideoStatus.is_terminal, VideoStatus.is_active, VideoStatus.check):
        with pytest.raises(
            DmjyValidationError, match="must be one of pending, processing, completed, failed"
        ):
            ask(value)


def test_a_status_is_its_string() -> None:
    assert VideoStatus.COMPLETED == "completed" and "completed" in VideoStatus.TERMINAL
    assert str(VideoStatus.COMPLETED) == f"{VideoStatus.COMPLETED}" == "completed"
    assert calls.list_videos(1, 20, VideoStatus.FAILED).params == {"page": 1, "limit": 20, "status": "failed"}


def test_no_status_literal_outside_video_status() -> None:
    """Every module asks VideoStatus; the simulator (which must not import the provider) and the
    example DAGs (DAG-folder files shipped in the package, not modules of it) are exempt."""
    package = Path(airflow_provider_dmjy.__file__).parent
    statuses = {status.value for status in VideoStatus}
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith(("simulator/", "example_dags/")) or relative == "client/models.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        found += [
            f"{relative}:{node.lineno} {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in statuses and id(node) not in docstrings
        ]
    assert found == []


# -- answers -------------------------------------------------------------------------------------------


def test_video_reads_the_vendor_fields() -> None:
    video = Video.from_api(DETAIL)
    assert video.id == "task_8ebb0d49091c"
    assert video.status is VideoStatus.COMPLETED
    assert (video.progress, video.duration, video.aspect_ratio) == (100, 10, "9:16")
    assert video.video_url == "https://cdn.example.com/v.mp4" and video.error_message is None
    assert video.has_marker("af-0123456789ab") and not video.has_marker("af-other")


def test_to_dict_gives_back_what_the_hook_returned() -> None:
    assert Video.from_api(DETAIL).to_dict() == DETAIL
    summary = {"id": "v1", "status": "pending", "progress": 0, "extra": {"nested": [1]}}
    assert Video.from_api(summary).to_dict() == summary


def test_odd_fields_read_as_none_and_stay_in_to_dict() -> None:
    odd = {"id": "v1", "status": "queued", "progress": "50", "duration": 1.5, "title": 7, "videoUrl": None}
    video = Video.from_api(odd)
    assert video.status is None and video.progress is None and video.duration is None
    assert video.title is None and video.video_url is None
    assert video.to_dict() == odd
    assert Video.from_api({"id": "v1", "progress": float("nan")}).progress is None


def test_a_video_made_in_code_gives_plain_vendor_fields() -> None:
    data = Video(id="v1", status=VideoStatus.FAILED, error_message="bad image").to_dict()
    assert data == {"id": "v1", "status": "failed", "errorMessage": "bad image"}
    assert type(data["status"]) is str  # JSON and XCom see a plain string


@pytest.mark.parametrize("data", [None, [], "task_1", 5, {"status": "completed"}, {"id": ""}, {"id": True}])
def test_an_answer_that_is_not_an_addressable_object_is_invalid(data: Any) -> None:
    for kind in (Video, Template):
        with pytest.raises(DmjyInvalidResponseError):
            kind.from_api(data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(["id", "status", "progress", "title", "videoUrl", "duration", "createdAt", "x"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(FIELDS, JSON | st.sampled_from([s.value for s in VideoStatus])) | JSON)
def test_from_api_never_raises_anything_else_and_keeps_every_field(data: Any) -> None:
    try:
        video = Video.from_api(data)
    except DmjyInvalidResponseError:
        assert not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]
        return
    assert video.to_dict() == {**data, "id": video.id}


def test_values_are_frozen_hashable_and_picklable() -> None:
    video = Video.from_api(DETAIL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        video.status = VideoStatus.FAILED  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(video)) == video  # noqa: S301 - our own bytes
    assert hash(video) == hash(Video.from_api(dict(DETAIL)))


def test_template_and_account() -> None:
    template = {
        "id": "tpl_1",
        "userId": "u1",
        "name": "模板",
        "price": "99.00",
        "createdAt": "2026-01-01T00:00:00Z",
    }
    assert Template.from_api(template).name == "模板"
    assert Template.from_api(template).to_dict() == template
    account = {"userId": "u1", "balance": 1200, "plan": "pro", "isLowBalance": False, "usage": {"today": 3}}
    read = Account.from_api(account)  # an account has no id
    assert (read.balance, read.plan, read.is_low_balance) == (1200, "pro", False)
    assert read.to_dict() == account
    with pytest.raises(DmjyInvalidResponseError):
        Account.from_api("not an object")


def test_page_keeps_the_addressable_items() -> None:
    data = {
        "tasks": [DETAIL, {"title": "no id"}, "junk", {"id": "v2", "status": "pending"}],
        "pagination": {"total": 4, "page": 1, "limit": 20, "totalPages": 1},
    }
    page = Page.from_api(data, "tasks", Video)
    assert [video.id for video in page.items] == ["task_8ebb0d49091c", "v2"]
    assert page.total_pages == 1
    assert page.to_dict() == {**data, "tasks": [DETAIL, {"id": "v2", "status": "pending"}]}
    assert Page.from_api({"tasks": None, "pagination": {"totalPages": "x"}}, "tasks", Video).items == ()
    assert Page.from_api({}, "templates", Template).total_pages is None


# -- requests ------------------------------------------------------------------------------------------


def test_video_request_wire_form() -> None:
    request = CreateVideoRequest(
        description="d",
        image_urls=[IMG, "http://example.com/b.png "],
        duration="15",
        aspect_ratio="16:9",
        callback_url="https://hooks.example.com/x",
    )
    assert request.image_urls == (IMG, "http://example.com/b.png") and request.duration == 15
    assert request.to_wire() == {
        "description": "d",
        "imageUrls": [IMG, "http://example.com/b.png"],
        "duration": 15,
        "aspectRatio": "16:9",
        "callbackUrl": "https://hooks.example.com/x",
    }
    assert calls.create_video(request).json == request.to_wire()


def test_a_request_is_checked_when_made_and_cannot_be_changed_after() -> None:
    with pytest.raises(DmjyValidationError, match="between 1 and 60") as info:
        CreateVideoRequest(description="d", image_url=IMG, duration=61)
    assert info.value.argument == "duration" and info.value.field == "duration"
    request = CreateVideoRequest(description="d", image_url=IMG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.duration = 999  # type: ignore[misc]


def test_with_marker_puts_the_marker_in_the_title_and_checks_only_the_title(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request = CreateVideoRequest(description="  展示   智能保温杯 " + "x" * 60, image_url=IMG, duration=5)
    monkeypatch.setattr(v, "check_duration", lambda value: pytest.fail("checked again"))
    marked = request.with_marker("af-0123456789ab")
    assert marked.title == f"展示 智能保温杯 {'x' * 31} [af-0123456789ab]"  # the description's first 40
    assert request.title is None  # the original is unchanged
    assert Video(id="v", title=marked.title).has_marker("af-0123456789ab")
    titled = CreateVideoRequest(description="d", image_url=IMG, title="保温杯").with_marker("af-1")
    assert titled.to_wire() == {"description": "d", "imageUrl": IMG, "title": "保温杯 [af-1]"}
    # The tags are never cut: a long caller title is shortened to make room for them.
    long_title = CreateVideoRequest(description="d", image_url=IMG, title="t" * v.MAX_NAME_LENGTH)
    for marked_long in (long_title.with_marker("af-1"), long_title.with_marker("af-1", fingerprint=True)):
        assert marked_long.title is not None and len(marked_long.title) == v.MAX_NAME_LENGTH
        assert marked_long.title.startswith("t" * 100) and "… [af-1]" in marked_long.title
        assert Video(id="v", title=marked_long.title).has_marker("af-1")
    fingerprinted = long_title.with_marker("af-1", fingerprint=True).title
    assert Video(id="v", title=fingerprinted).has_fingerprint(long_title.fingerprint())


def test_with_marker_adds_the_fingerprint_of_the_callers_request() -> None:
    request = CreateVideoRequest(description="d", image_url=IMG, title="保温杯")
    marked = request.with_marker("af-1", fingerprint=True)
    assert marked.title == f"保温杯 [af-1] [fp-{request.fingerprint()}]"
    video = Video(id="v", title=marked.title)
    assert video.has_marker("af-1") and video.has_fingerprint(request.fingerprint())
    assert not video.has_fingerprint(request.fingerprint()[:15])  # the whole tag, not a prefix


def test_only_the_tags_with_marker_puts_last_count() -> None:
    # A tag elsewhere in the title (typed by hand, pasted from another video) claims nothing.
    request = CreateVideoRequest(description="d", image_url=IMG, title="保温杯")
    fp, other = request.fingerprint(), "0" * 16
    mine = request.with_marker("af-1", fingerprint=True).title
    assert Video(id="v", title=mine).has_fingerprint(fp) and Video(id="v", title=mine).has_marker("af-1")
    for title in (
        f"cup [fp-{fp}]",  # no marker before it: not the provider's layout
        f"cup [fp-{fp}] [af-2] [fp-{other}]",  # ours, but not last
        f"cup [af-2] [fp-{fp}] ",  # something after it
        f"cup [af-2] [fp-{fp}] [fp-{other}]",
    ):
        assert not Video(id="v", title=title).has_fingerprint(fp), title
    for title in ("cup [af-1] [af-2]", f"cup [af-1] [fp-{fp}] x", "cup [af-1]x", "[af-1] cup [af-2]"):
        assert not Video(id="v", title=title).has_marker("af-1"), title
    assert Video(id="v", title="[af-1]").has_marker("af-1")  # a title that is only the tag


@pytest.mark.parametrize(
    "title", ["cup [fp-0123456789abcdef]", "[af-0123456789ab] cup", "cup [FP-x]", "[Af-"]
)
def test_a_callers_title_may_not_carry_the_providers_tags(title: str) -> None:
    with pytest.raises(DmjyValidationError, match=r"must not contain '\[fp-' or '\[af-'") as info:
        CreateVideoRequest(description="d", image_url=IMG, title=title)
    assert (info.value.field, info.value.argument) == ("title", "title")
    # Brackets of other kinds stay allowed.
    assert (
        CreateVideoRequest(description="d", image_url=IMG, title="cup [new] [fp]").title == "cup [new] [fp]"
    )


_BASE: dict[str, Any] = {
    "description": "展示智能保温杯",
    "image_url": IMG,
    "duration": 10,
    "aspect_ratio": "9:16",
}


def test_fingerprint_is_16_hex_and_stable() -> None:
    first = CreateVideoRequest(**_BASE).fingerprint()
    assert len(first) == 16 and int(first, 16) >= 0
    assert CreateVideoRequest(**_BASE).fingerprint() == first
    # The checked values count: rendered digits and the URL's stray spaces are the same request.
    assert CreateVideoRequest(**{**_BASE, "duration": "10", "image_url": f" {IMG} "}).fingerprint() == first
    # Where the vendor is told to call back does not change the video.
    assert CreateVideoRequest(**_BASE, callback_url="https://hooks.example.com/x").fingerprint() == first


@pytest.mark.parametrize(
    "change",
    [
        {"description": "展示智能保温杯 "},  # not normalised: the vendor renders what it is sent
        {"image_url": "https://example.com/b.jpg"},
        {"image_url": None, "image_urls": [IMG]},  # one image as a list: kept apart
        {"duration": 11},
        {"duration": None},  # the vendor's default, kept apart from its value
        {"aspect_ratio": "16:9"},
        {"aspect_ratio": None},
        {"title": "保温杯"},
    ],
)
def test_fingerprint_covers_what_is_rendered(change: dict[str, Any]) -> None:
    assert (
        CreateVideoRequest(**{**_BASE, **change}).fingerprint() != CreateVideoRequest(**_BASE).fingerprint()
    )


def test_fingerprint_keeps_the_order_of_the_images() -> None:
    urls = [IMG, "https://example.com/b.jpg"]
    one = CreateVideoRequest(description="d", image_urls=urls).fingerprint()
    assert CreateVideoRequest(description="d", image_urls=urls[::-1]).fingerprint() != one


def test_template_request_wire_form() -> None:
    request = CreateTemplateRequest(user_id="u1", name="模板", price=12.5, image_url=f" {IMG}")
    assert request.to_wire() == {"userId": "u1", "name": "模板", "imageUrl": IMG, "price": "12.50"}
    assert calls.create_template(request).json == request.to_wire()
    with pytest.raises(DmjyValidationError, match="is required") as info:
        CreateTemplateRequest(user_id=None, name="n")  # type: ignore[arg-type]
    assert info.value.argument == "user_id"
