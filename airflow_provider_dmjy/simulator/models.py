"""The simulator's records: video tasks (with their render timing), templates, faults, deliveries.

Simulator decisions (the vendor's page is silent on these):

- A task's status is derived from the simulator clock at the moment it is read, from the
  ``queue_seconds``/``render_seconds`` in force when the task was created; no background tick is
  needed for correctness (the tick only sends webhooks).
- A task that fails at random fails at ``render_seconds`` with its progress frozen at 99; a forced
  failure freezes the progress reached at that moment.
- A task forced after it had already finished on its own keeps its own ending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

USER_ID = "user_sim"
DEFAULT_FAILURE_MESSAGE = "Rendering failed: the product image could not be processed"
TERMINAL = ("completed", "failed")
STATUSES = ("pending", "processing", *TERMINAL)


def iso(ts: float) -> str:
    """Format a POSIX timestamp as ISO-8601 UTC with a ``Z`` suffix, to the second like the vendor."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Task:
    """A video task; ``status_at`` derives its visible status from the clock."""

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
    forced_status: str | None = None
    forced_at: float = 0.0
    forced_progress: int = 0
    error_message: str | None = None
    deleted: bool = False
    notified: bool = False

    def _natural(self, now: float) -> tuple[str, int, float]:
        elapsed = now - self.created_at
        if elapsed >= self.render_seconds:
            status = "failed" if self.will_fail else "completed"
            return status, 99 if self.will_fail else 100, self.created_at + self.render_seconds
        if elapsed < self.queue_seconds:
            return "pending", 0, self.created_at
        span = self.render_seconds - self.queue_seconds
        progress = min(99, int(99 * (elapsed - self.queue_seconds) / span)) if span > 0 else 99
        return "processing", progress, now

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
