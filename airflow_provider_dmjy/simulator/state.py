"""In-memory state of the simulator: the account, its tasks and templates, counters and limits.

Everything lives on the server's single event loop, so plain data structures are enough: no handler
awaits between reading and writing the state it changes. The records themselves (and how a task's
status follows the clock) are in :mod:`.models`; the ``--state-file`` document in :mod:`.persistence`.

Simulator decisions (the vendor's page is silent on these):

- Deleting a task does not refund its credits, and a deleted task that had not finished never
  finishes (no webhook is sent for it).
- The daily cap and usage count by the simulator clock's UTC date.
- Render plans are drawn from ``render_rng``, a stream apart from the fail draws of ``rng``
  (both seeded from ``--seed``), so the profile does not change which renders fail.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_dmjy.simulator.config import SimulatorConfig
from airflow_provider_dmjy.simulator.models import TERMINAL, Delivery, Fault, Task, Template
from airflow_provider_dmjy.simulator.profiles import draw_plan


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
    render_rng: random.Random = field(init=False)
    tasks: dict[str, Task] = field(init=False)
    templates: dict[str, Template] = field(init=False)
    charges: list[tuple[float, int]] = field(init=False)
    requests: dict[str, int] = field(init=False)
    faults: list[Fault] = field(init=False)
    deliveries: list[Delivery] = field(init=False)
    daily_creates: dict[tuple[str, str], int] = field(init=False)
    buckets: dict[str, _Bucket] = field(init=False)
    rate_limited: int = field(init=False)
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
        self.render_rng = render_stream(self.config.seed)
        self.tasks = {}
        self.templates = {}
        self.charges = []
        self.requests = {}
        self.faults = []
        self.deliveries = []
        self.daily_creates = {}
        self.buckets = {}
        self.rate_limited = 0
        self.plan_expires_at = plan_expiry(self.now())

    # -- clock -------------------------------------------------------------------------------------
    def now(self) -> float:
        """The simulator clock: host time plus ``clock_offset_seconds``."""
        return time.time() + self.config.clock_offset_seconds

    # -- counters and limits -----------------------------------------------------------------------
    def count_request(self, key: str) -> None:
        """Count one request under ``"METHOD /template"``."""
        self.requests[key] = self.requests.get(key, 0) + 1

    def count_status_request(self, task_id: str) -> None:
        """Count one ``GET /videos/{id}`` against its task (an unknown id is counted nowhere)."""
        task = self.tasks.get(task_id)
        if task is not None:
            task.status_requests += 1

    def take_token(self, api_key: str) -> float | None:
        """Token bucket per key; return ``None`` when allowed, else the seconds to wait (a refusal,
        counted in ``rate_limited``). The bucket holds ``rate_burst`` tokens, one second's worth
        (at least 1) unless set."""
        rate = self.config.rate_limit
        if rate is None:
            return None
        burst = self.config.rate_burst or max(1.0, rate)
        mono = time.monotonic()
        bucket = self.buckets.get(api_key)
        if bucket is None:
            bucket = self.buckets[api_key] = _Bucket(tokens=burst, updated=mono)
        bucket.tokens = min(burst, bucket.tokens + (mono - bucket.updated) * rate)
        bucket.updated = mono
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        self.rate_limited += 1
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
        config = self.config
        plan = draw_plan(config.render_profile, config.queue_seconds, config.render_seconds, self.render_rng)
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
            queue_seconds=plan.queue_seconds,
            render_seconds=plan.render_seconds,
            will_fail=self.rng.random() < config.fail_rate,
            profile=plan.profile,
            stall_seconds=plan.stall_seconds,
            step_times=list(plan.step_times),
        )
        self.tasks[task.id] = task
        cost = duration * config.cost_per_second
        self.balance -= cost
        self.charges.append((now, cost))
        day = self.day_key(api_key)
        self.daily_creates[day] = self.daily_creates.get(day, 0) + 1
        return task

    def visible_tasks(self) -> list[Task]:
        """Non-deleted tasks, newest first."""
        return sorted((t for t in self.tasks.values() if not t.deleted), key=lambda t: -t.created_at)

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

    # -- control view ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The ``GET /_sim/state`` document."""
        now = self.now()
        return {
            "requests": dict(self.requests),
            "rate_limited": self.rate_limited,
            "videos_created": len(self.tasks),
            "videos": {t.id: ("deleted" if t.deleted else t.status_at(now)[0]) for t in self.tasks.values()},
            "templates": {t.id: t.name for t in self.templates.values()},
            "balance": self.balance,
            "webhooks_sent": sum(1 for d in self.deliveries if d.delivered),
            "faults_pending": sum(f.times for f in self.faults),
            "daily_creates": {f"{k} {d}": n for (k, d), n in self.daily_creates.items()},
            "video_stats": {
                t.id: {
                    "status_requests": t.status_requests,
                    "completed_at": t.ended_at(now),
                    "profile": t.profile,
                }
                for t in self.tasks.values()
            },
            "config": self.config.public_dict(),
        }


def render_stream(seed: int | None) -> random.Random:
    """The random stream of render plans for ``seed`` (fresh entropy without one)."""
    return random.Random(None if seed is None else f"render-profile:{seed}")


def plan_expiry(now: float) -> str:
    """End of the day one year after ``now``, the shape of the vendor's ``planExpiresAt``."""
    day = datetime.fromtimestamp(now, tz=timezone.utc) + timedelta(days=365)
    return day.strftime("%Y-%m-%dT23:59:59Z")
