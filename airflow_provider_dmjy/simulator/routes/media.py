"""``/media``: the files a completed task links to (a small real MP4 and JPEG) and product images.

Like a CDN, media needs no auth; a task's files exist only once it is completed (404 before, and
after it is deleted). ``HEAD`` is answered too.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airflow_provider_dmjy.simulator.wire import ApiError, sim


def _asset(name: str) -> bytes:
    return resources.files("airflow_provider_dmjy.simulator").joinpath("assets").joinpath(name).read_bytes()


def router() -> APIRouter:
    """The media routes, with the asset files read once per app."""
    api = APIRouter(prefix="/media")
    video, thumb, product = _asset("sample.mp4"), _asset("thumb.jpg"), _asset("product.jpg")

    def completed(request: Request, task_id: str) -> None:
        state = sim(request)
        task = state.tasks.get(task_id)
        if task is None or task.deleted or task.status_at(state.now())[0] != "completed":
            raise ApiError(404, "NOT_FOUND", f"No media for {task_id}")

    @api.api_route("/videos/{id}.mp4", methods=["GET", "HEAD"])
    async def video_file(request: Request, id: str) -> Response:
        completed(request, id)
        return Response(video, media_type="video/mp4")

    @api.api_route("/thumbnails/{id}.jpg", methods=["GET", "HEAD"])
    async def thumbnail_file(request: Request, id: str) -> Response:
        completed(request, id)
        return Response(thumb, media_type="image/jpeg")

    @api.api_route("/images/{name}", methods=["GET", "HEAD"])
    async def product_image(name: str) -> Response:
        return Response(product, media_type="image/jpeg")

    return api
