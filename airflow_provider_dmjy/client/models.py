"""Typed values of the DMJY API: the video status, the answers, and the create requests.

Answers (:class:`Video`, :class:`Template`, :class:`Account`, :class:`Page`) are read with
``from_api(data)``, which tolerates missing or odd fields (they read as None) and raises only
:class:`~airflow_provider_dmjy.exceptions.DmjyInvalidResponseError`, for an answer that is not an
object or (except the account) has no id. ``to_dict()`` gives the vendor's field names back and
keeps every field the answer had, so ``Video.from_api(d).to_dict() == d`` for what a hook returned.

Requests (:class:`CreateVideoRequest`, :class:`CreateTemplateRequest`) validate their arguments
when they are made, with the rules of :mod:`airflow_provider_dmjy.client.validation`, and know
their wire form (``to_wire()``): a request that exists can be sent as it is. They live in
:mod:`airflow_provider_dmjy.client.create_requests` and are imported from here, their public home.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar, Generic, TypeVar

from airflow_provider_dmjy.client.create_requests import (
    FINGERPRINT_PREFIX,
    FINGERPRINT_VERSION,
    CreateTemplateRequest,
    CreateVideoRequest,
    _ends_with_tags,
)
from airflow_provider_dmjy.exceptions import DmjyInvalidResponseError, DmjyValidationError

__all__ = [
    "FINGERPRINT_PREFIX",
    "FINGERPRINT_VERSION",
    "Account",
    "CreateTemplateRequest",
    "CreateVideoRequest",
    "Page",
    "Template",
    "Video",
    "VideoStatus",
    "parse_vendor_time",
]


class VideoStatus(str, enum.Enum):
    """The state of a video task. ``ACTIVE`` still renders; ``TERMINAL`` is final.

    A ``str`` enum: ``VideoStatus.COMPLETED == "completed"``, and it prints as its value.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    ACTIVE: ClassVar[frozenset[VideoStatus]]
    TERMINAL: ClassVar[frozenset[VideoStatus]]

    def __str__(self) -> str:
        return str.__str__(self)  # "completed" in messages and logs, not "VideoStatus.COMPLETED"

    @classmethod
    def check(cls, value: object, argument: str = "status") -> VideoStatus:
        """``value`` as a status; raises :class:`DmjyValidationError` for anything else."""
        try:
            return cls(value)
        except ValueError:
            statuses = ", ".join(status.value for status in cls)
            raise DmjyValidationError("status", value, f"must be one of {statuses}", argument) from None

    @classmethod
    def is_terminal(cls, value: str) -> bool:
        """Whether ``value`` is final (``completed`` or ``failed``); an unknown value is refused."""
        return cls.check(value) in cls.TERMINAL

    @classmethod
    def is_active(cls, value: str) -> bool:
        """Whether ``value`` still renders (``pending`` or ``processing``); an unknown value is refused."""
        return cls.check(value) in cls.ACTIVE


# Not members: set after the class (an enum turns every value in its body into a member).
VideoStatus.ACTIVE = frozenset({VideoStatus.PENDING, VideoStatus.PROCESSING})
VideoStatus.TERMINAL = frozenset({VideoStatus.COMPLETED, VideoStatus.FAILED})


# -- reading answers --------------------------------------------------------------------------------


def parse_vendor_time(value: object) -> float | None:
    """Epoch seconds of a ``createdAt`` or ``updatedAt`` (ISO 8601, ``...Z``; UTC when it names no
    zone), or None when it is missing or unreadable. The one reader of the vendor's timestamps."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _object(data: object, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise DmjyInvalidResponseError(f"The DMJY {what} is not a JSON object but {type(data).__name__}")
    return data


def _id(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise DmjyInvalidResponseError(f"A DMJY answer has no usable id (got {value!r})")
    return str(value)


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _whole(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    return value if isinstance(value, bool) else None


def _status(data: Mapping[str, Any], key: str) -> VideoStatus | None:
    try:
        return VideoStatus(data.get(key))
    except ValueError:  # missing, or a status this package does not know: the raw value stays
        return None


def _api(wire: str, read: Callable[[Mapping[str, Any], str], Any] = _str) -> Any:
    """A field read from (and written back to) the vendor's field ``wire``; None when unreadable."""
    return dataclasses.field(default=None, metadata={"wire": wire, "read": read})


def _api_id() -> Any:
    """The required ``id``: an answer without one cannot be addressed, so it is refused."""
    return dataclasses.field(metadata={"wire": "id", "read": _id})


_V = TypeVar("_V", bound="_ApiValue")


