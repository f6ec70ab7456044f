"""Client-side validation: each bad input names the field and the value; good input maps to vendor names."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_dmjy.client.validation import (
    build_create_template_body,
    build_create_video_body,
    check_page,
    check_video_status,
    resource_path,
)
from airflow_provider_dmjy.exceptions import DmjyValidationError

IMG = "https://example.com/a.jpg"


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


@pytest.mark.parametrize(("price", "expected"), [(99, "99.00"), (12.5, "12.50"), (" 8.8 ", "8.8")])
def test_template_price_numbers_become_strings(price: Any, expected: str) -> None:
    assert build_create_template_body("u", "n", price=price)["price"] == expected


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"user_id": None, "name": "n"}, "userId"),
        ({"user_id": "u", "name": ""}, "name"),
        ({"user_id": "u", "name": "n", "price": True}, "price"),
        ({"user_id": "u", "name": "n", "price": float("nan")}, "price"),
        ({"user_id": "u", "name": "n", "image_url": "x"}, "imageUrl"),
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
    assert check_video_status("completed") == "completed"
    assert check_video_status(None) is None
    with pytest.raises(DmjyValidationError, match="status"):
        check_video_status("done")


def test_resource_ids_cannot_escape_the_path() -> None:
    assert resource_path("videos", "video_id", "task_1") == "/videos/task_1"
    assert resource_path("videos", "video_id", "../account") == "/videos/..%2Faccount"
    with pytest.raises(DmjyValidationError, match="video_id"):
        resource_path("videos", "video_id", "")
