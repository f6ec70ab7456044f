"""One description per endpoint, shared by the sync and the async client so that they cannot drift."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from airflow_provider_dmjy.client import validation as v
from airflow_provider_dmjy.client.models import CreateTemplateRequest, CreateVideoRequest, VideoStatus
from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = ["MARKER_SEARCH_MAX_PAGES", "MAX_PAGES", "PAGE_SIZE", "USER_AGENT", "Call", "PageWalker"]

#: The ``User-Agent`` of every API call.
USER_AGENT = "airflow-provider-dmjy"
#: Items asked for per list request by the ``iter_*`` methods (the vendor's maximum).
PAGE_SIZE = v.MAX_PAGE_SIZE
#: Pages one ``iter_*`` walk reads at most unless the caller passes ``max_pages`` (100,000 items).
MAX_PAGES = 1000
#: The most list pages a search for a task instance's marker reads by default (1,000 videos):
#: the hook's ``find_video_by_marker`` and the create operator's ``reconcile_max_pages``.
MARKER_SEARCH_MAX_PAGES = 10


@dataclasses.dataclass(frozen=True)
class Call:
    """One API request before signing: a method, a path relative to the base URL, a query and a body."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None

    @property
    def idempotent(self) -> bool:
        """Whether sending it twice is harmless (reads and deletes) - creates are not."""
        return self.method in ("GET", "HEAD", "DELETE")


def get_account() -> Call:
    return Call("GET", "/account")


def list_videos(page: int = 1, limit: int = 20, status: str | None = None) -> Call:
    params: dict[str, Any] = v.check_page(page, limit)
    if status is not None:
        params["status"] = VideoStatus.check(status).value
    return Call("GET", "/videos", params=params)


def create_video(request: CreateVideoRequest) -> Call:
    return Call("POST", "/videos", json=request.to_wire())


def get_video(video_id: str) -> Call:
    return Call("GET", v.resource_path("videos", "video_id", video_id))


def delete_video(video_id: str) -> Call:
    return Call("DELETE", v.resource_path("videos", "video_id", video_id))


def list_templates(page: int = 1, limit: int = 20, user_id: str | None = None) -> Call:
    params: dict[str, Any] = v.check_page(page, limit)
    if user_id is not None:
        params["userId"] = v.check_user_id(user_id)
    return Call("GET", "/templates", params=params)


def create_template(request: CreateTemplateRequest) -> Call:
    return Call("POST", "/templates", json=request.to_wire())


def delete_template(template_id: str) -> Call:
    return Call("DELETE", v.resource_path("templates", "template_id", template_id))


class PageWalker:
    """The paging rules of every ``iter_*`` method, in one place (the clients only fetch the pages).

    Pages are counted by the client; the server's ``page`` echo is never trusted. The walk ends at
    the first page that brings no new id (an empty page, or a server that ignores ``page``), at the
    last page the server announces (``pagination.totalPages``), or after ``max_pages`` pages
    (default :data:`MAX_PAGES`), whichever comes first. Each id is handed out once; items without a
    string ``id`` are skipped, since nothing could address them. Usage::

        walker = PageWalker("tasks", max_pages)
        while (page := walker.next_page) is not None:
            yield from walker.take(send(list_videos(page, PAGE_SIZE)))
    """

    def __init__(self, key: str, max_pages: int | None = None) -> None:
        if max_pages is not None and (
            isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1
        ):
            raise DmjyValidationError("max_pages", max_pages, "must be a whole number of pages, 1 or more")
        self.key = key
        self.max_pages = MAX_PAGES if max_pages is None else max_pages
        self.pages_read = 0
        #: The walk stopped at ``max_pages`` while the server announced more pages.
        self.capped = False
        self._seen: set[str] = set()
        self._done = False

    @property
    def next_page(self) -> int | None:
        """The page number to fetch next, or None when the walk is over."""
        return None if self._done else self.pages_read + 1

    def take(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The items of the page just fetched that were not seen before; decides whether to go on."""
        self.pages_read += 1
        items = data.get(self.key)
        new: list[dict[str, Any]] = []
        for item in items if isinstance(items, list) else ():
            item_id = _item_id(item)
            if item_id is not None and item_id not in self._seen:
                self._seen.add(item_id)
                new.append(item)
        total_pages = _total_pages(data.get("pagination"))
        if not new or (total_pages is not None and self.pages_read >= total_pages):
            self._done = True
        elif self.pages_read >= self.max_pages:
            self._done = self.capped = True
        return new


def _item_id(item: Any) -> str | None:
    """An item's id as the models read it (a string, or a whole number as its digits), else None.

    A server that answers numeric ids must not make a search skip every item: the marker search
    would then find nothing and report it safe to create again.
    """
    item_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(item_id, int) and not isinstance(item_id, bool):
        return str(item_id)
    return item_id if isinstance(item_id, str) and item_id else None


def _total_pages(pagination: Any) -> float | None:
    """The announced page count, or None when missing or unreadable (the walk then relies on ids)."""
    total = pagination.get("totalPages") if isinstance(pagination, dict) else None
    if isinstance(total, bool) or not isinstance(total, (int, float)) or math.isnan(total):
        return None
    return total
