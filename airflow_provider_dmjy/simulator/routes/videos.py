"""``/api/v1/videos``: list, create (validated, capped, charged), get, delete.

Simulator decisions beyond the vendor's page:

- A create is checked in this order (after auth and the rate limit): validation, daily cap,
  balance. ``imageUrl`` or ``imageUrls`` is required (not both; at most 9 URLs) and every URL must
  be http(s); ``duration`` is 1 to 60 (default 10), ``aspectRatio`` ``9:16`` (default) or ``16:9``,
  and a blank ``title`` becomes the first 20 characters of the description.
- A create the balance cannot cover answers 402 ``INSUFFICIENT_BALANCE`` and sends
  ``account.insufficient_balance``; one that crosses the low-balance threshold sends
  ``account.low_balance``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_dmjy.simulator.models import STATUSES, Task, iso
from airflow_provider_dmjy.simulator.state import SimState
from airflow_provider_dmjy.simulator.wire import (
    ApiError,
    invalid,
    is_http_url,
    json_object,
    media_base,
    ok,
    optional_str,
    page_args,
    paginate,
    required_str,
    sender,
    sim,
)

ASPECT_RATIOS = ("9:16", "16:9")
MAX_IMAGES = 9


def router() -> APIRouter:
    """The video routes (the caller adds the ``/api/v1`` prefix and the auth guard)."""
    api = APIRouter()

    @api.get("/videos")
    async def list_videos(request: Request) -> dict[str, Any]:
        state = sim(request)
        page, limit = page_args(request)
        status = request.query_params.get("status")
        if status is not None and status not in STATUSES:
            raise invalid("status", f"status must be one of {', '.join(STATUSES)} (got {status!r})")
        now, base = state.now(), media_base(request)
        items = [t.summary(now, base) for t in state.visible_tasks()]
        if status is not None:
            items = [item for item in items if item["status"] == status]
        tasks, pagination = paginate(items, page, limit)
        return ok({"tasks": tasks, "pagination": pagination})

    @api.post("/videos")
    async def create_video(request: Request) -> dict[str, Any]:
        state, webhooks = sim(request), sender(request)
        api_key: str = request.state.api_key
        fields = validate_create(await json_object(request))
        if state.cap_reached(api_key):
            raise ApiError(429, "DAILY_LIMIT_REACHED", "Daily video limit reached; resets at 00:00")
        cost = fields["duration"] * state.config.cost_per_second
        if state.balance < cost:
            webhooks.insufficient_balance(fields["callback_url"], cost)
            raise ApiError(
                402,
                "INSUFFICIENT_BALANCE",
                f"Insufficient balance: current balance {state.balance}, required {cost} credits",
            )
        before = state.balance
        task = state.add_task(**fields, media_base=media_base(request), api_key=api_key)
        threshold = state.config.low_balance_threshold
        if before >= threshold > state.balance:
            webhooks.low_balance(task.callback_url)
        return ok(
            {
                "id": task.id,
                "status": "pending",
                "imageCount": len(task.image_urls),
                "imageMerged": len(task.image_urls) > 1,
                "callbackUrl": task.callback_url,
                "createdAt": iso(task.created_at),
            }
        )

    @api.get("/videos/{id}")
    async def get_video(request: Request, id: str) -> dict[str, Any]:
        state = sim(request)
        return ok(find_task(state, id).detail(state.now(), media_base(request)))

    @api.delete("/videos/{id}")
    async def delete_video(request: Request, id: str) -> dict[str, Any]:
        state = sim(request)
        find_task(state, id).delete(state.now())
        return ok()

    return api


def find_task(state: SimState, task_id: str) -> Task:
    """The task ``task_id``, or the 404 a deleted or unknown one answers."""
    task = state.tasks.get(task_id)
    if task is None or task.deleted:
        raise ApiError(404, "NOT_FOUND", f"Video task {task_id} not found")
    return task


def validate_create(body: dict[str, Any]) -> dict[str, Any]:
    """Check a create body; return the keyword arguments of :meth:`SimState.add_task` it gives."""
    description = required_str(body, "description")
    image_url, image_urls = body.get("imageUrl"), body.get("imageUrls")
    if image_url is not None and image_urls is not None:
        raise invalid("imageUrls", "imageUrl and imageUrls are mutually exclusive; send one of them")
    if image_url is None and image_urls is None:
        raise invalid("imageUrl", "imageUrl or imageUrls is required")
    if image_url is not None:
        if not is_http_url(image_url):
            raise invalid("imageUrl", f"imageUrl must be an http(s) URL (got {image_url!r})")
        urls = [image_url]
    else:
        if not isinstance(image_urls, list) or not image_urls or len(image_urls) > MAX_IMAGES:
            raise invalid(
                "imageUrls", f"imageUrls must be an array of 1 to {MAX_IMAGES} URLs (got {image_urls!r})"
            )
        for index, url in enumerate(image_urls):
            if not is_http_url(url):
                raise invalid("imageUrls", f"imageUrls[{index}] must be an http(s) URL (got {url!r})")
        urls = list(image_urls)
    duration = body.get("duration", 10)
    if duration is None:
        duration = 10
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 60:
        raise invalid("duration", f"duration must be an integer between 1 and 60 (got {duration!r})")
    aspect_ratio = body.get("aspectRatio")
    if aspect_ratio is None:
        aspect_ratio = "9:16"
    if aspect_ratio not in ASPECT_RATIOS:
        raise invalid(
            "aspectRatio", f"aspectRatio must be one of {', '.join(ASPECT_RATIOS)} (got {aspect_ratio!r})"
        )
    title = optional_str(body, "title")
    callback_url = body.get("callbackUrl")
    if callback_url is not None and not is_http_url(callback_url):
        raise invalid("callbackUrl", f"callbackUrl must be an http(s) URL (got {callback_url!r})")
    return {
        "title": title if title and title.strip() else description.strip()[:20],
        "description": description,
        "image_urls": urls,
        "duration": duration,
        "aspect_ratio": aspect_ratio,
        "callback_url": callback_url,
    }
