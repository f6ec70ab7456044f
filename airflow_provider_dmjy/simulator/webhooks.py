"""Webhook delivery from the simulator: signed like the vendor, sent from background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from typing import Any

import aiohttp

from airflow_provider_dmjy.simulator.models import USER_ID, Delivery, Task
from airflow_provider_dmjy.simulator.state import SimState

log = logging.getLogger("airflow_provider_dmjy.simulator")

TICK_SECONDS = 0.05
ATTEMPT_TIMEOUT_SECONDS = 5.0
#: Sleep before the 2nd and 3rd attempts.
BACKOFF_SECONDS = (0.2, 0.5)


def compact_json(body: dict[str, Any]) -> bytes:
    """Serialise exactly as JavaScript's ``JSON.stringify`` would (compact, key order, raw UTF-8)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(secret: str, payload: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``payload`` keyed with the API secret."""
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).hexdigest()


class WebhookSender:
    """Finds tasks that finished and sends account events; every delivery is logged in the state."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._session: aiohttp.ClientSession | None = None
        self._tick: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP session and start the tick loop (called from the app lifespan)."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_SECONDS))
        self._tick = asyncio.create_task(self._tick_loop())

    async def close(self) -> None:
        """Stop the tick loop, abandon in-flight deliveries and close the session."""
        if self._tick is not None:
            self._tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick
        self.cancel_inflight()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def cancel_inflight(self) -> None:
        """Cancel deliveries still running (``/_sim/reset`` must not leak old events)."""
        for task in list(self._inflight):
            task.cancel()

    async def _tick_loop(self) -> None:
        while True:
            try:
                self.poll()
            except Exception:  # the loop must survive a bug in one pass
                log.exception("webhook tick failed")
            await asyncio.sleep(TICK_SECONDS)

    def poll(self) -> None:
        """Send ``task.*`` events for tasks that have newly reached a terminal status."""
        for task in self.state.newly_finished():
            if task.callback_url:
                self.send(task.callback_url, *self.task_event(task))

    def task_event(self, task: Task) -> tuple[str, dict[str, Any]]:
        """The event name and data for a finished task."""
        now = self.state.now()
        status = task.status_at(now)[0]
        if status == "completed":
            return "task.completed", {
                "taskId": task.id,
                "status": status,
                "videoUrl": task.video_url(task.media_base),
                "thumbnailUrl": task.thumbnail_url(task.media_base),
                "duration": task.duration,
            }
        return "task.failed", {"taskId": task.id, "status": status, "errorMessage": task.message_at(now)}

    def low_balance(self, callback_url: str | None) -> None:
        """Send ``account.low_balance`` to the create's callback or the account-level URL."""
        balance, threshold = self.state.balance, self.state.config.low_balance_threshold
        self._account_event(
            callback_url,
            "account.low_balance",
            {
                "userId": USER_ID,
                "currentBalance": balance,
                "threshold": threshold,
                "message": f"关联账号算力余额不足,当前余额: {balance},预警阈值: {threshold}",
            },
        )

    def insufficient_balance(self, callback_url: str | None, required: int) -> None:
        """Send ``account.insufficient_balance`` for a create refused for its cost."""
        balance = self.state.balance
        self._account_event(
            callback_url,
            "account.insufficient_balance",
            {
                "userId": USER_ID,
                "currentBalance": balance,
                "required": required,
                "message": f"关联账号算力余额不足,当前余额: {balance},所需算力: {required}",
            },
        )

    def _account_event(self, callback_url: str | None, event: str, data: dict[str, Any]) -> None:
        url = callback_url or self.state.config.webhook_url
        if url:
            self.send(url, event, data)

    def send(self, url: str, event: str, data: dict[str, Any]) -> Delivery:
        """Queue one delivery of ``event`` to ``url``; returns its log record."""
        timestamp = int(self.state.now())
        payload = compact_json({"event": event, "timestamp": timestamp, "data": data})
        delivery = Delivery(
            url=url,
            event=event,
            body=payload.decode("utf-8"),
            signature=sign(self.state.config.api_secret, payload),
            timestamp=timestamp,
        )
        self.state.deliveries.append(delivery)
        task = asyncio.get_running_loop().create_task(self._deliver(delivery, payload))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return delivery

    async def _deliver(self, delivery: Delivery, payload: bytes) -> None:
        assert self._session is not None, "WebhookSender.start() was not called"
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Signature": delivery.signature,
            "X-Webhook-Event": delivery.event,
            "X-Webhook-Timestamp": str(delivery.timestamp),
        }
        for attempt in range(1 + len(BACKOFF_SECONDS)):
            if attempt:
                await asyncio.sleep(BACKOFF_SECONDS[attempt - 1])
            delivery.attempts = attempt + 1
            try:
                async with self._session.post(delivery.url, data=payload, headers=headers) as resp:
                    await resp.read()
                    delivery.last_status = resp.status
                    delivery.last_error = None
                    if 200 <= resp.status < 300:
                        delivery.delivered = True
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                delivery.last_error = f"{type(exc).__name__}: {exc}"
            log.info("webhook %s to %s attempt %d failed", delivery.event, delivery.url, attempt + 1)
