"""Client-side validation: a request that cannot succeed is refused before it is sent.

Each builder returns the JSON body with the vendor's field names, or raises
:class:`~airflow_provider_dmjy.exceptions.DmjyValidationError` naming the field and the value.

The vendor publishes no limits; the ones here are decisions, generous for product videos and
tight enough that a typo or a runaway template is refused before anything is spent:

- a video or template id is one safe URL path segment (:func:`check_resource_id`);
- ``duration`` is a whole number of seconds, 1-60, given as an int or ASCII digits;
- descriptions are at most 5,000 characters, titles and names at most 200, URLs at most 2,048;
- a template ``price`` is a finite, non-negative amount with at most two decimals, at most
  99,999,999.99.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, cast
from urllib.parse import urlsplit

from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = [
    "ASPECT_RATIOS",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_DURATION_SECONDS",
    "MAX_ID_LENGTH",
    "MAX_IMAGE_URLS",
    "MAX_NAME_LENGTH",
    "MAX_PAGE_SIZE",
    "MAX_PRICE",
    "MAX_URL_LENGTH",
    "VIDEO_STATUSES",
    "build_create_template_body",
    "build_create_video_body",
    "check_page",
    "check_resource_id",
    "check_user_id",
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
#: Decision: a product description is a paragraph, not a document (5 MB was once sent).
MAX_DESCRIPTION_LENGTH = 5000
#: Decision: titles, template names, product names and user ids are short labels.
MAX_NAME_LENGTH = 200
#: Decision: room for any real image or callback URL; many web servers refuse longer ones.
MAX_URL_LENGTH = 2048
#: Decision: ids are short tokens (``task_8ebb0d49091c``); this leaves room for UUIDs and more.
MAX_ID_LENGTH = 128
#: Decision: the largest template price accepted (the vendor takes it as a string).
MAX_PRICE = Decimal("99999999.99")

# Runs of letters, digits, "_" and "-", joined by single dots: never "." or "..", no leading or
# trailing dot, no "/", "%", whitespace or non-ASCII, so the id is one path segment that no HTTP
# library rewrites, and a safe file name. Explicit ASCII classes: \w would admit other scripts.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
# ASCII digits only: str.isdigit() admits "²" (int() then raises) and "١٥" (int() accepts).
_DURATION_PATTERN = re.compile(r"[0-9]{1,4}")
_PRICE_PATTERN = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")


def _fail(field: str, argument: str, value: Any, reason: str) -> DmjyValidationError:
    return DmjyValidationError(field, value, reason, argument=argument)


def _text(field: str, argument: str, value: Any, *, required: bool, max_length: int) -> str | None:
    if value is None:
        if required:
            raise _fail(field, argument, value, "is required")
        return None
    if not isinstance(value, str):
        raise _fail(field, argument, value, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise _fail(field, argument, value, "must not be empty")
    if len(value) > max_length:
        raise _fail(field, argument, value, f"must be at most {max_length:,} characters (got {len(value):,})")
    return value


def _http_url(field: str, argument: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(field, argument, value, f"must be an http(s) URL string, not {type(value).__name__}")
    url = value.strip()
    if len(url) > MAX_URL_LENGTH:
        raise _fail(field, argument, value, f"must be at most {MAX_URL_LENGTH:,} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed lazily: raises ValueError for a port that is not a number
    except ValueError as error:  # "http://[::1/a.jpg": a raw ValueError would be retried by Airflow
        raise _fail(field, argument, value, f"is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(field, argument, value, "must be an http:// or https:// URL")
    return url


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
    body: dict[str, Any] = {
        "description": _text(
            "description", "description", description, required=True, max_length=MAX_DESCRIPTION_LENGTH
        )
    }
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
        if isinstance(duration, str) and _DURATION_PATTERN.fullmatch(duration.strip()):
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
        body["title"] = _text("title", "title", title, required=False, max_length=MAX_NAME_LENGTH)
    if callback_url is not None:
        body["callbackUrl"] = _http_url("callbackUrl", "callback_url", callback_url)
    return body


def _price(value: Any) -> str:
    rule = f"must be an amount from 0 to {MAX_PRICE} with at most two decimals, such as '99.00'"
    if isinstance(value, str):
        # Plain ASCII digits only: Decimal() would also take "NaN", "-5", "1e309" and "١٥".
        if not _PRICE_PATTERN.fullmatch(value.strip()):
            raise _fail("price", "price", value, rule)
        return value.strip()
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _fail("price", "price", value, "must be a string such as '99.00' or a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _fail("price", "price", value, rule) from None
    if not amount.is_finite() or not 0 <= amount <= MAX_PRICE or amount != round(amount, 2):
        raise _fail("price", "price", value, rule)
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
        "userId": check_user_id(user_id),
        "name": _text("name", "name", name, required=True, max_length=MAX_NAME_LENGTH),
    }
    if image_url is not None:
        body["imageUrl"] = _http_url("imageUrl", "image_url", image_url)
    if description is not None:
        body["description"] = _text(
            "description", "description", description, required=False, max_length=MAX_DESCRIPTION_LENGTH
        )
    if product_name is not None:
        body["productName"] = _text(
            "productName", "product_name", product_name, required=False, max_length=MAX_NAME_LENGTH
        )
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
    """A video or template id that is exactly one safe URL path segment (and a safe file name).

    Accepted: 1 to :data:`MAX_ID_LENGTH` ASCII letters, digits, ``_`` and ``-``, with single dots
    between them (``task_1``, ``a.b``). Refused, never repaired: ``.`` and ``..`` (HTTP libraries
    collapse them, so ``DELETE /videos/..`` would become ``DELETE /``), surrounding whitespace,
    ``/``, ``%`` (no percent-encoded tricks such as ``%2e%2e``), other punctuation, non-ASCII
    characters and anything that is not a string.
    """
    if not isinstance(value, str):
        raise _fail(argument, argument, value, f"must be an id string, not {type(value).__name__}")
    if len(value) > MAX_ID_LENGTH:
        raise _fail(argument, argument, value, f"must be at most {MAX_ID_LENGTH} characters")
    if not _ID_PATTERN.fullmatch(value):
        raise _fail(
            argument,
            argument,
            value,
            "must be one URL path segment: ASCII letters, digits, '_' and '-', "
            "with single dots only between them (no '.' or '..', '/', '%' or whitespace)",
        )
    return value


def check_user_id(value: Any) -> str:
    """A vendor user id (``userId``): non-empty text of at most :data:`MAX_NAME_LENGTH` characters.

    Looser than :func:`check_resource_id`: it travels in a query string or a JSON body, where it is
    encoded, never in a path. Control characters are refused: no user id has one.
    """
    text = cast(str, _text("userId", "user_id", value, required=True, max_length=MAX_NAME_LENGTH))
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise _fail("userId", "user_id", value, "must not contain control characters")
    return text


def resource_path(collection: str, argument: str, resource_id: Any) -> str:
    """``/<collection>/<id>`` with the id checked: it has no character that needs encoding, so it
    reaches the server exactly as given, as the path's last segment."""
    return f"/{collection}/{check_resource_id(argument, resource_id)}"
