"""Client-side validation: a request that cannot succeed is refused before it is sent.

Each builder returns the JSON body with the vendor's field names, or raises
:class:`~airflow_provider_dmjy.exceptions.DmjyValidationError` naming the field and the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = [
    "ASPECT_RATIOS",
    "MAX_DURATION_SECONDS",
    "MAX_IMAGE_URLS",
    "MAX_PAGE_SIZE",
    "VIDEO_STATUSES",
    "build_create_template_body",
    "build_create_video_body",
    "check_page",
    "check_resource_id",
    "check_video_status",
    "resource_path",
]

ASPECT_RATIOS = ("9:16", "16:9")
VIDEO_STATUSES = ("pending", "processing", "completed", "failed")
#: Decision: the vendor gives no bounds; a product clip of more than a minute is almost surely a typo.
MAX_DURATION_SECONDS = 60
#: Decision: images are merged into one grid image; nine makes a 3x3 grid.
MAX_IMAGE_URLS = 9
MAX_PAGE_SIZE = 100


def _fail(field: str, argument: str, value: Any, reason: str) -> DmjyValidationError:
    return DmjyValidationError(field, value, reason, argument=argument)


def _text(field: str, argument: str, value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise _fail(field, argument, value, "is required")
        return None
    if not isinstance(value, str):
        raise _fail(field, argument, value, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise _fail(field, argument, value, "must not be empty")
    return value


def _http_url(field: str, argument: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(field, argument, value, f"must be an http(s) URL string, not {type(value).__name__}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(field, argument, value, "must be an http:// or https:// URL")
    return value.strip()


def build_create_video_body(
    description: Any,
    image_url: Any = None,
    image_urls: Any = None,
    duration: Any = None,
    aspect_ratio: Any = None,
    title: Any = None,
    callback_url: Any = None,
) -> dict[str, Any]:
    """The body of ``POST /videos``; exactly one of ``image_url`` and ``image_urls`` is required."""
    body: dict[str, Any] = {"description": _text("description", "description", description, required=True)}
    if image_url is not None and image_urls is not None:
        raise _fail("imageUrls", "image_urls", image_urls, "give image_url or image_urls, not both")
    if image_url is not None:
        body["imageUrl"] = _http_url("imageUrl", "image_url", image_url)
    elif image_urls is not None:
        if isinstance(image_urls, str) or not isinstance(image_urls, Sequence):
            raise _fail("imageUrls", "image_urls", image_urls, "must be a list of http(s) URLs")
        if not image_urls:
            raise _fail("imageUrls", "image_urls", image_urls, "must not be empty")
        if len(image_urls) > MAX_IMAGE_URLS:
            raise _fail("imageUrls", "image_urls", image_urls, f"at most {MAX_IMAGE_URLS} images")
        body["imageUrls"] = [_http_url(f"imageUrls[{i}]", "image_urls", u) for i, u in enumerate(image_urls)]
    else:
        raise _fail(
            "imageUrl", "image_url", None, "give image_url or image_urls (a product image is required)"
        )
    if duration is not None:
        if isinstance(duration, str) and duration.strip().isdigit():
            duration = int(duration)  # a rendered template field arrives as text
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise _fail("duration", "duration", duration, "must be a whole number of seconds")
        if not 1 <= duration <= MAX_DURATION_SECONDS:
            raise _fail(
                "duration", "duration", duration, f"must be between 1 and {MAX_DURATION_SECONDS} seconds"
            )
        body["duration"] = duration
    if aspect_ratio is not None:
        if aspect_ratio not in ASPECT_RATIOS:
            raise _fail(
                "aspectRatio", "aspect_ratio", aspect_ratio, f"must be one of {', '.join(ASPECT_RATIOS)}"
            )
        body["aspectRatio"] = aspect_ratio
    if title is not None:
        body["title"] = _text("title", "title", title, required=False)
    if callback_url is not None:
        body["callbackUrl"] = _http_url("callbackUrl", "callback_url", callback_url)
    return body


def _price(value: Any) -> str:
    if isinstance(value, str):
        if not value.strip():
            raise _fail("price", "price", value, "must not be empty")
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _fail("price", "price", value, "must be a string such as '99.00' or a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _fail("price", "price", value, "must be a finite number") from None
    if not amount.is_finite():
        raise _fail("price", "price", value, "must be a finite number")
    # The vendor takes the price as a string; a number from a CSV or JSON catalog is formatted for it.
    return f"{amount:.2f}"


def build_create_template_body(
    user_id: Any,
    name: Any,
    image_url: Any = None,
    description: Any = None,
    product_name: Any = None,
    price: Any = None,
) -> dict[str, Any]:
    """The body of ``POST /templates``."""
    body: dict[str, Any] = {
        "userId": _text("userId", "user_id", user_id, required=True),
        "name": _text("name", "name", name, required=True),
    }
    if image_url is not None:
        body["imageUrl"] = _http_url("imageUrl", "image_url", image_url)
    if description is not None:
        body["description"] = _text("description", "description", description, required=False)
    if product_name is not None:
        body["productName"] = _text("productName", "product_name", product_name, required=False)
    if price is not None:
        body["price"] = _price(price)
    return body


def check_page(page: Any, limit: Any) -> dict[str, int]:
    """Query parameters for a list call: ``page`` >= 1 and ``limit`` 1..100."""
    for field, value in (("page", page), ("limit", limit)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(field, field, value, "must be a whole number")
    if page < 1:
        raise _fail("page", "page", page, "must be 1 or more")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise _fail("limit", "limit", limit, f"must be between 1 and {MAX_PAGE_SIZE}")
    return {"page": page, "limit": limit}


def check_video_status(status: Any) -> str | None:
    """A status filter: None or one of the four task states."""
    if status is not None and status not in VIDEO_STATUSES:
        raise _fail("status", "status", status, f"must be one of {', '.join(VIDEO_STATUSES)}")
    return status  # type: ignore[no-any-return]


def check_resource_id(argument: str, value: Any) -> str:
    """A video or template id: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(argument, argument, value, "must be a non-empty id string")
    return value.strip()


def resource_path(collection: str, argument: str, resource_id: Any) -> str:
    """``/<collection>/<id>`` with the id checked and percent-encoded (an id can never add a path)."""
    return f"/{collection}/{quote(check_resource_id(argument, resource_id), safe='')}"
