"""The control endpoints (``/_sim``): inspect and steer the simulator from a test.

Simulator decisions:

- Forcing a task that already finished (or was deleted) answers 409 ``INVALID_STATE`` (404 for a
  deleted one); a forced task's webhook is sent at once rather than on the next tick.
- A fault is checked field by field (a wrong type answers 400 naming the field); ``times`` is at
  least 1.
- ``POST /_sim/videos`` seeds videos in bulk (see ``_seed``): a benchmark of the polls must not
  spend its rate limit on creates.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from airflow_provider_dmjy.simulator.models import TERMINAL, Fault
from airflow_provider_dmjy.simulator.routes.videos import find_task, validate_create
from airflow_provider_dmjy.simulator.wire import (
    ApiError,
    invalid,
    json_object,
    media_base,
    ok,
    optional_str,
    sender,
    sim,
)

#: Most videos one ``POST /_sim/videos`` creates.
MAX_SEED = 10_000

#: The optional fields of a fault and the JSON types each accepts.
_FAULT_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (int,),
    "times": (int,),
    "retry_after": (int, float),
    "after_commit": (bool,),
    "drop_connection": (bool,),
    "delay_seconds": (int, float),
    "commit_delay_seconds": (int, float),
    "body": (str,),
    "code": (str,),
    "message": (str,),
}


def router() -> APIRouter:
    """The control routes (the caller adds the ``/_sim`` prefix and the loopback guard)."""
    api = APIRouter()

    @api.get("/state")
    async def get_state(request: Request) -> dict[str, Any]:
        return sim(request).snapshot()

    @api.post("/faults")
    async def add_fault(request: Request) -> dict[str, Any]:
        state = sim(request)
        state.faults.append(parse_fault(await json_object(request)))
        return {"success": True, "faults_pending": sum(f.times for f in state.faults)}

    @api.get("/webhooks")
    async def get_webhooks(request: Request) -> dict[str, Any]:
        return {"success": True, "deliveries": [d.to_json() for d in sim(request).deliveries]}

    @api.post("/config")
    async def set_config(request: Request) -> dict[str, Any]:
        state = sim(request)
        body = await json_object(request)
        try:
            state.config.apply_live(body)
        except ValueError as exc:
            name = str(exc).split(" ", 1)[0]
            raise invalid(name, str(exc)) from None
        if "balance" in body:
            state.balance = state.config.balance
        if "rate_limit" in body or "rate_burst" in body:
            state.buckets.clear()
        return {"success": True, "config": state.config.public_dict(), "balance": state.balance}

    @api.post("/videos")
    async def seed_videos(request: Request) -> dict[str, Any]:
        return _seed(request, await json_object(request))

    @api.post("/videos/{id}/complete")
    async def force_complete(request: Request, id: str) -> dict[str, Any]:
        return _force(request, id, "completed", None)

    @api.post("/videos/{id}/fail")
    async def force_fail(request: Request, id: str) -> dict[str, Any]:
        raw = await request.body()
        message = None
        if raw.strip():
            body = await json_object(request)
            message = optional_str(body, "errorMessage")
        return _force(request, id, "failed", message)

    @api.post("/reset")
    async def reset(request: Request) -> dict[str, Any]:
        sender(request).cancel_inflight()
        sim(request).reset()
        return {"success": True}

    return api


def _seed(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /_sim/videos``: ``count`` videos created at once as ``POST /api/v1/videos`` would
    (charged, counted against the daily cap, each drawing its render plan), but outside the rate
    limit and the request counters, so a benchmark can create thousands without spending the
    budget it measures. Balance and cap are not checked."""
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_SEED:
        raise invalid("count", f"count must be a whole number from 1 to {MAX_SEED} (got {count!r})")
    duration = body.get("duration", 10)
    fields = validate_create(
        {"description": "Seeded video", "imageUrl": "https://example.com/seed.jpg", "duration": duration}
    )
    state = sim(request)
    base = media_base(request)
    ids = [
        state.add_task(
            **{**fields, "title": f"Seeded video {index}"}, media_base=base, api_key=state.config.api_key
        ).id
        for index in range(count)
    ]
    return {"success": True, "ids": ids}


def _force(request: Request, task_id: str, status: str, message: str | None) -> dict[str, Any]:
    state = sim(request)
    task = find_task(state, task_id)
    now = state.now()
    current = task.status_at(now)[0]
    if current in TERMINAL:
        raise ApiError(409, "INVALID_STATE", f"Video task {task_id} is already {current}")
    task.force(now, status, message)
    # Announce now rather than on the next tick, so a test sees the webhook promptly.
    sender(request).poll()
    return ok(task.detail(state.now(), media_base(request)))


def parse_fault(body: dict[str, Any]) -> Fault:
    """Check a ``POST /_sim/faults`` body and build the :class:`Fault` it describes."""
    method = body.get("method")
    path = body.get("path")
    if not isinstance(method, str) or not method:
        raise invalid("method", f"method must be an HTTP method (got {method!r})")
    if not isinstance(path, str) or not path.startswith("/"):
        raise invalid("path", f"path must be a route template like /api/v1/videos/{{id}} (got {path!r})")
    for name, types in _FAULT_FIELDS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise invalid(name, f"{name} has the wrong type (got {value!r})")
    times = body.get("times", 1)
    if times is None or times < 1:
        raise invalid("times", f"times must be at least 1 (got {times!r})")
    return Fault(
        method=method.upper(),
        path=path,
        times=times,
        status=body.get("status"),
        retry_after=body.get("retry_after"),
        after_commit=bool(body.get("after_commit", False)),
        drop_connection=bool(body.get("drop_connection", False)),
        delay_seconds=float(body.get("delay_seconds") or 0.0),
        commit_delay_seconds=float(body.get("commit_delay_seconds") or 0.0),
        body=body.get("body"),
        code=body.get("code"),
        message=body.get("message"),
    )
