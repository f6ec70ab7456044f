"""The triggerer-side wait for a DMJY video render: poll until it is final, then fire one event.

Event payloads (JSON-serialisable dicts; ``status`` is one of the ``EVENT_*`` constants; a task
dict is ``Video.to_dict()``, the vendor's fields, which the resumed task reads back with
:meth:`~airflow_provider_dmjy.client.models.Video.from_api`):

- ``{"status": "completed", "video_id": id, "video": <task dict>}``
- ``{"status": "failed", "video_id": id, "video": <task dict>, "message": <vendor errorMessage>}``
- ``{"status": "timeout", "video_id": id, "video": <last task dict or None>, "message": ...}``
- ``{"status": "error", "video_id": id, "message": str(error), "error_type": <exception class name>}``
  for an error no retry can fix (auth, not found, permission, daily cap, ...).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_dmjy.client.backoff import Backoff
from airflow_provider_dmjy.client.models import Video, VideoStatus
from airflow_provider_dmjy.exceptions import (
    DmjyError,
    DmjyNotFoundError,
    DmjyWaitTimeoutError,
)
from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook
from airflow_provider_dmjy.utils.polling import DEFAULT_MAX_POLL_INTERVAL, DEFAULT_POLL_INTERVAL, PollSchedule

__all__ = [
    "EVENT_COMPLETED",
    "EVENT_ERROR",
    "EVENT_FAILED",
    "EVENT_TIMEOUT",
    "DmjyVideoTrigger",
]

EVENT_COMPLETED = VideoStatus.COMPLETED.value
"""The render finished; ``video`` is the completed task."""
EVENT_FAILED = VideoStatus.FAILED.value
"""The render ended ``failed``; ``message`` is the vendor's ``errorMessage``."""
EVENT_TIMEOUT = "timeout"
"""The deadline passed first; ``video`` is the last task seen (or None)."""
EVENT_ERROR = "error"
"""A non-retryable API error ended the wait; ``error_type`` names the exception class."""


