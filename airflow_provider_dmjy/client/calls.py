"""One description per endpoint, shared by the sync and the async client so that they cannot drift."""

from __future__ import annotations

import dataclasses
from typing import Any

from airflow_provider_dmjy.client import validation as v

__all__ = ["Call"]


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
    if v.check_video_status(status) is not None:
        params["status"] = status
    return Call("GET", "/videos", params=params)


def create_video(**arguments: Any) -> Call:
    return Call("POST", "/videos", json=v.build_create_video_body(**arguments))


def get_video(video_id: str) -> Call:
    return Call("GET", v.resource_path("videos", "video_id", video_id))


def delete_video(video_id: str) -> Call:
    return Call("DELETE", v.resource_path("videos", "video_id", video_id))


def list_templates(page: int = 1, limit: int = 20, user_id: str | None = None) -> Call:
    params: dict[str, Any] = v.check_page(page, limit)
    if user_id is not None:
        params["userId"] = v.check_resource_id("user_id", user_id)
    return Call("GET", "/templates", params=params)


def create_template(**arguments: Any) -> Call:
    return Call("POST", "/templates", json=v.build_create_template_body(**arguments))


def delete_template(template_id: str) -> Call:
    return Call("DELETE", v.resource_path("templates", "template_id", template_id))


def page_items(data: dict[str, Any], key: str) -> tuple[list[dict[str, Any]], bool]:
    """The items of one list page and whether another page follows."""
    items = data.get(key) or []
    pagination = data.get("pagination") or {}
    page = int(pagination.get("page") or 1)
    total_pages = int(pagination.get("totalPages") or 0)
    return list(items), bool(items) and page < total_pages
