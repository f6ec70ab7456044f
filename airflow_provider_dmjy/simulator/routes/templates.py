"""``/api/v1/templates``: list (newest first, optionally by ``userId``), create, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_dmjy.simulator.models import iso
from airflow_provider_dmjy.simulator.wire import (
    ApiError,
    json_object,
    ok,
    optional_str,
    page_args,
    paginate,
    required_str,
    sim,
)


def router() -> APIRouter:
    """The template routes (the caller adds the ``/api/v1`` prefix and the auth guard)."""
    api = APIRouter()

    @api.get("/templates")
    async def list_templates(request: Request) -> dict[str, Any]:
        state = sim(request)
        page, limit = page_args(request)
        user_id = request.query_params.get("userId")
        items = sorted(state.templates.values(), key=lambda t: -t.created_at)
        if user_id:
            items = [t for t in items if t.user_id == user_id]
        page_items, pagination = paginate(items, page, limit)
        return ok({"templates": [t.to_json() for t in page_items], "pagination": pagination})

    @api.post("/templates")
    async def create_template(request: Request) -> dict[str, Any]:
        state = sim(request)
        body = await json_object(request)
        tpl = state.add_template(
            user_id=required_str(body, "userId"),
            name=required_str(body, "name"),
            image_url=optional_str(body, "imageUrl"),
            description=optional_str(body, "description"),
            product_name=optional_str(body, "productName"),
            price=optional_str(body, "price"),
        )
        return ok({"id": tpl.id, "name": tpl.name, "createdAt": iso(tpl.created_at)})

    @api.delete("/templates/{id}")
    async def delete_template(request: Request, id: str) -> dict[str, Any]:
        state = sim(request)
        if state.templates.pop(id, None) is None:
            raise ApiError(404, "NOT_FOUND", f"Template {id} not found")
        return ok()

    return api
