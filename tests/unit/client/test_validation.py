"""Client-side validation: each bad input names the field and the value; good input maps to vendor names.

The create bodies are the request objects' wire form (``CreateVideoRequest``, ``CreateTemplateRequest``),
which run these rules once, when they are made.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client.models import CreateTemplateRequest, CreateVideoRequest, VideoStatus
from airflow_provider_dmjy.client.validation import (
    MAX_DESCRIPTION_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    check_page,
    check_resource_id,
    check_user_id,
    resource_path,
)
from airflow_provider_dmjy.exceptions import DmjyValidationError

IMG = "https://example.com/a.jpg"


def build_create_video_body(description: Any, **kwargs: Any) -> dict[str, Any]:
    return CreateVideoRequest(description=description, **kwargs).to_wire()


def build_create_template_body(user_id: Any, name: Any, **kwargs: Any) -> dict[str, Any]:
    return CreateTemplateRequest(user_id=user_id, name=name, **kwargs).to_wire()


def test_minimal_video_body() -> None:
    assert build_create_video_body("智能保温杯", image_url=IMG) == {
        "description": "智能保温杯",
        "imageUrl": IMG,
    }


def test_full_video_body_uses_vendor_names() -> None:
    body = build_create_video_body(
        "d",
        image_urls=[IMG, "http://example.com/b.png"],
        duration=15,
        aspect_ratio="16:9",
        title="t",
        callback_url="https://hooks.example.com/x",
    )
    assert body == {
        "description": "d",
        "imageUrls": [IMG, "http://example.com/b.png"],
        "duration": 15,
        "aspectRatio": "16:9",
        "title": "t",
        "callbackUrl": "https://hooks.example.com/x",
    }


def test_duration_from_rendered_template_text() -> None:
    assert build_create_video_body("d", image_url=IMG, duration="15")["duration"] == 15
    assert build_create_video_body("d", image_url=IMG, duration=" 15 ")["duration"] == 15


def test_longest_accepted_texts() -> None:
    body = build_create_video_body("d" * MAX_DESCRIPTION_LENGTH, image_url=IMG, title="t" * MAX_NAME_LENGTH)
    assert len(body["description"]) == MAX_DESCRIPTION_LENGTH
    assert len(body["title"]) == MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"description": None, "image_url": IMG}, "description", "required"),
        ({"description": "  ", "image_url": IMG}, "description", "empty"),
        ({"description": 5, "image_url": IMG}, "description", "string"),
        ({"description": "d"}, "imageUrl", "image_url or image_urls"),
        ({"description": "d", "image_url": IMG, "image_urls": [IMG]}, "imageUrls", "not both"),
        ({"description": "d", "image_url": "ftp://x/y.jpg"}, "imageUrl", "http"),
        ({"description": "d", "image_url": "example.com/a.jpg"}, "imageUrl", "http"),
        ({"description": "d", "image_urls": []}, "imageUrls", "empty"),
        ({"description": "d", "image_urls": IMG}, "imageUrls", "list"),
        ({"description": "d", "image_urls": [IMG, "nope"]}, "imageUrls[1]", "http"),
        ({"description": "d", "image_urls": [IMG] * 10}, "imageUrls", "at most 9"),
        ({"description": "d", "image_url": IMG, "duration": 0}, "duration", "between 1 and 60"),
        ({"description": "d", "image_url": IMG, "duration": 61}, "duration", "between 1 and 60"),
        ({"description": "d", "image_url": IMG, "duration": 10.5}, "duration", "whole number"),
        ({"description": "d", "image_url": IMG, "duration": True}, "duration", "whole number"),
        # str.isdigit() is True for these: "²" made int() raise a raw ValueError, "١٥" passed as 15.
        ({"description": "d", "image_url": IMG, "duration": "²"}, "duration", "whole number"),
        ({"description": "d", "image_url": IMG, "duration": "١٥"}, "duration", "whole number"),
        ({"description": "d", "image_url": IMG, "duration": "15.0"}, "duration", "whole number"),
        ({"description": "d", "image_url": IMG, "duration": "9" * 5000}, "duration", "whole number"),
        ({"description": "d", "image_url": "http://[::1/a.jpg"}, "imageUrl", "not a valid URL"),
        ({"description": "d", "image_url": "http://example.com:port/a.jpg"}, "imageUrl", "not a valid URL"),
        ({"description": "d", "image_url": "http://:80/a.jpg"}, "imageUrl", "http"),
        ({"description": "d", "image_url": "https://e.com/" + "a" * 2048}, "imageUrl", "at most 2,048"),
        ({"description": "d", "image_urls": [IMG, "http://[::1/b.jpg"]}, "imageUrls[1]", "not a valid URL"),
        (
            {"description": "d" * (MAX_DESCRIPTION_LENGTH + 1), "image_url": IMG},
            "description",
            "at most 5,000",
        ),
        ({"description": "d", "image_url": IMG, "title": "t" * 201}, "title", "at most 200"),
        ({"description": "d", "image_url": IMG, "aspect_ratio": "4:3"}, "aspectRatio", "9:16, 16:9"),
        ({"description": "d", "image_url": IMG, "title": ""}, "title", "empty"),
        ({"description": "d", "image_url": IMG, "callback_url": "not-a-url"}, "callbackUrl", "http"),
    ],
)
def test_bad_video_input_names_field_and_value(kwargs: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(DmjyValidationError) as info:
        build_create_video_body(**kwargs)
    assert info.value.field == field
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_message_shows_argument_vendor_field_and_value() -> None:
    with pytest.raises(DmjyValidationError, match=r"aspect_ratio \(aspectRatio\)='4:3'"):
        build_create_video_body("d", image_url=IMG, aspect_ratio="4:3")


def test_template_body() -> None:
    assert build_create_template_body("u1", "模板", price="99.00", product_name="杯") == {
        "userId": "u1",
        "name": "模板",
        "productName": "杯",
        "price": "99.00",
    }


@pytest.mark.parametrize(
    ("price", "expected"),
    [(99, "99.00"), (12.5, "12.50"), (" 8.8 ", "8.8"), ("0", "0"), ("99999999.99", "99999999.99")],
)
def test_template_price_numbers_become_strings(price: Any, expected: str) -> None:
    assert build_create_template_body("u", "n", price=price)["price"] == expected


@pytest.mark.parametrize(
    "price",
    [
        "abc",
        "-5",
        "NaN",
        "1e309",
        "inf",
        "+5",
        "1.234",
        ".5",
        "5.",
        "١٥",
        "",
        "100000000",
        -1,
        1.234,
        1e309,
        1e8,
    ],
)
def test_template_price_is_a_plain_non_negative_amount(price: Any) -> None:
    with pytest.raises(DmjyValidationError, match="two decimals") as info:
        build_create_template_body("u", "n", price=price)
    assert info.value.field == "price"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_id": None, "name": "n"}, "userId"),
        ({"user_id": "u", "name": ""}, "name"),
        ({"user_id": "u", "name": "n", "price": True}, "price"),
        ({"user_id": "u", "name": "n", "price": float("nan")}, "price"),
        ({"user_id": "u", "name": "n", "image_url": "x"}, "imageUrl"),
        ({"user_id": "u", "name": "n" * 201}, "name"),
        ({"user_id": "u", "name": "n", "product_name": "p" * 201}, "productName"),
        ({"user_id": "u", "name": "n", "description": "d" * 5001}, "description"),
        ({"user_id": "u\n", "name": "n"}, "userId"),
        ({"user_id": "u" * 201, "name": "n"}, "userId"),
    ],
)
def test_bad_template_input(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(DmjyValidationError) as info:
        build_create_template_body(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("page", "limit", "field"), [(0, 20, "page"), (1, 0, "limit"), (1, 101, "limit"), ("1", 5, "page")]
)
def test_bad_pages(page: Any, limit: Any, field: str) -> None:
    with pytest.raises(DmjyValidationError) as info:
        check_page(page, limit)
    assert info.value.field == field


def test_status_filter() -> None:
    assert VideoStatus.check("completed") is VideoStatus.COMPLETED
    with pytest.raises(DmjyValidationError, match="status"):
        VideoStatus.check("done")
    assert calls.list_videos(1, 20, None).params == {"page": 1, "limit": 20}  # no filter
    assert calls.list_videos(1, 20, "completed").params == {"page": 1, "limit": 20, "status": "completed"}
    with pytest.raises(DmjyValidationError, match="status"):
        calls.list_videos(1, 20, "done")


@pytest.mark.parametrize(
    "video_id", ["task_8ebb0d49091c", "tpl_1", "a", "-", "A-b_c.d", "v1.2.3", "x" * MAX_ID_LENGTH]
)
def test_good_ids_are_kept_exactly(video_id: str) -> None:
    assert check_resource_id("video_id", video_id) == video_id
    assert resource_path("videos", "video_id", video_id) == f"/videos/{video_id}"


@pytest.mark.parametrize(
    "video_id",
    [
        "",
        ".",
        "..",
        "...",
        " .. ",
        " task_1",
        "task_1 ",
        "task_1\n",
        "../account",
        "a/b",
        "a\\b",
        "%2e%2e",
        "..%2F",
        "a%20b",
        ".hidden",
        "trailing.",
        "a..b",
        "a?b",
        "a#b",
        "a;b",
        "tâche",
        "١٥",
        "x" * (MAX_ID_LENGTH + 1),
        None,
        5,
        b"task_1",
    ],
)
def test_ids_that_are_not_one_safe_segment_are_refused(video_id: Any) -> None:
    with pytest.raises(DmjyValidationError, match="video_id") as info:
        resource_path("videos", "video_id", video_id)
    assert info.value.field == "video_id"


def test_user_ids_are_looser_than_path_ids() -> None:
    assert check_user_id("someone@example.com") == "someone@example.com"
    with pytest.raises(DmjyValidationError, match="control characters"):
        check_user_id("u1\t")
