"""Event-driven scheduling on finished DMJY videos without a public webhook endpoint.

:class:`DmjyVideoEventTrigger` is a ``BaseEventTrigger`` for an ``AssetWatcher``: it polls the list
endpoint and fires one event per video that reached ``completed`` (or ``failed``, when asked), with
the same payload shape as a ``task.*`` webhook, so a DAG scheduled on ``dmjy://<conn>/videos`` works
with either source (read it with :func:`airflow_provider_dmjy.webhooks.event_payload`)::

    {"event": "task.completed", "timestamp": <updatedAt, epoch s>,
     "data": {"taskId", "status", "title", "videoUrl", "thumbnailUrl", "duration", "errorMessage",
              "createdAt", "updatedAt"},
     "dmjy": {"source": "poll", "conn_id": ..., "dedupe_key": "task.completed:<id>:<ts>"}}

**Cursor.** The vendor's own ``updatedAt`` (when the video finished, on the vendor's clock, so
host clock skew does not matter) plus the ids already announced within a look-back window: a video
is announced when its id is not in that set and it finished no earlier than ``watermark -
lookback_seconds``. The look-back absorbs listings that show a finish a little late and timestamps
that only have one-second resolution. On Airflow >= 3.3 the cursor is kept in the asset's state
store (in the metadata database), so a triggerer restart or a move to another triggerer neither
repeats a video nor misses one that finished while the trigger was down. It is saved *before* the
events are handed to the triggerer, so a crash in between loses those events rather than repeating
them. On Airflow < 3.3 there is no state store: the cursor lives in memory and a restarted trigger
starts from the videos finished at that moment, so nothing is announced twice, but videos that
finished while it was down are not announced (a webhook does not have this gap).

**First start.** With ``emit_existing=False`` (the default) the videos already finished when the
trigger first starts are taken as seen; with ``True`` they are announced too.

**Cost.** Each poll pages through the list (newest created first) and stops at videos created more
than ``scan_window_seconds`` ago: a render that takes longer than that is never announced. On
Airflow >= 3.3 every trigger of a connection shares one poll loop in the triggerer (shared streams);
each still keeps its own cursor and status filter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Hashable, Iterable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_dmjy.client.backoff import Backoff
from airflow_provider_dmjy.client.calls import PAGE_SIZE, PageWalker
from airflow_provider_dmjy.client.models import Video, VideoStatus, parse_vendor_time
from airflow_provider_dmjy.exceptions import DmjyError
from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook

__all__ = ["DmjyVideoEventTrigger", "VideoCursor"]

TERMINAL_STATUSES = tuple(sorted(status.value for status in VideoStatus.TERMINAL))
_MAX_BACKOFF_SECONDS = 300.0
_CURSOR_KEY_PREFIX = "dmjy_video_event_cursor"


def _finished_at(video: dict[str, Any]) -> float:
    return parse_vendor_time(video.get("updatedAt")) or parse_vendor_time(video.get("createdAt")) or 0.0


class VideoCursor:
    """Which finished videos were announced: a watermark plus the ids seen within the look-back.

    Its :meth:`to_json` form is what the asset state store holds.
    """

    def __init__(self, lookback_seconds: float, state: dict[str, Any] | None = None) -> None:
        self.lookback_seconds = lookback_seconds
        self.watermark: float | None = None
        self.seen: dict[str, float] = {}
        if state:
            watermark = state.get("watermark")
            self.watermark = float(watermark) if isinstance(watermark, (int, float)) else None
            seen = state.get("seen")
            if isinstance(seen, dict):
                self.seen = {str(k): float(v) for k, v in seen.items() if isinstance(v, (int, float))}

    def to_json(self) -> dict[str, Any]:
        """A JSON value for the state store."""
        return {"watermark": self.watermark, "seen": dict(self.seen)}

    def take_new(self, videos: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The videos not announced yet, oldest finish first; marks them announced."""
        floor = None if self.watermark is None else self.watermark - self.lookback_seconds
        fresh: dict[str, dict[str, Any]] = {}
        for video in videos:
            video_id = video.get("id")
            if not isinstance(video_id, str) or video_id in self.seen or video_id in fresh:
                continue
            if floor is not None and _finished_at(video) < floor:
                continue
            fresh[video_id] = video
        new = sorted(fresh.values(), key=lambda v: (_finished_at(v), str(v.get("id"))))
        for video in new:
            self.mark(video)
        self._prune()
        return new

    def mark(self, video: dict[str, Any]) -> None:
        """Record ``video`` as announced (or as already known)."""
        finished = _finished_at(video)
        self.seen[str(video["id"])] = finished
        self.watermark = finished if self.watermark is None else max(self.watermark, finished)

    def _prune(self) -> None:
        if self.watermark is None:
            return
        floor = self.watermark - self.lookback_seconds
        self.seen = {k: v for k, v in self.seen.items() if v >= floor}


