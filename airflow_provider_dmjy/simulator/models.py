"""The simulator's records: video tasks (with their render timing), templates, faults, deliveries.

Simulator decisions (the vendor's page is silent on these):

- A task's status is derived from the simulator clock at the moment it is read, from the render
  plan drawn when it was created (:mod:`.profiles`); no background tick is needed for correctness
  (the tick only sends webhooks).
- A task that fails at random fails at ``render_seconds`` with its progress frozen at 99; a forced
  failure freezes the progress reached at that moment.
- A task deleted before it ended never ends (its ``ended_at`` stays ``None``).
- A task forced after it had already finished on its own keeps its own ending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_provider_dmjy.simulator.profiles import processing_progress

USER_ID = "user_sim"
DEFAULT_FAILURE_MESSAGE = "Rendering failed: the product image could not be processed"
TERMINAL = ("completed", "failed")
STATUSES = ("pending", "processing", *TERMINAL)


def iso(ts: float) -> str:
    """Format a POSIX timestamp as ISO-8601 UTC with a ``Z`` suffix, to the second like the vendor."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Task:
    """A video task; ``status_at`` derives its visible status from the clock.

    ``profile``, ``queue_seconds``, ``render_seconds``, ``stall_seconds`` and ``step_times`` are its
    :class:`~.profiles.RenderPlan`; ``status_requests`` counts the ``GET /videos/{id}`` it received.
    """

    id: str
    title: str
    description: str
    image_urls: list[str]
    duration: int
    aspect_ratio: str
    callback_url: str | None
    media_base: str
    created_at: float
    queue_seconds: float
    render_seconds: float
    will_fail: bool
    profile: str = "linear"
    stall_seconds: float = 0.0
    step_times: list[float] = field(default_factory=list)
    status_requests: int = 0
    forced_status: str | None = None
    forced_at: float = 0.0
    forced_progress: int = 0
    error_message: str | None = None
    deleted: bool = False
    deleted_at: float | None = None
    notified: bool = False

    def _natural(self, now: float) -> tuple[str, int, float]:
        # The end compared as an absolute time: at exactly the ``completed_at`` it reports, a task
        # has ended (``now - created_at`` may round below ``render_seconds``).
        ends_at = self.created_at + self.render_seconds
        if now >= ends_at:
            status = "failed" if self.will_fail else "completed"
            return status, 99 if self.will_fail else 100, ends_at
        elapsed = now - self.created_at
        if elapsed < self.queue_seconds:
            return "pending", 0, self.created_at
        ramp_end = self.render_seconds - self.stall_seconds
        return "processing", processing_progress(elapsed, self.queue_seconds, ramp_end, self.step_times), now

    def status_at(self, now: float) -> tuple[str, int, float]:
        """Return ``(status, progress, updated_at)`` as seen at simulator time ``now``."""
        if self.forced_status is not None and now >= self.forced_at:
            natural = self._natural(self.forced_at)
            if natural[0] in TERMINAL:
                # The task had already finished on its own before it was forced; history wins.
                return natural
            progress = 100 if self.forced_status == "completed" else self.forced_progress
            return self.forced_status, progress, self.forced_at
        return self._natural(now)

    def ended_at(self, now: float) -> float | None:
        """When the task became completed or failed (simulator clock), ``None`` while it has not.

        That moment is also the ``updatedAt`` its answers show from then on.
        """
        if self.deleted and self.deleted_at is None:
            return None  # deleted in a state file written before deletions were timed: unknown
        status, _, updated = self.status_at(now if self.deleted_at is None else min(now, self.deleted_at))
        return updated if status in TERMINAL else None

    def delete(self, now: float) -> None:
        """Delete the task at ``now``; one that had not ended never will."""
        self.deleted = True
        self.deleted_at = now

    def message_at(self, now: float) -> str | None:
        """Return the error message when the task is failed at ``now``."""
        if self.status_at(now)[0] != "failed":
            return None
        return self.error_message or DEFAULT_FAILURE_MESSAGE

    def force(self, now: float, status: str, error_message: str | None = None) -> None:
        """Force a terminal ``status`` from ``now`` on, freezing the progress reached."""
        self.forced_progress = self.status_at(now)[1]
        self.forced_status = status
        self.forced_at = now
        if status == "failed":
            self.error_message = error_message or DEFAULT_FAILURE_MESSAGE

    def video_url(self, media_base: str) -> str:
        """Where the simulator serves the finished video (see the media routes)."""
        return f"{media_base}/media/videos/{self.id}.mp4"

    def thumbnail_url(self, media_base: str) -> str:
        """Where the simulator serves the finished video's thumbnail."""
        return f"{media_base}/media/thumbnails/{self.id}.jpg"

    def summary(self, now: float, media_base: str) -> dict[str, Any]:
        """The list-item form (``GET /videos``) at ``now``, media under ``media_base``."""
        status, progress, updated = self.status_at(now)
        done = status == "completed"
        return {
            "id": self.id,
            "title": self.title,
            "status": status,
            "progress": progress,
            "duration": self.duration,
            "aspectRatio": self.aspect_ratio,
            "videoUrl": self.video_url(media_base) if done else None,
            "thumbnailUrl": self.thumbnail_url(media_base) if done else None,
            "errorMessage": self.message_at(now),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(updated),
        }

    def detail(self, now: float, media_base: str) -> dict[str, Any]:
        """The ``GET /videos/{id}`` form at ``now``, media under ``media_base``."""
        summary = self.summary(now, media_base)
        return {
            "id": self.id,
            "userId": USER_ID,
            "title": self.title,
            "imageUrl": self.image_urls[0],
            "description": self.description,
            "duration": self.duration,
            "aspectRatio": self.aspect_ratio,
            "status": summary["status"],
            "progress": summary["progress"],
            "videoUrl": summary["videoUrl"],
            "thumbnailUrl": summary["thumbnailUrl"],
            "productName": None,
            "errorMessage": summary["errorMessage"],
            "createdAt": summary["createdAt"],
            "updatedAt": summary["updatedAt"],
        }


@dataclass
class Template:
    """A product template."""

    id: str
    user_id: str
    name: str
    image_url: str | None
    description: str | None
    product_name: str | None
    price: str | None
    created_at: float

    def to_json(self) -> dict[str, Any]:
        """Render with the vendor's field names."""
        return {
            "id": self.id,
            "userId": self.user_id,
            "name": self.name,
            "imageUrl": self.image_url,
            "productPosterUrl": None,
            "description": self.description,
            "productName": self.product_name,
            "price": self.price,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
        }


@dataclass
class Fault:
    """A queued fault (see ``POST /_sim/faults`` and :mod:`.middleware`)."""

    method: str
    path: str
    times: int = 1
    status: int | None = None
    retry_after: float | None = None
    after_commit: bool = False
    drop_connection: bool = False
    delay_seconds: float = 0.0
    commit_delay_seconds: float = 0.0
    body: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass
class Delivery:
    """One webhook delivery and its outcome, as shown by ``GET /_sim/webhooks``."""

    url: str
    event: str
    body: str
    signature: str
    timestamp: int
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered: bool = False

    def to_json(self) -> dict[str, Any]:
        """Render for the control endpoint."""
        return {
            "url": self.url,
            "event": self.event,
            "body": self.body,
            "signature": self.signature,
            "timestamp": self.timestamp,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "delivered": self.delivered,
        }