@dataclasses.dataclass(frozen=True)
class _ApiValue:
    """``from_api()`` and ``to_dict()`` for the answers, driven by each field's vendor name."""

    #: The answer as received: every field, also those without an attribute (empty for a value
    #: made in code). Not compared: two reads of the same state are equal.
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False, kw_only=True)

    @classmethod
    def from_api(cls: type[_V], data: object) -> _V:
        """The value of one answer (the envelope's ``data``, or one list item)."""
        answer = _object(data, cls.__name__.lower())
        fields = [field for field in dataclasses.fields(cls) if "wire" in field.metadata]
        read = {field.name: field.metadata["read"](answer, field.metadata["wire"]) for field in fields}
        return cls(**read, raw=dict(answer))

    def to_dict(self) -> dict[str, Any]:
        """The vendor's field names; every field of the original answer is kept."""
        data = dict(self.raw)
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if "wire" in field.metadata and value is not None:  # None: the raw value (if any) stays
                data[field.metadata["wire"]] = value.value if isinstance(value, VideoStatus) else value
        return data


@dataclasses.dataclass(frozen=True)
class Video(_ApiValue):
    """A video task (``GET /videos/{id}``, ``POST /videos``, a list item). ``status`` is None when
    the answer has none this package knows; the raw value stays in ``raw`` and ``to_dict()``."""

    id: str = _api_id()
    status: VideoStatus | None = _api("status", _status)  # noqa: RUF009 - _api is a dataclasses.field
    progress: float | None = _api("progress", _number)
    title: str | None = _api("title")
    video_url: str | None = _api("videoUrl")
    thumbnail_url: str | None = _api("thumbnailUrl")
    duration: int | None = _api("duration", _whole)
    aspect_ratio: str | None = _api("aspectRatio")
    error_message: str | None = _api("errorMessage")
    created_at: str | None = _api("createdAt")
    updated_at: str | None = _api("updatedAt")

    def has_marker(self, marker: str) -> bool:
        """Whether the title ends with ``marker`` as :meth:`CreateVideoRequest.with_marker` put it
        (then at most the fingerprint's tag): a ``[marker]`` elsewhere in the title does not count."""
        return _ends_with_tags(self.title, marker, None)

    def has_fingerprint(self, fingerprint: str) -> bool:
        """Whether the title ends with ``fingerprint`` (:meth:`CreateVideoRequest.fingerprint`)
        exactly as :meth:`CreateVideoRequest.with_marker` put it: `` [<marker>] [fp-<fingerprint>]``
        last. A claim made by whoever set the title (the reuse checks what the API shows)."""
        return _ends_with_tags(self.title, None, fingerprint)


@dataclasses.dataclass(frozen=True)
class Template(_ApiValue):
    """A product template (``POST /templates``, a list item)."""

    id: str = _api_id()
    user_id: str | None = _api("userId")
    name: str | None = _api("name")
    image_url: str | None = _api("imageUrl")
    description: str | None = _api("description")
    product_name: str | None = _api("productName")
    price: str | None = _api("price")
    created_at: str | None = _api("createdAt")


@dataclasses.dataclass(frozen=True)
class Account(_ApiValue):
    """The API key's account (``GET /account``; it has no id)."""

    user_id: str | None = _api("userId")
    email: str | None = _api("email")
    name: str | None = _api("name")
    balance: float | None = _api("balance", _number)
    plan: str | None = _api("plan")
    low_balance_threshold: float | None = _api("lowBalanceThreshold", _number)
    is_low_balance: bool | None = _api("isLowBalance", _bool)


@dataclasses.dataclass(frozen=True)
class Page(Generic[_V]):
    """One page of a list: its items (those with an id, in the server's order) and the page count
    the server announced (``total_pages``, None when it announced none that can be read).

    ``key`` is the list's field: ``Page.from_api(data, "tasks", Video)`` or ``(data, "templates", Template)``.
    """

    key: str
    items: tuple[_V, ...]
    total_pages: int | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: object, key: str, item: type[_V]) -> Page[_V]:
        """The page of a list answer; items without an id are left out (nothing could address them)."""
        answer = _object(data, "list page")
        entries = answer.get(key)
        items: list[_V] = []
        for entry in entries if isinstance(entries, list) else ():
            try:
                items.append(item.from_api(entry))
            except DmjyInvalidResponseError:
                continue
        pagination = answer.get("pagination")
        total = _number(pagination, "totalPages") if isinstance(pagination, Mapping) else None
        return cls(key, tuple(items), None if total is None else math.ceil(total), dict(answer))

    def to_dict(self) -> dict[str, Any]:
        """The page with the vendor's field names (each item through its own ``to_dict()``)."""
        return {**self.raw, self.key: [item.to_dict() for item in self.items]}