class DmjyVideoEventTrigger(BaseEventTrigger):
    """Fire one event per DMJY video that finishes, for an ``AssetWatcher`` on ``dmjy://<conn>/videos``.

    Never announces a video twice, also across triggerer restarts (see the module docstring for the
    cursor and its limits on Airflow < 3.3).

    :param dmjy_conn_id: the ``dmjy`` connection.
    :param statuses: the final statuses to announce: ``["completed"]`` (default), ``["failed"]`` or both.
    :param poll_interval: seconds between two polls of the list endpoint.
    :param emit_existing: on the very first start, announce videos that had already finished
        (Airflow >= 3.3 only: without the state store every restart looks like a first start).
    :param lookback_seconds: how far behind the newest announced finish a late-listed video is
        still announced.
    :param scan_window_seconds: paging stops at videos created longer ago than this (the longest
        render that can be announced).
    """

    def __init__(
        self,
        dmjy_conn_id: str = DmjyAsyncHook.default_conn_name,
        statuses: Iterable[str] = (VideoStatus.COMPLETED.value,),
        poll_interval: float = 30.0,
        emit_existing: bool = False,
        lookback_seconds: float = 600.0,
        scan_window_seconds: float = 86400.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger is untyped
        self.dmjy_conn_id = dmjy_conn_id
        self.statuses = sorted(set(statuses))
        unknown = set(self.statuses) - set(TERMINAL_STATUSES)
        if not self.statuses or unknown:
            raise ValueError(f"statuses must be among {list(TERMINAL_STATUSES)} (got {sorted(statuses)})")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive (got {poll_interval!r})")
        self.poll_interval = poll_interval
        self.emit_existing = emit_existing
        self.lookback_seconds = lookback_seconds
        self.scan_window_seconds = scan_window_seconds
        self._cursor: VideoCursor | None = None
        self._store_usable = True

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and the constructor's keyword arguments (primitives only)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "dmjy_conn_id": self.dmjy_conn_id,
                "statuses": list(self.statuses),
                "poll_interval": self.poll_interval,
                "emit_existing": self.emit_existing,
                "lookback_seconds": self.lookback_seconds,
                "scan_window_seconds": self.scan_window_seconds,
            },
        )

    # -- standalone poll loop (Airflow < 3.3, or when the triggerer does not share) -----------------
    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per newly finished video."""
        status = self.statuses[0] if len(self.statuses) == 1 else None
        batches = _poll_batches(
            self.dmjy_conn_id, status, self.poll_interval, self.scan_window_seconds, self.log
        )
        async for event in self._events(batches):
            yield event

    # -- Airflow >= 3.3: one poll loop per connection, shared by every trigger of it -----------------
    def shared_stream_key(self) -> Hashable | None:
        """Triggers of the same connection share one poll (their cursors stay their own)."""
        return ("dmjy-video-events", self.dmjy_conn_id)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The shared poll: every poll's finished videos (any final status) as one raw event."""
        log = logging.getLogger(f"{cls.__module__}.{cls.__qualname__}")
        async for batch in _poll_batches(
            kwargs.get("dmjy_conn_id", DmjyAsyncHook.default_conn_name),
            None,
            float(kwargs.get("poll_interval", 30.0)),
            float(kwargs.get("scan_window_seconds", 86400.0)),
            log,
        ):
            yield batch

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This trigger's events from the shared polls (own status filter and cursor)."""
        async for event in self._events(shared_stream):
            yield event

    # -- shared by both paths ------------------------------------------------------------------------
    async def _events(self, batches: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[TriggerEvent]:
        async for batch in batches:
            videos = [v for v in batch if v.get("status") in self.statuses]
            cursor = await self._load_cursor()
            if cursor is None:  # very first start, nothing stored
                cursor = VideoCursor(self.lookback_seconds)
                # Without a store every restart is a "first start": announcing the existing videos
                # then would repeat them, so emit_existing needs Airflow >= 3.3.
                if not self.emit_existing or self._store() is None:
                    for video in videos:
                        cursor.mark(video)
                    self.log.info(
                        "DMJY video events (%s): starting after %d already finished video(s)",
                        self.dmjy_conn_id,
                        len(videos),
                    )
                    self._cursor = cursor
                    await self._save_cursor(cursor)
                    continue
                self._cursor = cursor
            new = cursor.take_new(videos)
            if not new:
                continue
            # Saved before the events leave: a crash in between loses them instead of repeating them.
            await self._save_cursor(cursor)
            for video in new:
                yield TriggerEvent(self.event_payload(video))  # type: ignore[no-untyped-call]

    def event_payload(self, video: dict[str, Any]) -> dict[str, Any]:
        """The webhook-shaped payload for a finished ``video`` (a list item)."""
        status = video.get("status")
        event = f"task.{status}"
        timestamp = int(_finished_at(video))
        data = {
            "taskId": video.get("id"),
            "status": status,
            "title": video.get("title"),
            "videoUrl": video.get("videoUrl"),
            "thumbnailUrl": video.get("thumbnailUrl"),
            "duration": video.get("duration"),
            "errorMessage": video.get("errorMessage"),
            "createdAt": video.get("createdAt"),
            "updatedAt": video.get("updatedAt"),
        }
        return {
            "event": event,
            "timestamp": timestamp,
            "data": data,
            "dmjy": {
                "source": "poll",
                "conn_id": self.dmjy_conn_id,
                "dedupe_key": f"{event}:{video.get('id')}:{timestamp}",
            },
        }

    # -- cursor persistence --------------------------------------------------------------------------
    @property
    def cursor_key(self) -> str:
        """The state-store key of this trigger's cursor (one per status filter)."""
        return f"{_CURSOR_KEY_PREFIX}:{','.join(self.statuses)}"

    def _store(self) -> Any | None:
        # Injected by the Airflow >= 3.3 triggerer for AssetWatcher triggers; absent before.
        store = getattr(self, "asset_state_store", None)
        if store is None and self._store_usable:
            self._store_usable = False
            self.log.info(
                "No asset state store (Airflow < 3.3): the DMJY video cursor is kept in memory, so videos "
                "that finish while this trigger is not running are not announced"
            )
        return store if self._store_usable else None

    async def _load_cursor(self) -> VideoCursor | None:
        if self._cursor is not None:
            return self._cursor
        store = self._store()
        if store is None:
            return None
        try:
            state = await store.aget(self.cursor_key)
        except Exception as error:  # e.g. a trigger watching several assets: no single state
            self._disable_store(error)
            return None
        if isinstance(state, dict):
            self._cursor = VideoCursor(self.lookback_seconds, state)
            self.log.info(
                "DMJY video events (%s): resuming after %d announced video(s)",
                self.dmjy_conn_id,
                len(self._cursor.seen),
            )
        return self._cursor

    async def _save_cursor(self, cursor: VideoCursor) -> None:
        store = self._store()
        if store is None:
            return
        try:
            await store.aset(self.cursor_key, cursor.to_json())
        except Exception as error:
            self._disable_store(error)

    def _disable_store(self, error: Exception) -> None:
        self._store_usable = False
        self.log.warning(
            "The asset state store is unusable for the DMJY video cursor (%s); keeping it in memory", error
        )


async def _poll_batches(
    conn_id: str, status: str | None, poll_interval: float, scan_window: float, log: Any
) -> AsyncIterator[list[dict[str, Any]]]:
    """Forever: the finished videos of one poll (``status`` or any final status), then a pause.

    API errors never end the loop (a watcher must outlive an outage or a fixed connection): they are
    logged and the next poll waits longer, up to five minutes.
    """
    # The first failure waits up to two poll intervals, every further one up to twice as long.
    backoff = Backoff(2 * poll_interval, _MAX_BACKOFF_SECONDS)
    while True:
        try:
            # One HTTP session for as long as polls succeed, shared with the connection's other triggers.
            async with DmjyAsyncHook(conn_id) as hook:
                while True:
                    batch = await _scan(hook, status, time.time() - scan_window)
                    backoff.reset()
                    yield batch
                    await asyncio.sleep(poll_interval)
        except DmjyError as error:
            delay = backoff.next_delay(error)
            # An error no retry fixes (a revoked key, say) is logged louder: it needs a person.
            level = logging.WARNING if error.retryable else logging.ERROR
            log.log(
                level, "DMJY video events (%s): poll failed, retrying in %.1f s: %s", conn_id, delay, error
            )
            await asyncio.sleep(delay)


async def _scan(hook: DmjyAsyncHook, status: str | None, created_after: float) -> list[dict[str, Any]]:
    """Finished videos created after ``created_after``, paging newest first until older ones.

    The client's page walk (own page counter, each id once, a page cap) ends the scan whatever the
    server claims about its pages.
    """
    found: list[dict[str, Any]] = []
    walker = PageWalker("tasks")
    while (page := walker.next_page) is not None:
        for video in walker.take(await hook.list_videos(page=page, limit=PAGE_SIZE, status=status)):
            created = parse_vendor_time(video.get("createdAt"))
            if created is not None and created < created_after:
                return found
            if Video.from_api(video).status in VideoStatus.TERMINAL:
                found.append(video)
    return found
