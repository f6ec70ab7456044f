"""The create requests of the DMJY API: :class:`CreateVideoRequest` (a charged create) and
:class:`CreateTemplateRequest`, and the tags a create puts in a video's title.

A request validates its arguments when it is made, with the rules of
:mod:`airflow_provider_dmjy.client.validation`, and knows its wire form (``to_wire()``): a request
that exists can be sent as it is. Public home: :mod:`airflow_provider_dmjy.client.models`, which
re-exports every name; :class:`~airflow_provider_dmjy.client.models.Video` reads the tags back.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from airflow_provider_dmjy.client import validation as v
from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = [
    "FINGERPRINT_PREFIX",
    "FINGERPRINT_VERSION",
    "CreateTemplateRequest",
    "CreateVideoRequest",
]

#: What starts a fingerprint's tag in a title: ``[fp-<16 hex>]``.
FINGERPRINT_PREFIX = "fp-"
#: Bumped whenever what :meth:`CreateVideoRequest.fingerprint` hashes changes, so that an old
#: fingerprint never matches a new request by accident.
FINGERPRINT_VERSION = 1


#: How the tags :meth:`CreateVideoRequest.with_marker` appends start: the fingerprint's and the
#: task marker's (``af-``, ``operators.reconcile.task_marker``). A caller's title may not contain
#: either, so that no title can carry another request's tag.
_TAG_STARTS = (f"[{FINGERPRINT_PREFIX}", "[af-")
#: One tag as a title's end may hold it: brackets around text without brackets or spaces.
_ANY_TAG = r"\[[^\[\]\s]+\]"


def _marker_tag(marker: str) -> str:
    return f"[{marker}]"


def _ends_with_tags(title: str | None, marker: str | None, fingerprint: str | None) -> bool:
    """Whether ``title`` ends exactly as :meth:`CreateVideoRequest.with_marker` ends it: a space,
    ``[marker]``, then ``[fp-<fingerprint>]`` (required when ``fingerprint`` is given, else
    optional); ``None`` stands for any marker. The tags are last and never cut, so a tag anywhere
    else (a title typed by hand, a description's start) is not the provider's."""
    tag = _ANY_TAG if marker is None else re.escape(_marker_tag(marker))
    if fingerprint is None:
        tail = rf"(?: \[{FINGERPRINT_PREFIX}[0-9a-f]{{16}}\])?"
    else:
        tail = " " + re.escape(_marker_tag(f"{FINGERPRINT_PREFIX}{fingerprint}"))
    return re.search(rf"(?:\A|\s){tag}{tail}\Z", title or "") is not None


def _check_title(value: Any) -> Any:
    """A caller's title: the text rule, and none of the provider's tags (see ``_TAG_STARTS``)."""
    title = _text("title", "title", v.MAX_NAME_LENGTH)(value)
    if isinstance(title, str) and any(start in title.lower() for start in _TAG_STARTS):
        raise DmjyValidationError(
            "title",
            title,
            f"must not contain {' or '.join(repr(start) for start in _TAG_STARTS)}: the provider "
            "appends those tags itself, and a title carrying one could claim another request's video",
        )
    return title


def _arg(wire: str, check: Callable[[Any], Any]) -> Any:
    """An argument sent as the vendor's field ``wire`` after ``check`` (its rule in ``validation``)."""
    return dataclasses.field(metadata={"wire": wire, "check": check})


def _opt(wire: str, check: Callable[[Any], Any]) -> Any:
    """An optional argument (None: not sent)."""
    return dataclasses.field(default=None, metadata={"wire": wire, "check": check})


def _text(field: str, argument: str, max_length: int, *, required: bool = False) -> Callable[[Any], Any]:
    return functools.partial(v.check_text, field, argument, required=required, max_length=max_length)


def _url(field: str, argument: str) -> Callable[[Any], str]:
    return functools.partial(v.check_http_url, field, argument)


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Request:
    """Runs each argument's check once, when the request is made; gives the JSON body."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None or field.default is dataclasses.MISSING:
                # Frozen: the checked (normalised) value replaces the given one, once.
                object.__setattr__(self, field.name, field.metadata["check"](value))

    def to_wire(self) -> dict[str, Any]:
        """The JSON body, with the vendor's field names; arguments left at None are not sent."""
        body = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                body[field.metadata["wire"]] = list(value) if isinstance(value, tuple) else value
        return body


@dataclasses.dataclass(frozen=True, kw_only=True)
class CreateVideoRequest(_Request):
    """A valid ``POST /videos`` (a charged create): checked when made, so it is sent as it is.

    Exactly one of ``image_url`` and ``image_urls`` (at most 9, merged into one grid image);
    ``duration`` 1-60 seconds (ASCII digits are accepted: a rendered template gives text);
    ``aspect_ratio`` ``9:16`` or ``16:9``; the limits are in :mod:`~airflow_provider_dmjy.client.validation`.
    Raises :class:`~airflow_provider_dmjy.exceptions.DmjyValidationError` naming the argument.
    """

    description: str = _arg(
        "description", _text("description", "description", v.MAX_DESCRIPTION_LENGTH, required=True)
    )
    image_url: str | None = _opt("imageUrl", _url("imageUrl", "image_url"))
    image_urls: Sequence[str] | None = _opt("imageUrls", v.check_image_urls)
    duration: int | None = _opt("duration", v.check_duration)
    aspect_ratio: str | None = _opt("aspectRatio", v.check_aspect_ratio)
    title: str | None = _opt("title", _check_title)
    callback_url: str | None = _opt("callbackUrl", _url("callbackUrl", "callback_url"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_url is not None and self.image_urls is not None:
            raise DmjyValidationError(
                "imageUrls", self.image_urls, "give image_url or image_urls, not both", "image_urls"
            )
        if self.image_url is None and self.image_urls is None:
            raise DmjyValidationError(
                "imageUrl", None, "give image_url or image_urls (a product image is required)", "image_url"
            )

    def fingerprint(self) -> str:
        """16 hex characters naming what is rendered: a SHA-256 over a canonical JSON of the
        description, the image URL(s) (order kept; ``image_url`` and ``image_urls`` apart), the
        duration and aspect ratio as sent (None, the vendor's default, apart from its value: the
        vendor's default may change) and the caller's title (without any marker). The callback URL
        is left out: it does not change the video. Two requests with the same fingerprint ask for
        the same video."""
        rendered = {
            "v": FINGERPRINT_VERSION,
            "description": self.description,
            "imageUrl": self.image_url,
            "imageUrls": None if self.image_urls is None else list(self.image_urls),
            "duration": self.duration,
            "aspectRatio": self.aspect_ratio,
            "title": self.title,
        }
        canonical = json.dumps(rendered, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    def with_marker(self, marker: str, *, fingerprint: bool = False) -> CreateVideoRequest:
        """This request with ``[marker]`` appended to its title (to the description's start when
        it has none), so that :meth:`Video.has_marker` recognises the video it makes; with
        ``fingerprint``, also ``[fp-<fingerprint()>]`` (:meth:`Video.has_fingerprint`).

        The tags are never cut: when they would push the title over its limit, the caller's part
        is shortened (ending in "…") to make room; the fingerprint is of the whole title. Only the
        new title is checked; the rest was checked already."""
        tags = [_marker_tag(marker)]
        if fingerprint:
            tags.append(_marker_tag(f"{FINGERPRINT_PREFIX}{self.fingerprint()}"))
        suffix = " " + " ".join(tags)
        text = self.title or " ".join(self.description.split())[:40]
        room = v.MAX_NAME_LENGTH - len(suffix)
        if len(text) > room:
            text = text[: max(room - 1, 0)].rstrip() + "…"
        marked = copy.copy(self)  # a copy: keeps the checked values without running the checks again
        title = _text("title", "title", v.MAX_NAME_LENGTH, required=True)(text + suffix)
        object.__setattr__(marked, "title", title)
        return marked


@dataclasses.dataclass(frozen=True, kw_only=True)
class CreateTemplateRequest(_Request):
    """A valid ``POST /templates`` for user ``user_id``: checked when made, sent as it is.

    A number ``price`` is sent as the vendor's string with two decimals (``12.5`` as ``"12.50"``).
    Raises :class:`~airflow_provider_dmjy.exceptions.DmjyValidationError` naming the argument.
    """

    user_id: str = _arg("userId", v.check_user_id)
    name: str = _arg("name", _text("name", "name", v.MAX_NAME_LENGTH, required=True))
    image_url: str | None = _opt("imageUrl", _url("imageUrl", "image_url"))
    description: str | None = _opt(
        "description", _text("description", "description", v.MAX_DESCRIPTION_LENGTH)
    )
    product_name: str | None = _opt("productName", _text("productName", "product_name", v.MAX_NAME_LENGTH))
    price: str | float | None = _opt("price", v.check_price)
