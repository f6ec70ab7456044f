"""In-memory state of the simulator.

Everything lives on the server's single event loop, so plain data structures are enough: no handler
awaits between reading and writing the state it changes.

Simulator decisions (the vendor's page is silent on these):

- A task's status is derived from the simulator clock at the moment it is read, from the
  ``queue_seconds``/``render_seconds`` in force when the task was created; no background tick is
  needed for correctness (the tick only sends webhooks).
- Deleting a task does not refund its credits, and a deleted task that had not finished never
  finishes (no webhook is sent for it).
- A task that fails at random fails at ``render_seconds`` with its progress frozen at 99; a forced
  failure freezes the progress reached at that moment.
"""

from __future__ import annotations

import dataclasses
import math
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from airflow_provider_dmjy.simulator.config import SimulatorConfig

USER_ID = "user_sim"
DEFAULT_FAILURE_MESSAGE = "Rendering failed: the product image could not be processed"
TERMINAL = ("completed", "failed")
#: Version of the ``--state-file`` document; a file of another format is refused, not guessed at.
STATE_FORMAT = 1


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
    """A queued fault (see ``POST /_sim/faults``)."""

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


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class SimState:
    """All mutable state; ``reset`` brings it back to the start-up configuration."""

    startup: SimulatorConfig
    config: SimulatorConfig = field(init=False)
    balance: int = field(init=False)
    rng: random.Random = field(init=False)
    tasks: dict[str, Task] = field(init=False)
    templates: dict[str, Template] = field(init=False)
    charges: list[tuple[float, int]] = field(init=False)
    requests: dict[str, int] = field(init=False)
    faults: list[Fault] = field(init=False)
    deliveries: list[Delivery] = field(init=False)
    daily_creates: dict[tuple[str, str], int] = field(init=False)
    buckets: dict[str, _Bucket] = field(init=False)
    plan_expires_at: str = field(init=False)

    def __post_init__(self) -> None:
        # A private copy: the caller may keep mutating the object it passed in.
        self.startup = self.startup.copy()
        self.reset()

    def reset(self) -> None:
        """Forget everything and restore the start-up configuration and balance."""
        self.config = self.startup.copy()
        self.balance = self.config.balance
        self.rng = random.Random(self.config.seed)
        self.tasks = {}
        self.templates = {}
        self.charges = []
        self.requests = {}
        self.faults = []
        self.deliveries = []
        self.daily_creates = {}
        self.buckets = {}
        self.plan_expires_at = plan_expiry(self.now())

    # -- clock -------------------------------------------------------------------------------------
    def now(self) -> float:
        """The simulator clock: host time plus ``clock_offset_seconds``."""
        return time.time() + self.config.clock_offset_seconds

    # -- counters and limits -----------------------------------------------------------------------
    def count_request(self, key: str) -> None:
        """Count one request under ``"METHOD /template"``."""
        self.requests[key] = self.requests.get(key, 0) + 1

    def take_token(self, api_key: str) -> float | None:
        """Token bucket per key; return ``None`` when allowed, else the seconds to wait."""
        rate = self.config.rate_limit
        if rate is None:
            return None
        burst = max(1.0, rate)
        mono = time.monotonic()
        bucket = self.buckets.get(api_key)
        if bucket is None:
            bucket = self.buckets[api_key] = _Bucket(tokens=burst, updated=mono)
        bucket.tokens = min(burst, bucket.tokens + (mono - bucket.updated) * rate)
        bucket.updated = mono
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / rate

    def day_key(self, api_key: str) -> tuple[str, str]:
        """The daily-cap counter key: the API key and the simulator-clock UTC date."""
        return api_key, datetime.fromtimestamp(self.now(), tz=timezone.utc).strftime("%Y-%m-%d")

    def cap_reached(self, api_key: str) -> bool:
        """True when the daily create cap of ``api_key`` is used up."""
        cap = self.config.daily_cap
        return cap is not None and self.daily_creates.get(self.day_key(api_key), 0) >= cap

    def usage(self) -> dict[str, int]:
        """Credits spent today and this month (simulator-clock UTC)."""
        now = datetime.fromtimestamp(self.now(), tz=timezone.utc)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        today = sum(c for t, c in self.charges if t >= day.timestamp())
        this_month = sum(c for t, c in self.charges if t >= month.timestamp())
        return {"today": today, "thisMonth": this_month}

    # -- tasks -------------------------------------------------------------------------------------
    def add_task(
        self,
        *,
        title: str,
        description: str,
        image_urls: list[str],
        duration: int,
        aspect_ratio: str,
        callback_url: str | None,
        media_base: str,
        api_key: str,
    ) -> Task:
        """Create a task, charge it and count it against the daily cap (checks are the caller's)."""
        now = self.now()
        task = Task(
            id="task_" + secrets.token_hex(6),
            title=title,
            description=description,
            image_urls=image_urls,
            duration=duration,
            aspect_ratio=aspect_ratio,
            callback_url=callback_url,
            media_base=media_base,
            created_at=now,
            queue_seconds=self.config.queue_seconds,
            render_seconds=self.config.render_seconds,
            will_fail=self.rng.random() < self.config.fail_rate,
        )
        self.tasks[task.id] = task
        cost = duration * self.config.cost_per_second
        self.balance -= cost
        self.charges.append((now, cost))
        day = self.day_key(api_key)
        self.daily_creates[day] = self.daily_creates.get(day, 0) + 1
        return task

    def force(self, task: Task, status: str, error_message: str | None = None) -> None:
        """Force ``task`` to a terminal ``status`` now."""
        now = self.now()
        task.forced_progress = task.status_at(now)[1]
        task.forced_status = status
        task.forced_at = now
        if status == "failed":
            task.error_message = error_message or DEFAULT_FAILURE_MESSAGE

    def visible_tasks(self) -> list[Task]:
        """Non-deleted tasks, newest first."""
        return sorted((t for t in self.tasks.values() if not t.deleted), key=lambda t: -t.created_at)

    def task_summary(self, task: Task, media_base: str) -> dict[str, Any]:
        """The list-item form of a task."""
        now = self.now()
        status, progress, updated = task.status_at(now)
        done = status == "completed"
        return {
            "id": task.id,
            "title": task.title,
            "status": status,
            "progress": progress,
            "duration": task.duration,
            "aspectRatio": task.aspect_ratio,
            "videoUrl": f"{media_base}/media/videos/{task.id}.mp4" if done else None,
            "thumbnailUrl": f"{media_base}/media/thumbnails/{task.id}.jpg" if done else None,
            "errorMessage": task.message_at(now),
            "createdAt": iso(task.created_at),
            "updatedAt": iso(updated),
        }

    def task_detail(self, task: Task, media_base: str) -> dict[str, Any]:
        """The ``GET /videos/{id}`` form of a task."""
        summary = self.task_summary(task, media_base)
        return {
            "id": task.id,
            "userId": USER_ID,
            "title": task.title,
            "imageUrl": task.image_urls[0],
            "description": task.description,
            "duration": task.duration,
            "aspectRatio": task.aspect_ratio,
            "status": summary["status"],
            "progress": summary["progress"],
            "videoUrl": summary["videoUrl"],
            "thumbnailUrl": summary["thumbnailUrl"],
            "productName": None,
            "errorMessage": summary["errorMessage"],
            "createdAt": summary["createdAt"],
            "updatedAt": summary["updatedAt"],
        }

    def newly_finished(self) -> list[Task]:
        """Tasks that reached a terminal status and have not been announced yet; marks them."""
        now = self.now()
        found = []
        for task in self.tasks.values():
            if task.deleted or task.notified:
                continue
            if task.status_at(now)[0] in TERMINAL:
                task.notified = True
                found.append(task)
        return found

    # -- templates ---------------------------------------------------------------------------------
    def add_template(
        self,
        *,
        user_id: str,
        name: str,
        image_url: str | None,
        description: str | None,
        product_name: str | None,
        price: str | None,
    ) -> Template:
        """Create a template."""
        tpl = Template(
            id="tpl_" + secrets.token_hex(6),
            user_id=user_id,
            name=name,
            image_url=image_url,
            description=description,
            product_name=product_name,
            price=price,
            created_at=self.now(),
        )
        self.templates[tpl.id] = tpl
        return tpl

    # -- persistence (``--state-file``) -------------------------------------------------------------
    def to_document(self) -> dict[str, Any]:
        """Everything a restarted simulator needs to answer for what came before, as JSON-able data.

        Configuration is not part of it (the command line decides that at every start), nor are
        queued faults and rate-limit buckets (they belong to the moment, not to the account).
        """
        version, internal, gauss = self.rng.getstate()
        return {
            "format": STATE_FORMAT,
            "balance": self.balance,
            "plan_expires_at": self.plan_expires_at,
            "rng": [version, list(internal), gauss],
            "tasks": [dataclasses.asdict(t) for t in self.tasks.values()],
            "templates": [dataclasses.asdict(t) for t in self.templates.values()],
            "charges": [[at, cost] for at, cost in self.charges],
            "requests": dict(self.requests),
            "daily_creates": [[key, day, count] for (key, day), count in self.daily_creates.items()],
            "deliveries": [dataclasses.asdict(d) for d in self.deliveries],
        }

    def restore(self, document: Any) -> None:
        """Replace the state with a :meth:`to_document` document.

        Raises ``ValueError``, ``KeyError`` or ``TypeError`` on a malformed document; the state is
        untouched in that case (everything is decoded before anything is assigned).
        """
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise ValueError(f"not a simulator state document of format {STATE_FORMAT}")
        version, internal, gauss = document["rng"]
        rng = random.Random()
        rng.setstate((version, tuple(internal), gauss))
        tasks = [_from_fields(Task, item) for item in document["tasks"]]
        templates = [_from_fields(Template, item) for item in document["templates"]]
        deliveries = [_from_fields(Delivery, item) for item in document["deliveries"]]
        charges = [(float(at), int(cost)) for at, cost in document["charges"]]
        requests = {str(k): int(v) for k, v in document["requests"].items()}
        daily = {(str(k), str(d)): int(n) for k, d, n in document["daily_creates"]}
        balance = int(document["balance"])
        plan_expires_at = str(document["plan_expires_at"])
        self.balance, self.plan_expires_at, self.rng = balance, plan_expires_at, rng
        self.tasks = {t.id: t for t in tasks}
        self.templates = {t.id: t for t in templates}
        self.deliveries, self.charges = deliveries, charges
        self.requests, self.daily_creates = requests, daily

    # -- control view ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The ``GET /_sim/state`` document."""
        now = self.now()
        return {
            "requests": dict(self.requests),
            "videos_created": len(self.tasks),
            "videos": {t.id: ("deleted" if t.deleted else t.status_at(now)[0]) for t in self.tasks.values()},
            "templates": {t.id: t.name for t in self.templates.values()},
            "balance": self.balance,
            "webhooks_sent": sum(1 for d in self.deliveries if d.delivered),
            "faults_pending": sum(f.times for f in self.faults),
            "daily_creates": {f"{k} {d}": n for (k, d), n in self.daily_creates.items()},
            "config": self.config.public_dict(),
        }


_Record = TypeVar("_Record", Task, Template, Delivery)


def _from_fields(cls: type[_Record], data: Any) -> _Record:
    """Rebuild a record from its ``asdict`` form; unknown keys are ignored, missing ones defaulted
    (so a file written by an older or newer simulator still loads when the core fields are there)."""
    if not isinstance(data, dict):
        raise TypeError(f"a {cls.__name__} must be an object (got {type(data).__name__})")
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in data.items() if name in names})


def total_pages(total: int, limit: int) -> int:
    """Pages needed for ``total`` items, ``limit`` per page (0 when there are none)."""
    return math.ceil(total / limit)


def plan_expiry(now: float) -> str:
    """End of the day one year after ``now``, the shape of the vendor's ``planExpiresAt``."""
    day = datetime.fromtimestamp(now, tz=timezone.utc) + timedelta(days=365)
    return day.strftime("%Y-%m-%dT23:59:59Z")
