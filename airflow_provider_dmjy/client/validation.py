"""Client-side validation: a request that cannot succeed is refused before it is sent.

The rules for one field each: every ``check_*`` returns the value as it goes on the wire, or raises
:class:`~airflow_provider_dmjy.exceptions.DmjyValidationError` naming the argument, the vendor's
field and the value. The request objects of :mod:`airflow_provider_dmjy.client.models`
(``CreateVideoRequest``, ``CreateTemplateRequest``) combine them; the statuses a list may be
filtered by are :class:`~airflow_provider_dmjy.client.models.VideoStatus`.

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
    "check_aspect_ratio",
    "check_duration",
    "check_http_url",
    "check_image_urls",
    "check_page",
    "check_price",
    "check_resource_id",
    "check_text",
    "check_user_id",
    "resource_path",
]

ASPECT_RATIOS = ("9:16", "16:9")
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


def check_text(field: str, argument: str, value: Any, *, required: bool, max_length: int) -> str | None:
    """Non-blank text of at most ``max_length`` characters; None when absent and not ``required``."""
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


def check_http_url(field: str, argument: str, value: Any) -> str:
    """An absolute http(s) URL of at most :data:`MAX_URL_LENGTH` characters, surrounding spaces removed."""
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


def check_image_urls(value: Any) -> tuple[str, ...]:
    """``imageUrls``: 1 to :data:`MAX_IMAGE_URLS` http(s) URLs (merged by the vendor into one grid)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise _fail("imageUrls", "image_urls", value, "must be a list of http(s) URLs")
    if not value:
        raise _fail("imageUrls", "image_urls", value, "must not be empty")
    if len(value) > MAX_IMAGE_URLS:
        raise _fail("imageUrls", "image_urls", value, f"at most {MAX_IMAGE_URLS} images")
    return tuple(check_http_url(f"imageUrls[{i}]", "image_urls", url) for i, url in enumerate(value))


def check_duration(value: Any) -> int:
    """``duration``: whole seconds, 1 to :data:`MAX_DURATION_SECONDS`, as an int or ASCII digits."""
    if isinstance(value, str) and _DURATION_PATTERN.fullmatch(value.strip()):
        value = int(value)  # a rendered template field arrives as text
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail("duration", "duration", value, "must be a whole number of seconds")
    if not 1 <= value <= MAX_DURATION_SECONDS:
        raise _fail("duration", "duration", value, f"must be between 1 and {MAX_DURATION_SECONDS} seconds")
    return value


def check_aspect_ratio(value: Any) -> str:
    """``aspectRatio``: one of :data:`ASPECT_RATIOS`."""
    if value not in ASPECT_RATIOS:
        raise _fail("aspectRatio", "aspect_ratio", value, f"must be one of {', '.join(ASPECT_RATIOS)}")
    return value  # type: ignore[no-any-return]


def check_price(value: Any) -> str:
    """A template ``price``: the vendor's string form (``"99.00"``) of a plain non-negative amount."""
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
    text = cast(str, check_text("userId", "user_id", value, required=True, max_length=MAX_NAME_LENGTH))
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise _fail("userId", "user_id", value, "must not contain control characters")
    return text


def resource_path(collection: str, argument: str, resource_id: Any) -> str:
    """``/<collection>/<id>`` with the id checked: it has no character that needs encoding, so it
    reaches the server exactly as given, as the path's last segment."""
    return f"/{collection}/{check_resource_id(argument, resource_id)}"