class DmjyVideoTrigger(BaseTrigger):
    """Wait in the triggerer until video task ``video_id`` is ``completed`` or ``failed``.

    Polls with the adaptive :class:`~airflow_provider_dmjy.utils.polling.PollSchedule` (near the
    estimated finish, from ``poll_interval / 4`` right at it up to ``max_poll_interval``) over one
    HTTP session shared with every other trigger of the connection. Transient API errors (5xx, 429, resets)
    never end the wait: they are logged and polled again after an exponential backoff.

    ``cleanup()`` (run on every exit, including a triggerer restart or reassignment) cancels
    nothing. Only ``on_kill()`` deletes the remote task, and only with ``cancel_on_kill=True``:
    Airflow >= 3.3 calls it when a user marks the deferred task failed or success, or clears it.
    On older Airflow the triggerer never calls ``on_kill``, so a deferred task killed by a user
    leaves its render running there.

    :param video_id: the video task to wait for.
    :param dmjy_conn_id: the ``dmjy`` connection.
    :param deadline: absolute epoch seconds (``time.time()``) after which a ``timeout`` event
        fires; ``None`` waits without limit.
    :param poll_interval: the usual shortest gap between two checks, in seconds (as short as
        ``poll_interval / 4`` right at an estimated finish).
    :param max_poll_interval: the longest gap between two checks, in seconds.
    :param cancel_on_kill: delete the remote task (stopping its render) from ``on_kill()``.
    """

    #: How long ``on_kill`` may spend deleting the task: Airflow bounds it too (30 s by default),
    #: and a clear message of our own beats being cut off by the framework.
    on_kill_timeout: float = 20.0

    def __init__(
        self,
        video_id: str,
        dmjy_conn_id: str = DmjyAsyncHook.default_conn_name,
        deadline: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = DEFAULT_MAX_POLL_INTERVAL,
        cancel_on_kill: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger is untyped
        self.video_id = video_id
        self.dmjy_conn_id = dmjy_conn_id
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the constructor's keyword arguments (primitives only)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "video_id": self.video_id,
                "dmjy_conn_id": self.dmjy_conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the video is final, the deadline passes or a non-retryable error; one event."""
        started = time.monotonic()
        self.log.info(
            "Waiting for DMJY video %s (connection %s, %s)",
            self.video_id,
            self.dmjy_conn_id,
            "no deadline" if self.deadline is None else f"deadline in {self.deadline - time.time():.0f} s",
        )
        try:
            # One session for the whole wait, shared by all triggers of the connection in this loop.
            async with DmjyAsyncHook(self.dmjy_conn_id) as hook:
                payload = await self._wait(hook, started)
        except DmjyError as error:  # an unusable connection (missing key, bad extra): no retry helps
            payload = self._error_payload(error)
        self.log.info(
            "DMJY video %s wait ended: %s after %.1f s",
            self.video_id,
            payload["status"],
            time.monotonic() - started,
        )
        # Yielded after the session is released: the triggerer may not resume this generator soon.
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]  # untyped in Airflow

    async def _wait(self, hook: DmjyAsyncHook, started: float) -> dict[str, Any]:
        schedule = PollSchedule(self.poll_interval, self.max_poll_interval)
        video: Video | None = None
        last_error: DmjyError | None = None
        # Transient errors slow the polls down; a success resets the pace.
        backoff = Backoff(self.poll_interval, self.max_poll_interval)
        # The deferring task checked the video a moment ago, so the first look waits one interval.
        # An event fired within seconds of the deferral would also race Airflow's bookkeeping of the
        # deferring worker: the scheduler can then fail the resumed task ("changed externally").
        first_delay = self.poll_interval
        if self.deadline is not None:
            first_delay = max(0.0, min(first_delay, self.deadline - time.time()))
        await asyncio.sleep(first_delay)
        while True:
            try:
                video = Video.from_api(await hook.get_video(self.video_id))
            except DmjyError as error:
                if not error.retryable:
                    return self._error_payload(error)
                # The hook already retried a few times; the wait goes on, only slower.
                last_error = error
                delay = backoff.next_delay(error)
                self.log.warning(
                    "DMJY video %s: transient error, polling again in %.1f s: %s", self.video_id, delay, error
                )
            else:
                last_error = None
                backoff.reset()
                if video.status is VideoStatus.COMPLETED:
                    return {"status": EVENT_COMPLETED, "video_id": self.video_id, "video": video.to_dict()}
                if video.status is VideoStatus.FAILED:
                    return {
                        "status": EVENT_FAILED,
                        "video_id": self.video_id,
                        "video": video.to_dict(),
                        "message": video.error_message,
                    }
                if video.status is None:
                    self.log.warning(
                        "DMJY video %s has an unknown status %r; waiting on",
                        self.video_id,
                        video.raw.get("status"),
                    )
                delay = schedule.next_delay(video.status, video.progress)
                self.log.debug(
                    "DMJY video %s: %s, %s%%, next check in %.1f s",
                    self.video_id,
                    video.status,
                    video.progress,
                    delay,
                )
            if self.deadline is not None:
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    # The check above ran at (or after) the deadline: it was the last look.
                    return self._timeout_payload(video, last_error, time.monotonic() - started)
                delay = min(delay, remaining)
            await asyncio.sleep(delay)

    def _error_payload(self, error: DmjyError) -> dict[str, Any]:
        self.log.error("DMJY video %s: %s", self.video_id, error)
        return {
            "status": EVENT_ERROR,
            "video_id": self.video_id,
            "message": str(error),
            "error_type": type(error).__name__,
        }

    def _timeout_payload(
        self, video: Video | None, last_error: DmjyError | None, waited: float
    ) -> dict[str, Any]:
        message = str(DmjyWaitTimeoutError(self.video_id, video.status if video else None, waited))
        if last_error is not None:
            message += f" (last check failed: {last_error})"
        return {
            "status": EVENT_TIMEOUT,
            "video_id": self.video_id,
            "video": video.to_dict() if video else None,
            "message": message,
        }

    async def on_kill(self) -> None:
        """With ``cancel_on_kill``, delete the remote task if it is still rendering (Airflow >= 3.3).

        Airflow calls this only when a user marks the deferred task failed or success or clears it;
        never on a triggerer restart, a reassignment, a trigger timeout or a normal finish (the
        trigger's own deadline only fires a ``timeout`` event; the resumed task decides). The status
        is read first: a video that already finished, or whose status cannot be read, is left
        alone, since deleting it would throw away a paid, usable result (deleting refunds nothing).
        """
        if not self.cancel_on_kill:
            self.log.info("Task killed; DMJY video %s left running (cancel_on_kill=False)", self.video_id)
            return
        try:
            await asyncio.wait_for(self._cancel(), timeout=self.on_kill_timeout)
        except asyncio.TimeoutError:
            self.log.warning(
                "Could not delete DMJY video %s within %.0f s; it may still be rendering",
                self.video_id,
                self.on_kill_timeout,
            )
        except DmjyError as error:  # reading the status or deleting failed: nothing was deleted
            self.log.warning(
                "Could not cancel DMJY video %s; it may still be rendering: %s", self.video_id, error
            )

    async def _cancel(self) -> None:
        # run() has already left its ``async with`` (it was cancelled first): open a hook of our own.
        async with DmjyAsyncHook(self.dmjy_conn_id) as hook:
            try:
                video = Video.from_api(await hook.get_video(self.video_id))
            except DmjyNotFoundError:
                self.log.info("Task killed; DMJY video %s is already gone", self.video_id)
                return
            if video.status not in VideoStatus.ACTIVE:
                self.log.info(
                    "Task killed; DMJY video %s is %s, nothing to cancel", self.video_id, video.status
                )
                return
            try:
                await hook.delete_video(self.video_id)
            except DmjyNotFoundError:
                self.log.info("Task killed; DMJY video %s is already gone", self.video_id)
                return
        self.log.info("Task killed; deleted DMJY video %s to stop its render (cancel_on_kill)", self.video_id)
